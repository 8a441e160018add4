"""Purge secrets from git history with git-filter-repo, on a fresh mirror clone, and prove the result.

The user's working clone is never rewritten: ``execute`` (:mod:`remediate.purge_run`) clones a mirror into
``.git/unleak/``, runs ``git filter-repo --replace-text`` there, then proves (:mod:`remediate.purge_proof`) (1) no
purged value is left in any object of the mirror and a history scan finds none of the purged fingerprints, and (2)
every commit maps one to one, with the same parents, authors, committers and messages, and the same trees except for
the replaced text. Pushing stays with the user.

This module owns the plan: which secrets, what each value becomes (the replacement expressions, and the same
substitution recomputed for the proof), the replacements file and the commands. The replacement file must contain
the literal values (that is how ``--replace-text`` works). It is written 0600 inside ``.git/unleak/`` (never the
work tree), never printed, passed to git-filter-repo by *path* (values never on a command line) and removed after
``execute``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner import archives, git
from scanner.errors import UnleakError, UsageError
from scanner.exposure.analysis import analyze
from scanner.exposure.model import Exposure, ExposureReport, select
from scanner.fileio import write_state_file

REPLACEMENTS_NAME = "purge-replacements.txt"
REMOTES_NS = "refs/unleak/remotes/"  # where the mirror keeps the original's remote-tracking refs
FILTER_REPO_ENV = "UNLEAK_GIT_FILTER_REPO"  # path to a git-filter-repo executable (overrides PATH lookup)
# Keep the history shape identical so the proof can compare commit by commit: no pruning, and commit messages keep
# their (now stale) abbreviated hashes instead of being rewritten.
FILTER_REPO_FLAGS = ("--preserve-commit-hashes", "--prune-empty", "never", "--prune-degenerate", "never")


class PurgeError(UnleakError):
    """The purge could not run or could not be proven; the user's clone is untouched."""

    exit_code = 2  # an error the user acts on; 1 means "findings" in every command


def replacement_for(fingerprint: str) -> str:
    """What a purged value becomes: names the fingerprint so a reader can find it in the exposure report."""
    # "REDACTED" is a placeholder word to the scanner, so the purged history scans clean.
    return f"UNLEAK-REDACTED-{fingerprint[:12]}"


def _regex_escape(value: str) -> str:
    # One line per expression in the replacements file, so line breaks become escapes; a multi-line value (a
    # private key) also matches when the file was committed with CRLF line endings.
    out = []
    for ch in value:
        out.append("\\r?\\n" if ch == "\n" else "\\r" if ch == "\r" else re.escape(ch))
    return "".join(out)


@dataclass(frozen=True)
class Replacement:
    fingerprint: str
    value: bytes = field(repr=False)  # the secret itself: never in a repr, a traceback or a log
    replacement: bytes
    regex: bool  # multi-line values need a regex expression (the file is line based)

    @property
    def pattern(self) -> bytes:
        return _regex_escape(self.value.decode("utf-8")).encode("utf-8")

    @property
    def forms(self) -> tuple[bytes, ...]:
        """The byte strings that count as this value being present."""
        if self.regex:
            return (self.value, self.value.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        return (self.value,)

    def expression(self) -> bytes:
        if self.regex:
            return b"regex:" + self.pattern + b"==>" + self.replacement
        return b"literal:" + self.value + b"==>" + self.replacement


def replacements(targets: list[Exposure]) -> list[Replacement]:
    """Literal expressions first, then regexes: the order git-filter-repo applies them."""
    reps = []
    for e in targets:
        value = e.secret.reveal()
        reps.append(Replacement(e.fingerprint, value.encode("utf-8"), replacement_for(e.fingerprint).encode(),
                                regex="\n" in value or "\r" in value))
    # Longer values first, so a value containing another value is replaced whole.
    return sorted(reps, key=lambda r: (r.regex, -len(r.value), r.fingerprint))


def apply(reps: list[Replacement], data: bytes) -> bytes:
    """The text git-filter-repo writes for ``data``: literals, then regexes, in file order (the proof recomputes
    it independently of git-filter-repo)."""
    for r in reps:
        # Exactly git-filter-repo's calls: bytes.replace for literals, re.sub for regexes.
        data = re.sub(r.pattern, r.replacement, data) if r.regex else data.replace(r.value, r.replacement)
    return data


def state_dir(repo: Path) -> Path:
    """``<git dir>/unleak``, unleak's own private directory: the replacements file written there holds the values.
    A symbolic link there (which an agent could plant, to a shared folder) is refused, never followed."""
    from scanner.fileio import state_dir as own_dir

    d = own_dir(git.common_git_dir(repo), "unleak")
    if d is None:
        raise UsageError(f"{git.common_git_dir(repo) / 'unleak'} is not a directory of this user's (a symbolic link, "
                         "or another owner's): remove it, then run the command again")
    os.chmod(d, 0o700)
    return d


def write_replacements(path: Path, reps: list[Replacement]) -> None:
    """Atomically, 0600 from the first byte (never world-readable, not even briefly)."""
    # A temporary file made 0600 with O_EXCL and O_NOFOLLOW, renamed over the name: a symbolic link planted there
    # is replaced, never written through (the file holds the values).
    write_state_file(path, b"".join(r.expression() + b"\n" for r in reps), mode=0o600)


def find_filter_repo() -> list[str] | None:
    """The git-filter-repo command: $UNLEAK_GIT_FILTER_REPO if set, else ``git-filter-repo`` on PATH."""
    explicit = os.environ.get(FILTER_REPO_ENV)
    if explicit is not None:
        return [explicit] if explicit and os.access(explicit, os.X_OK) else None
    found = shutil.which("git-filter-repo")
    return [found] if found else None


@dataclass
class PurgePlan:
    root: Path
    targets: list[Exposure]
    replacements_file: Path
    mirror: Path
    commands: list[str]
    warnings: list[str]
    reps: list[Replacement] = field(default_factory=list, repr=False)


def filter_repo_args(file: Path) -> list[str]:
    # --force: the mirror is a fresh clone unleak just made, but without its "origin" remote (see execute), which
    # git-filter-repo's fresh-clone heuristic expects.
    return ["--force", "--replace-text", str(file), "--replace-message", str(file), *FILTER_REPO_FLAGS]


def _warnings(report: ExposureReport, targets: list[Exposure]) -> list[str]:
    w = ["Rotate every selected secret FIRST (see `unleak exposure`): rewriting history does not un-leak a value "
         "that anyone already cloned, fetched or copied."]
    pushed = [e.preview for e in targets if e.pushed]
    if pushed:
        w.append(f"Pushed, so assume compromised: {', '.join(pushed)}.")
    w.append("Clones, forks and pull-request refs (e.g. GitHub's refs/pull/*) keep the old objects; ask the host "
             "to purge cached views and pull-request refs.")
    w.append("Every collaborator must re-clone after the push: merging or pushing from an old clone brings the "
             "secrets back.")
    w.append("Every rewritten commit gets a new hash; signed commits lose their signatures.")
    tips = [f"{e.preview} ({', '.join(e.tips)})" for e in targets if e.tips]
    if tips:
        w.append("Still in the current tree of: " + "; ".join(tips) + ". The purge replaces it there too; "
                 "remove it from the code first (`unleak fix`), commit, then purge.")
    packed = [f"{e.preview} ({', '.join(p for p in e.paths if archives.SEPARATOR in p)})" for e in targets
              if any(archives.SEPARATOR in p for p in e.paths)]
    if packed:
        w.append("Inside an archive: " + "; ".join(packed) + ". Text replacement cannot reach a value in a compressed "
                 "member and would break a stored member's checksum: rebuild the archive without the value in those "
                 "commits, or remove the archive from history.")
    return w


def plan(root: Path, fingerprints: list[str], report: ExposureReport | None = None, request: Any = None
         ) -> PurgePlan:
    """Select secrets, write the 0600 replacements file into .git/unleak/ and describe the commands.

    ``request``: a :class:`scanner.api.ScanRequest` carrying config (exclusions, disabled rules, baseline)."""
    top = git.require_repo(root, "purge", bare=True)  # planning reads history only; a mirror clone will do
    report = report if report is not None else analyze(top, request)
    targets = select(report, fingerprints)
    if not targets:
        raise UsageError("history holds no secrets to purge (`unleak exposure` lists none)")
    reps = replacements(targets)
    sdir = state_dir(top)
    file = sdir / REPLACEMENTS_NAME
    write_replacements(file, reps)
    name = top.name.removesuffix(".git") or "repo"  # a bare repository is usually already called NAME.git
    mirror = sdir / f"mirror-{time.strftime('%Y%m%d-%H%M%S')}" / f"{name}.git"
    q, m = shlex.quote, shlex.quote(str(mirror))
    fr = " ".join(q(a) for a in filter_repo_args(file))
    commands = [
        f"git clone --mirror --no-local {q(str(top))} {m}",
        f"git -C {m} config --remove-section remote.origin",
        f"git -C {m} for-each-ref --format='create {REMOTES_NS}%(refname:lstrip=2) %(objectname)%0a"
        f"delete %(refname)' refs/remotes/ | git -C {m} update-ref --no-deref --stdin",
        f"git -C {m} filter-repo {fr}",
        "# or let unleak run these steps and prove the result:",
        "unleak purge --execute" + "".join(f" --fingerprint {e.fingerprint}" for e in targets
                                           if fingerprints),
    ]
    return PurgePlan(root=top, targets=targets, replacements_file=file, mirror=mirror, commands=commands,
                     warnings=_warnings(report, targets), reps=reps)
