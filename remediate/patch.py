"""The patch: a unified diff for review in which every secret value is redacted, and the atomic apply.

The diff is safe to paste into a pull request or an agent's context: each value (and each form it is written in)
is replaced by ``[REDACTED:NAME]`` on every line, removed, added or context.

Applying writes each file atomically (temp file + rename, :mod:`scanner.fileio`); when one write fails, the files
already written are put back as they were, so a failed apply leaves the tree unchanged.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from remediate.plan_model import FileChange
from scanner.errors import UnleakError
from scanner.fileio import atomic_write_bytes

Writer = Callable[[Path, bytes], None]


def redact(text: str, redactions: Mapping[str, str]) -> str:
    """``text`` with every key of ``redactions`` replaced by its label, longest first (a value that contains
    another is redacted whole)."""
    for value in sorted(redactions, key=len, reverse=True):
        if value and value in text:
            text = text.replace(value, redactions[value])
    return text


def unified_diff(changes: Iterable[FileChange], redactions: Mapping[str, str]) -> str:
    """One ``git apply``-style unified diff over all changes, values redacted."""
    out: list[str] = []
    for c in changes:
        before = redact(c.before or "", redactions).splitlines(keepends=True)
        after = redact(c.after, redactions).splitlines(keepends=True)
        old_label = "/dev/null" if c.before is None else f"a/{c.path}"
        lines = list(difflib.unified_diff(before, after, old_label, f"b/{c.path}", n=2))
        if not lines:
            continue
        out.append(f"diff --git a/{c.path} b/{c.path}\n")
        if c.before is None:
            out.append("new file mode 100644\n")
        for line in lines:
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


class ApplyError(UnleakError):
    """Writing the rewritten files failed; the files written before were put back, except ``not_restored``."""

    def __init__(self, failure: str, restored: int, not_restored: Sequence[str] = ()) -> None:
        if not restored and not not_restored:
            message = f"{failure}; no file had been written yet, nothing changed"
        elif not not_restored:
            message = f"{failure}; the {restored} file(s) written before it were restored, nothing changed"
        else:
            message = (f"{failure}; could NOT restore {', '.join(not_restored)} (still rewritten)"
                       + (f", the other {restored} file(s) were restored" if restored else ""))
        super().__init__(message)
        self.failure = failure  # "could not write PATH (why)"
        self.restored = restored
        self.not_restored = list(not_restored)


@dataclass(frozen=True)
class Written:
    """A file :func:`apply` wrote, and the directories it had to create for it (a rollback removes them)."""

    change: FileChange
    created_dirs: tuple[Path, ...] = ()


def _restore(root: Path, done: Sequence[Written], write: Writer) -> list[str]:
    """Put ``done`` back; returns the paths that could not be restored (reported, never hidden)."""
    failed: list[str] = []
    for w in reversed(done):
        change = w.change
        target = root / change.path
        try:
            if change.before is None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(target)
                for d in w.created_dirs:
                    with contextlib.suppress(OSError):
                        d.rmdir()
            else:
                write(target, change.before.encode("utf-8"))
        except OSError:
            failed.append(change.path)
    return failed[::-1]  # in the order they were written


def apply(root: Path, changes: Sequence[FileChange], write: Writer | None = None) -> list[Written]:
    """Write every change, atomically per file, all-or-nothing over the set. Returns what was written (for
    :func:`rollback`). Raises :class:`ApplyError` after restoring the files when a write fails."""
    writer: Writer = write or atomic_write_bytes
    done: list[Written] = []
    for change in changes:
        target = root / change.path
        created: tuple[Path, ...] = ()
        try:
            if change.before is None:
                # Directories this write creates are removed again by a rollback (nearest last).
                created = tuple(d for d in (target.parent, *target.parent.parents) if not d.exists())
                target.parent.mkdir(parents=True, exist_ok=True)
            writer(target, change.after.encode("utf-8"))
        except BaseException as exc:
            not_restored = _restore(root, done, writer)
            if not isinstance(exc, OSError):
                raise  # interrupted: the files written so far were put back
            raise ApplyError(f"could not write {change.path} ({type(exc).__name__}: "
                             f"{exc.strerror or 'write failed'})", len(done) - len(not_restored),
                             not_restored) from None
        done.append(Written(change, created))
    return done


def rollback(root: Path, done: Sequence[Written], write: Writer | None = None) -> list[str]:
    """Undo :func:`apply`; returns paths that could not be restored."""
    return _restore(root, done, write or atomic_write_bytes)
