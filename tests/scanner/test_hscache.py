"""Compiled hyperscan databases are reused between runs, and a bad or unwritable cache only costs a compile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scanner import hscache

hyperscan = pytest.importorskip("hyperscan")

EXPRS = [b"password", b"ghp_[A-Za-z0-9]{36}", b"\\x2dus[0-9]"]
FLAGS = [hyperscan.HS_FLAG_CASELESS, 0, 0]
TEXT = b"x PASSWORD y ghp_" + b"a" * 36 + b" -us7"


def _matches(db: object) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    db.scan(TEXT, match_event_handler=lambda i, s, e, f, c: found.append((i, e)),  # type: ignore[attr-defined]
            scratch=hyperscan.Scratch(db))
    return sorted(found)


def _compiled() -> list[tuple[int, int]]:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=EXPRS, ids=[0, 1, 2], elements=3, flags=FLAGS)
    return _matches(db)


def test_a_database_is_compiled_once_and_then_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    first = hscache.block_database(EXPRS, FLAGS)
    stored = list(hscache.cache_dir().glob("*.db"))
    assert len(stored) == 1 and stored[0].stat().st_mode & 0o777 == 0o600
    assert str(hscache.cache_dir()).startswith(os.environ["XDG_DATA_HOME"])

    def no_compile(*_a: object, **_k: object) -> None:
        raise AssertionError("compiled again")

    want = _compiled()
    monkeypatch.setattr(hyperscan, "Database", no_compile)
    assert _matches(hscache.block_database(EXPRS, FLAGS)) == _matches(first) == want
    assert len(want) == 3


def test_other_patterns_or_flags_are_other_databases() -> None:
    hscache.block_database(EXPRS, FLAGS)
    other = hscache.block_database(EXPRS, [0, 0, 0])
    assert len(list(hscache.cache_dir().glob("*.db"))) == 2
    assert len(_matches(other)) == len(_compiled()) - 1  # PASSWORD no longer matches "password"


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "directory"])
def test_a_damaged_file_is_compiled_again(damage: str) -> None:
    want = _compiled()
    hscache.block_database(EXPRS, FLAGS)
    (path,) = hscache.cache_dir().glob("*.db")
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(bytes(b ^ 0x5A for b in data))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
        path.mkdir()
    assert _matches(hscache.block_database(EXPRS, FLAGS)) == want


def test_an_unwritable_cache_only_costs_a_compile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    assert _matches(hscache.block_database(EXPRS, FLAGS)) == _compiled()


def test_only_the_most_recent_databases_are_kept() -> None:
    for n in range(hscache.KEEP + 3):
        hscache.block_database([*EXPRS, f"word{n}".encode()], [*FLAGS, 0])
    assert len(list(hscache.cache_dir().glob("*.db"))) == hscache.KEEP


def test_the_databases_live_where_a_confined_agent_cannot_plant_one() -> None:
    """A planted database that matches nothing would blind every later scan: the directory is inside one that
    unleak's confinement denies, and it is made private (the vault refuses a data directory others can enter)."""
    from unleak import confine
    from unleak.userenv import data_dir

    assert hscache.cache_dir().parent == data_dir()
    assert any(hscache.cache_dir().is_relative_to(d) for d in confine.unleak_dirs())
    hscache.block_database(EXPRS, FLAGS)
    assert data_dir().stat().st_mode & 0o777 == 0o700
    assert hscache.cache_dir().stat().st_mode & 0o777 == 0o700
