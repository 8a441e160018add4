"""Running a purge: the mirror clone, git-filter-repo on it (only on the mirror made by this run), the notes refs
git-filter-repo leaves alone, the proof, and the commands that push the result back. The plan it runs and the
replacement expressions are :mod:`remediate.purge`'s; the proof is :mod:`remediate.purge_proof`'s."""

from __future__ import annotations

import secrets
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediate.purge import (
    REMOTES_NS,
    PurgeError,
    PurgePlan,
    Replacement,
    apply,
    filter_repo_args,
    find_filter_repo,
    plan,
)
from remediate.purge_proof import Proof, notes_of, prove, read_map
from scanner import git
from scanner.errors import UsageError
from scanner.exposure.analysis import analyze
from scanner.exposure.model import select

MIRROR_MARK_KEY = "unleak.mirror"  # random per run: proves the repository about to be rewritten is the new mirror


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



def _rewrite_notes(mirror: Path, reps: list[Replacement]) -> None:
    """git-filter-repo leaves ``refs/notes/*`` alone: their notes still hold the values (in every past version of
    the notes history too) and are attached to the old commit ids. Each notes ref becomes one new commit whose
    notes are the old ones with the values replaced, attached to the rewritten commits; the old notes history is
    dropped and pruned."""
    notes = notes_of(mirror)
    if not notes:
        return
    commit_map = read_map(mirror / "filter-repo" / "commit-map")
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
    proc = subprocess.run([*cmd, *filter_repo_args(p.replacements_file)], cwd=mirror, capture_output=True,
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
