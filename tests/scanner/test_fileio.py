"""Atomic writes: content, modes, no temp file left behind, a taken temp name is skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scanner import fileio


def test_write_keeps_the_mode_of_an_existing_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    target.chmod(0o640)
    fileio.atomic_write_text(target, "new ü")
    assert target.read_text(encoding="utf-8") == "new ü"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_new_file_follows_umask_or_the_given_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        fileio.atomic_write_bytes(tmp_path / "a", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o640
    fileio.atomic_write_bytes(tmp_path / "b", b"x", mode=0o600)
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o600


def test_a_failed_rename_removes_the_temp_file(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inside").write_text("keeps the directory non-empty")
    with pytest.raises(OSError):
        fileio.atomic_write_text(tmp_path / "dir", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


def test_a_taken_temp_name_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([b"\x00" * 6, b"\x00" * 6, b"\x01" * 6])
    monkeypatch.setattr(fileio.os, "urandom", lambda n: next(draws))
    taken = tmp_path / f".f.{'00' * 6}.tmp"
    taken.write_text("someone else's")
    fileio.atomic_write_text(tmp_path / "f", "mine")
    assert (tmp_path / "f").read_text() == "mine" and taken.read_text() == "someone else's"
