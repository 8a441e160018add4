"""Purge secrets from git history with git-filter-repo, on a fresh mirror clone, and prove the result.

The user's working clone is never rewritten: ``execute`` clones a mirror into ``.git/unleak/``, runs
``git filter-repo --replace-text`` there, then proves (1) no purged value is left in any object of the mirror and a
history scan finds none of the purged fingerprints, and (2) every commit maps one to one, with the same parents,
authors, committers and messages, and the same trees except for the replaced text. Pushing stays with the user.

The replacement file must contain the literal values (that is how ``--replace-text`` works). It is written 0600
inside ``.git/unleak/`` (never the work tree), never printed, passed to git-filter-repo by *path* (values never on a
command line) and removed after ``execute``.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner import git
from scanner.errors import GitError, UnleakError, UsageError
from scanner.exposure.analysis import analyze
from scanner.exposure.model import Exposure, ExposureReport, select
from scanner.fileio import atomic_write_bytes

REPLACEMENTS_NAME = "purge-replacements.txt"
REMOTES_NS = "refs/unleak/remotes/"  # where the mirror keeps the original's remote-tracking refs
MIRROR_MARK_KEY = "unleak.mirror"  # random per run: proves the repository about to be rewritten is the new mirror
FILTER_REPO_ENV = "UNLEAK_GIT_FILTER_REPO"  # path to a git-filter-repo executable (overrides PATH lookup)
# Keep the history shape identical so the proof can compare commit by commit: no pruning, and commit messages keep
# their (now stale) abbreviated hashes instead of being rewritten.
FILTER_REPO_FLAGS = ("--preserve-commit-hashes", "--prune-empty", "never", "--prune-degenerate", "never")
_BINARY_SNIFF = 8192  # git-filter-repo leaves blobs with a NUL byte in their first 8 KiB alone


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
    d = git.common_git_dir(repo) / "unleak"
    d.mkdir(mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)
    return d


def write_replacements(path: Path, reps: list[Replacement]) -> None:
    """Atomically, 0600 from the first byte (never world-readable, not even briefly)."""
    # scanner.fileio creates its temp file with mkstemp (0600) and renames it into place.
    atomic_write_bytes(path, b"".join(r.expression() + b"\n" for r in reps), mode=0o600)


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


def _filter_repo_args(file: Path) -> list[str]:
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
    fr = " ".join(q(a) for a in _filter_repo_args(file))
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


# ------------------------------------------------------------------------------------------------------ execute


@dataclass
class Proof:
    commits: int = 0
    blobs_changed: int = 0
    messages_changed: int = 0
    refs: int = 0
    objects_searched: int = 0
    signatures_dropped: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # expected losses, reported but not failures

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class PurgeResult:
    plan: PurgePlan
    mirror: Path
    proof: Proof
    push: list[str]


def execute(root: Path, fingerprints: list[str], workdir: Path | None = None, request: Any = None) -> PurgeResult:
    top = git.require_repo(root, "purge")
    cmd = find_filter_repo()
    if cmd is None:
        raise UsageError("git-filter-repo is not installed (or not on PATH); install it with "
                         "`pip install 'unleak[purge]'` or your package manager, then run `unleak purge --execute` "
                         "again")
    dirty = git.dirty_tracked(top)
    if dirty:
        raise UsageError(f"the work tree has uncommitted changes ({len(dirty)} file(s), e.g. {dirty[0]}); commit "
                         "or stash them first: after the purge every clone is replaced")
    if git.is_shallow(top):
        raise UsageError("this is a shallow clone; the purge needs all history (git fetch --unshallow)")
    report = analyze(top, request)
    targets = select(report, fingerprints)
    in_head = [e for e in targets if e.in_head]
    if in_head:
        raise UsageError(f"still in HEAD: {', '.join(e.preview for e in in_head)}; move it out of the code "
                         "(`unleak fix`), commit, rotate it, then purge")
    p = plan(top, fingerprints, report)
    try:  # the replacements file holds the values: it goes however this ends
        mirror = (workdir.resolve() / f"{top.name}.git") if workdir is not None else p.mirror
        gitdir = git.common_git_dir(top)
        if mirror.is_relative_to(top.resolve()) and not mirror.is_relative_to(gitdir):
            # The mirror holds the secrets until rewritten; inside the work tree it could be committed or indexed.
            raise UsageError(f"--workdir {workdir} is inside the work tree; choose a directory outside it")
        if mirror.exists():
            raise UsageError(f"{mirror} already exists; choose another --workdir")
        mirror.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        refs_before = {REMOTES_NS + n[len("refs/remotes/"):] if n.startswith("refs/remotes/") else n
                       for n, _ in git.ref_targets(top, ("refs/",))}
        git.clone_mirror(top, mirror)
        mirror = mirror.resolve()
        # A random mark in the mirror's config: just before the rewrite it is read back through the very
        # environment git-filter-repo gets, so the repository rewritten can only be the one cloned here.
        mark = secrets.token_hex(16)
        _mirror_git(mirror, ["config", MIRROR_MARK_KEY, mark])
        # The mirror's "origin" is this working clone: drop it so git-filter-repo has nothing to remove. Move the
        # remote-tracking refs out of refs/remotes/ (git-filter-repo would fold refs/remotes/origin/* into
        # refs/heads/*), so the remote's own branches stay distinct from local ones and can be pushed back as such.
        _mirror_git(mirror, ["config", "--remove-section", "remote.origin"], check=False)
        git.move_refs(mirror, "refs/remotes/", REMOTES_NS)
        _check_is_mirror(mirror, top, mark)
        _run_filter_repo(cmd, mirror, p)
        _rewrite_notes(mirror, p.reps)
        proof = prove(top, mirror, p.reps, {r.fingerprint for r in p.reps}, refs_before)
    finally:
        p.replacements_file.unlink(missing_ok=True)
    return PurgeResult(plan=p, mirror=mirror, proof=proof, push=push_commands(top, mirror))


def _notes(repo: Path, bare: bool = True) -> dict[str, dict[str, str]]:
    """Every notes ref (``refs/notes/*``) of ``repo`` (the mirror, or with ``bare=False`` the user's clone):
    annotated object -> note blob."""
    out: dict[str, dict[str, str]] = {}
    for ref, _sha in git.ref_targets(repo, ("refs/notes",)):
        where = [f"--git-dir={repo}"] if bare else []
        listed = git.run([*where, "notes", f"--ref={ref}", "list"], repo)
        out[ref] = {obj: blob for blob, obj in (line.split() for line in listed.splitlines() if len(line.split()) == 2)}
    return out


def _rewrite_notes(mirror: Path, reps: list[Replacement]) -> None:
    """git-filter-repo leaves ``refs/notes/*`` alone: their notes still hold the values (in every past version of
    the notes history too) and are attached to the old commit ids. Each notes ref becomes one new commit whose
    notes are the old ones with the values replaced, attached to the rewritten commits; the old notes history is
    dropped and pruned."""
    notes = _notes(mirror)
    if not notes:
        return
    commit_map = _read_map(mirror / "filter-repo" / "commit-map")
    with git.CatFile(mirror) as cat:
        for ref, entries in notes.items():
            rows = []
            for obj, blob in sorted(entries.items()):
                got = cat.read(blob)
                data = apply(reps, got[1]) if got is not None else b""
                new_blob = _mirror_git(mirror, ["hash-object", "-w", "--stdin"], stdin=data).strip()
                rows.append(f"100644 blob {new_blob}\t{commit_map.get(obj, obj)}\n")
            tree = _mirror_git(mirror, ["mktree"], stdin="".join(rows).encode()).strip()
            commit = _mirror_git(mirror, ["commit-tree", tree, "-m", "Notes rewritten by unleak purge"]).strip()
            _mirror_git(mirror, ["update-ref", ref, commit])
    _mirror_git(mirror, ["reflog", "expire", "--expire=now", "--all"], stdin=b"")
    _mirror_git(mirror, ["gc", "--prune=now", "--quiet"], stdin=b"")


def _compare_notes(original: Path, mirror: Path, reps: list[Replacement], commit_map: dict[str, str],
                   proof: Proof) -> None:
    """Each notes ref: the same notes, on the rewritten commits, equal modulo the replaced values."""
    new_notes = _notes(mirror)
    with git.CatFile(original) as old_cat, git.CatFile(mirror) as new_cat:
        for ref, entries in _notes(original, bare=False).items():
            got = new_notes.get(ref, {})
            expected_keys = {commit_map.get(obj, obj) for obj in entries}
            if set(got) != expected_keys:
                proof.problems.append(f"{ref}: the notes are not on the rewritten commits")
                continue
            for obj, blob in entries.items():
                o, n = old_cat.read(blob), new_cat.read(got[commit_map.get(obj, obj)])
                if o is None or n is None or n[1] != apply(reps, o[1]):
                    proof.problems.append(f"{ref}: a note differs beyond the replaced values")
                    break
            else:
                proof.notes.append(f"{ref}: {len(entries)} note(s) moved to the rewritten commits; its history "
                                   "was replaced by one commit")


def _mirror_git(mirror: Path, args: list[str], check: bool = True, stdin: bytes | None = None) -> str:
    """A git command on the mirror, named explicitly (``--git-dir``), never found by discovery from ``cwd``."""
    return git.run([f"--git-dir={mirror}", *args], mirror, check=check, stdin=stdin)


def _filter_repo_env(mirror: Path) -> dict[str, str]:
    # No repository-local variable of the caller (GIT_DIR, GIT_OBJECT_DIRECTORY, ...) reaches git-filter-repo or
    # the git processes it starts; GIT_DIR names the mirror explicitly.
    return git.clean_env({"GIT_DIR": str(mirror)})


def _check_is_mirror(mirror: Path, top: Path, mark: str) -> None:
    """Refuse to rewrite anything but the bare mirror made by this run: the repository the rewrite's environment
    designates must carry this run's mark, be bare and not be the user's clone."""
    # The same environment git-filter-repo gets (_filter_repo_env: the clean one plus GIT_DIR).
    value, gitdir, bare = git.designated_repository(mirror, {"GIT_DIR": str(mirror)}, MIRROR_MARK_KEY)
    if value != mark or gitdir != mirror or not bare or gitdir == git.common_git_dir(top):
        raise PurgeError(f"refusing to rewrite: the repository git would rewrite ({gitdir or 'unknown'}) is not the "
                         f"mirror unleak just cloned ({mirror}); nothing was rewritten and your clone is untouched")


def _run_filter_repo(cmd: list[str], mirror: Path, p: PurgePlan) -> None:
    # stdin: nothing. The `git gc` git-filter-repo ends with runs pack-objects, which reads extra revisions from an
    # inherited stdin: whatever was piped into unleak would become "bad revision" errors.
    proc = subprocess.run([*cmd, *_filter_repo_args(p.replacements_file)], cwd=mirror, capture_output=True,
                          stdin=subprocess.DEVNULL, check=False, env=_filter_repo_env(mirror))
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
        last = lines[-1] if lines else f"exit {proc.returncode}"
        if any(piece in last for r in p.reps for piece in _quotable(r)):
            last = "(message withheld: it quoted a secret)"
        raise PurgeError(f"git-filter-repo failed in {mirror}: {last}; your clone is untouched")


def _quotable(r: Replacement) -> list[str]:
    """What a one-line message could quote of ``r``: the value, each line of a multi-line value (the message is a
    single line, so a whole private key never matches), and the escaped pattern the replacements file holds."""
    value = r.value.decode("utf-8", "replace")
    pieces = [value, r.pattern.decode("utf-8", "replace"), *value.splitlines()]
    return [x for x in pieces if len(x.strip()) >= 4]


def push_commands(top: Path, mirror: Path) -> list[str]:
    """Push back what each remote had (its branches, rewritten) and the tags; local-only branches stay local."""
    q = shlex.quote
    out = [f"cd {q(str(mirror))}"]
    remotes = git.remote_names(top)
    for r in remotes:
        out.append(f'git remote add {q(r)} "$(git -C {q(str(top))} remote get-url {q(r)})"')
        out.append(f"git push --force {q(r)} '{REMOTES_NS}{r}/*:refs/heads/*'   # the branches {r} has, rewritten")
        out.append(f"git push --force {q(r)} 'refs/tags/*:refs/tags/*'   # rewritten tags (also publishes "
                   "local-only tags)")
    if not remotes:
        out.append("# this clone has no remote: nothing to push")
    out.append("# then re-clone (every collaborator too); your local-only branches, rewritten, are in this mirror: "
               f"git fetch {q(str(mirror))} 'refs/heads/*:refs/heads/*' in the new clone")
    return out


# -------------------------------------------------------------------------------------------------------- proof


_SIGNATURES = (b"gpgsig", b"gpgsig-sha256", b"mergetag")
_CORE_HEADERS = (b"tree", b"parent", b"author", b"committer", b"encoding")


@dataclass
class _Commit:
    tree: bytes
    parents: list[bytes]
    core: dict[bytes, bytes]  # author, committer, encoding
    extra: list[bytes]  # names of other headers: signatures and tool-specific ones (gitbutler-*, ...)
    message: bytes


def _commit_fields(data: bytes) -> _Commit:
    head, _, message = data.partition(b"\n\n")
    c = _Commit(tree=b"", parents=[], core={}, extra=[], message=message)
    for line in head.split(b"\n"):
        if line.startswith(b" "):  # continuation of a multi-line header (gpgsig, mergetag)
            continue
        key, _, val = line.partition(b" ")
        if key == b"tree":
            c.tree = val
        elif key == b"parent":
            c.parents.append(val)
        elif key in _CORE_HEADERS:
            c.core[key] = val
        else:
            c.extra.append(key)
    return c


def _same_message(old: _Commit, new: _Commit, reps: list[Replacement]) -> bool:
    expected = apply(reps, old.message)
    if new.message == expected:
        return True
    # fast-export re-encodes messages in a legacy encoding to UTF-8 and drops the header
    enc = old.core.get(b"encoding", b"").decode("ascii", "replace")
    if enc and b"encoding" not in new.core:
        try:
            return new.message == expected.decode(enc).encode("utf-8")
        except (LookupError, UnicodeDecodeError):
            return False
    return False


def _tree_entries(data: bytes) -> dict[bytes, tuple[bytes, str]]:
    entries: dict[bytes, tuple[bytes, str]] = {}
    i = 0
    while i < len(data):
        sp = data.index(b" ", i)
        nul = data.index(b"\0", sp)
        entries[data[sp + 1:nul]] = (data[i:sp], data[nul + 1:nul + 21].hex())
        i = nul + 21
    return entries


class _TreeCompare:
    def __init__(self, old: git.CatFile, new: git.CatFile, reps: list[Replacement], proof: Proof) -> None:
        self.old, self.new, self.reps, self.proof = old, new, reps, proof
        self.done: set[tuple[str, str]] = set()

    def _read(self, cat: git.CatFile, oid: str) -> bytes:
        obj = cat.read(oid)
        if obj is None:
            raise PurgeError(f"object {oid} is missing; the mirror is incomplete")
        return obj[1]

    def tree(self, old: str, new: str, path: str) -> None:
        if old == new or (old, new) in self.done:
            return
        self.done.add((old, new))
        a = _tree_entries(self._read(self.old, old))
        b = _tree_entries(self._read(self.new, new))
        if a.keys() != b.keys():
            self.proof.problems.append(f"{path or '/'}: the file names differ after the rewrite")
            return
        for name, (mode, oid) in a.items():
            nmode, noid = b[name]
            sub = f"{path}{name.decode('utf-8', 'replace')}"
            if mode != nmode:
                self.proof.problems.append(f"{sub}: mode changed")
            elif oid == noid:
                continue
            elif mode == b"40000":
                self.tree(oid, noid, sub + "/")
            elif mode == b"160000":
                self.proof.problems.append(f"{sub}: submodule commit changed")
            else:
                self.blob(oid, noid, sub)

    def blob(self, old: str, new: str, path: str) -> None:
        if (old, new) in self.done:
            return
        self.done.add((old, new))
        before = self._read(self.old, old)
        after = self._read(self.new, new)
        expected = before if b"\0" in before[:_BINARY_SNIFF] else apply(self.reps, before)
        if after != expected:
            self.proof.problems.append(f"{path}: content differs beyond the replaced values")
        else:
            self.proof.blobs_changed += 1


def _read_map(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for line in path.read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


def prove(original: Path, mirror: Path, reps: list[Replacement], fingerprints: set[str],
          refs_before: set[str]) -> Proof:
    """Compare the rewritten mirror with the untouched original, commit by commit, then search it for values."""
    proof = Proof()
    lost_headers: dict[str, int] = {}  # non-standard commit header -> commits that lost it
    commit_map = _read_map(mirror / "filter-repo" / "commit-map")
    if not commit_map:
        proof.problems.append("git-filter-repo wrote no commit map; cannot compare histories")
        return proof
    # Notes histories are not rewritten commit by commit (see _rewrite_notes); they are compared note by note.
    old_commits = set(git.run(["rev-list", "--exclude=refs/notes/*", "--all"], original).split())
    missing = old_commits - commit_map.keys()
    if missing:
        proof.problems.append(f"{len(missing)} commit(s) of the original were not rewritten")
    with git.CatFile(original) as old_cat, git.CatFile(mirror) as new_cat:
        trees = _TreeCompare(old_cat, new_cat, reps, proof)
        for old, new in commit_map.items():
            if set(new) == {"0"}:
                proof.problems.append(f"commit {old[:10]} was dropped by the rewrite")
                continue
            o = old_cat.read(old)
            n = new_cat.read(new)
            if o is None or n is None:
                proof.problems.append(f"commit {old[:10]} cannot be read on both sides")
                continue
            oc, nc = _commit_fields(o[1]), _commit_fields(n[1])
            proof.commits += 1
            if [commit_map.get(p.decode(), p.decode()) for p in oc.parents] != [p.decode() for p in nc.parents]:
                proof.problems.append(f"commit {old[:10]}: parents differ")
            if {k: v for k, v in oc.core.items() if k != b"encoding"} != \
                    {k: v for k, v in nc.core.items() if k != b"encoding"}:
                proof.problems.append(f"commit {old[:10]}: author or committer differ")
            if not _same_message(oc, nc, reps):
                proof.problems.append(f"commit {old[:10]}: message differs beyond the replaced values")
            elif nc.message != oc.message:
                proof.messages_changed += 1
            for key in set(oc.extra) - set(nc.extra):
                if key in _SIGNATURES:
                    proof.signatures_dropped += 1
                else:
                    name = key.decode("ascii", "replace")
                    lost_headers[name] = lost_headers.get(name, 0) + 1
            trees.tree(oc.tree.decode(), nc.tree.decode(), "")
        _compare_tags(mirror, old_cat, new_cat, reps, proof)
    _compare_notes(original, mirror, reps, commit_map, proof)
    if proof.signatures_dropped:
        proof.notes.append(f"{proof.signatures_dropped} commit signature(s) dropped (a rewritten commit cannot keep "
                           "its signature; re-sign if you need them)")
    for header, count in sorted(lost_headers.items()):
        proof.notes.append(f"{count} commit(s) lost their non-standard '{header}' header (git fast-export does not "
                           "carry tool-specific headers)")
    refs_after = {name for name, _ in git.ref_targets(mirror, ("refs/",))}
    proof.refs = len(refs_after)
    lost = sorted(refs_before - refs_after)
    if lost:
        proof.problems.append(f"{len(lost)} ref(s) missing in the mirror: {', '.join(lost[:5])}")
    _search_values(mirror, reps, proof)
    _history_scan(mirror, fingerprints, proof)
    return proof


_SIG = b"-----BEGIN PGP SIGNATURE-----"


def _compare_tags(mirror: Path, old_cat: git.CatFile, new_cat: git.CatFile, reps: list[Replacement],
                  proof: Proof) -> None:
    """Annotated tags: same name, type and tagger; message equal modulo the replaced values (a signature, which
    cannot survive a rewrite, may be gone)."""
    path = mirror / "filter-repo" / "ref-map"
    rows = path.read_text().splitlines()[1:] if path.is_file() else []
    for row in rows:
        parts = row.split()
        if len(parts) != 3 or not parts[2].startswith("refs/tags/"):
            continue
        o, n = old_cat.read(parts[0]), new_cat.read(parts[1])
        if o is None or o[0] != "tag":
            continue
        if n is None or n[0] != "tag":
            proof.problems.append(f"{parts[2]}: the annotated tag became something else")
            continue
        ohead, _, omsg = o[1].partition(b"\n\n")
        nhead, _, nmsg = n[1].partition(b"\n\n")
        strip = [h for h in ohead.split(b"\n") if not h.startswith(b"object ")]
        if strip != [h for h in nhead.split(b"\n") if not h.startswith(b"object ")]:
            proof.problems.append(f"{parts[2]}: tag name, type or tagger differ")
        expected = apply(reps, omsg)
        if nmsg != expected and nmsg != expected.split(_SIG, 1)[0]:
            proof.problems.append(f"{parts[2]}: tag message differs beyond the replaced values")


def _search_values(mirror: Path, reps: list[Replacement], proof: Proof) -> None:
    """Every object in the mirror, reachable or not: none may hold a purged value."""
    found: dict[str, int] = {}
    with git.CatFile(mirror) as cat:
        for oid, _otype, _size in git.all_object_ids(mirror):
            obj = cat.read(oid)
            if obj is None:
                continue
            proof.objects_searched += 1
            if any(form in obj[1] for r in reps for form in r.forms):
                found[obj[0]] = found.get(obj[0], 0) + 1
    for otype, n in sorted(found.items()):
        hint = " (git-filter-repo does not rewrite binary files)" if otype == "blob" else ""
        proof.problems.append(f"{n} {otype} object(s) in the mirror still hold a purged value{hint}")


def _history_scan(mirror: Path, fingerprints: set[str], proof: Proof) -> None:
    """The same history scan as `unleak scan --history`, over the (bare) mirror."""
    from scanner import sources
    from scanner.chunk import Chunk
    from scanner.engine import Engine
    from scanner.result import Stats

    engine = Engine()
    left: set[str] = set()
    for commit, fp in git.parse_patch(git.log_patch_lines(mirror, ["--all"])):
        if fp.binary or not fp.path:
            continue
        chunk = Chunk(path=fp.path, text="\n".join(t for _, t in fp.added), source="commit",
                      line_numbers=tuple(n for n, _ in fp.added), commit=commit)
        left.update(f.fingerprint for f in engine.scan_chunk(chunk) if f.fingerprint in fingerprints)
    for chunk in sources.messages(mirror, ["--all"], Stats(), tags=True):  # commit and tag messages too
        left.update(f.fingerprint for f in engine.scan_chunk(chunk) if f.fingerprint in fingerprints)
    if left:
        proof.problems.append(f"a history scan of the mirror still finds {len(left)} purged secret(s)")


__all__ = ["GitError", "PurgeError", "PurgePlan", "PurgeResult", "execute", "plan", "prove"]
