"""The raw history of ``unleak exposure``: per commit, the file versions it changes against its first parent
(``git log --raw``), and the commit list alone, started in the background."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from scanner.finding import CommitInfo
from scanner.git.proc import COMMIT_MARK, Background, _output, _stream


class RawChange(NamedTuple):
    path: str
    new_mode: str
    new_oid: str  # ZERO_OID when the path was deleted


@dataclass
class RawCommit:
    sha: str
    parents: list[str]
    info: CommitInfo
    timestamp: int  # committer time, for ordering across branches
    # (path, mode, new oid) per changed path: :class:`RawChange` as parsed, plain tuples when read from a cache
    changes: Sequence[tuple[str, str, str]] = ()


_RAW_FORMAT = f"--format={COMMIT_MARK}%H\x01%P\x01%an\x01%ae\x01%aI\x01%ct"
# Changes against the first parent (root commits against the empty tree), renames off: a moved file is a delete
# plus an add of the same blob.
_RAW_DIFF = ["--raw", "--no-abbrev", "--no-renames", "--root", "--diff-merges=first-parent"]
_WALK = ["--topo-order", "--reverse"]


def _commit_line(line: str) -> RawCommit:
    parts = line[len(COMMIT_MARK):].split("\x01")
    parts += [""] * (6 - len(parts))
    return RawCommit(sha=parts[0], parents=parts[1].split(), timestamp=int(parts[5] or 0),
                     info=CommitInfo(sha=parts[0], author=parts[2], email=parts[3], date=parts[4]))


def _raw_commits(lines: Iterator[str]) -> Iterator[RawCommit]:
    current: RawCommit | None = None
    changes: list[RawChange] = []
    for raw in lines:
        line = raw.rstrip("\n")
        if line.startswith(COMMIT_MARK):
            if current is not None:
                yield current
            current = _commit_line(line)
            current.changes = changes = []
        elif line.startswith(":") and current is not None and "\t" in line:
            meta, path = line[1:].split("\t", 1)
            fields = meta.split()
            if len(fields) >= 5:
                changes.append(RawChange(path, fields[1], fields[3]))
    if current is not None:
        yield current


def raw_history(repo: Path, revs: list[str]) -> Iterator[RawCommit]:
    """Every commit of ``revs``, parents before children, with its changes against its *first* parent (root
    commits against the empty tree). Renames are off so a moved file is a delete plus an add of the same blob."""
    return _raw_commits(_stream(["log", *_WALK, *_RAW_DIFF, _RAW_FORMAT, *revs, "--"], repo))


def raw_changes(repo: Path, shas: list[str]) -> Iterator[RawCommit]:
    """The commits ``shas`` (any order) with their changes as :func:`raw_history` gives them."""
    data = "".join(f"{sha}\n" for sha in shas).encode()
    lines = (raw.decode("utf-8", "replace") for raw in _output(
        ["log", "--no-walk=unsorted", "--stdin", *_RAW_DIFF, _RAW_FORMAT, "--"], repo, data=data, lines=True))
    return _raw_commits(lines)


def start_listing(repo: Path, revs: list[str]) -> Background:
    """The commits of ``revs`` in :func:`raw_history`'s order, without their changes, started in the background
    (read with :func:`listing_commits`): a walk of the commit graph only, a fraction of the raw history's cost."""
    return Background(["log", *_WALK, _RAW_FORMAT, *revs, "--"], repo)


def listing_commits(listing: Background) -> list[RawCommit]:
    text = listing.output().decode("utf-8", "replace")
    return [_commit_line(line) for line in text.split("\n") if line.startswith(COMMIT_MARK)]
