"""The reviewable patch (values redacted on every line) and the all-or-nothing apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediate import patch
from remediate.plan_model import FileChange
from tests.fakes import github_pat


def test_diff_redacts_removed_added_and_context_lines() -> None:
    tok, other = github_pat(), github_pat()
    before = f'# {other}\nKEY = "{tok}"\nX = 1\n'
    after = f'# {other}\nKEY = os.environ["KEY"]\nX = "{tok}"\n'
    diff = patch.unified_diff([FileChange("a.py", before, after)], {tok: "[REDACTED:KEY]", other: "[REDACTED:O]"})
    assert tok not in diff and other not in diff
    assert '-KEY = "[REDACTED:KEY]"' in diff
    assert '+KEY = os.environ["KEY"]' in diff
    assert " # [REDACTED:O]" in diff
    assert diff.startswith("diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n")


def test_redact_longest_first() -> None:
    inner = "abcdef123456"
    outer = "postgres://u:" + inner + "@h"
    assert patch.redact(f"{outer} {inner}", {inner: "[I]", outer: "[O]"}) == "[O] [I]"


def test_new_file_and_missing_newline() -> None:
    diff = patch.unified_diff([FileChange(".env", None, "A=unleak://n/A\n"),
                               FileChange("b.txt", "x", "y")], {})
    assert "--- /dev/null\n+++ b/.env\n" in diff and "new file mode" in diff
    assert "\\ No newline at end of file" in diff


def test_unchanged_file_gives_no_diff() -> None:
    assert patch.unified_diff([FileChange("a", "same\n", "same\n")], {}) == ""


def test_apply_is_all_or_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old a\n")
    (tmp_path / "b.txt").write_text("old b\n")
    (tmp_path / "a.txt").chmod(0o640)
    changes = [FileChange("a.txt", "old a\n", "new a\n"), FileChange("new/c.txt", None, "c\n"),
               FileChange("b.txt", "old b\n", "new b\n")]
    calls: list[Path] = []

    def flaky(path: Path, data: bytes) -> None:
        calls.append(path)
        if path.name == "b.txt" and data == b"new b\n":
            raise PermissionError(13, "Permission denied")
        from scanner.fileio import atomic_write_bytes

        atomic_write_bytes(path, data)

    with pytest.raises(patch.ApplyError, match=r"could not write b\.txt.*restored, nothing changed"):
        patch.apply(tmp_path, changes, flaky)
    assert (tmp_path / "a.txt").read_text() == "old a\n"
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "b.txt").read_text() == "old b\n"
    assert not (tmp_path / "new").exists()


def test_apply_writes_and_rollback_restores(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old\n")
    changes = [FileChange("a.txt", "old\n", "new\n"), FileChange("d/e.txt", None, "e\n")]
    done = patch.apply(tmp_path, changes)
    assert (tmp_path / "a.txt").read_text() == "new\n" and (tmp_path / "d/e.txt").read_text() == "e\n"
    assert patch.rollback(tmp_path, done) == []
    assert (tmp_path / "a.txt").read_text() == "old\n" and not (tmp_path / "d").exists()
