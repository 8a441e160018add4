"""Which work tree a directory belongs to, as the directories themselves say: everything under ``.git`` can be
edited by whoever edits the work tree (a coding agent), and ``core.worktree`` or a ``.git`` file would otherwise make
git name another directory, or another repository, as this one."""

from __future__ import annotations

import contextlib
from pathlib import Path

from scanner.git.proc import _call, git_available


def _top_containing(path: Path, ask: str) -> tuple[Path, Path] | None:
    """(git's top level, the directory ``ask`` names: ``--absolute-git-dir`` or ``--git-common-dir``), resolved,
    for the directory of ``path``; None outside a repository, without git, or when the top level does not contain
    that directory (``core.worktree`` names a directory elsewhere)."""
    d = path if path.is_dir() else path.parent
    if not git_available() or not d.exists():
        return None
    proc = _call(["rev-parse", "--path-format=absolute", "--show-toplevel", ask], d)
    lines = proc.stdout.decode("utf-8", "surrogateescape").splitlines()
    if proc.returncode != 0 or len(lines) != 2:
        return None
    top, other = Path(lines[0]).resolve(), Path(lines[1]).resolve()
    here = d.resolve()
    return (top, other) if here == top or top in here.parents else None


def own_work_tree(path: Path) -> Path | None:
    """The top level of the work tree containing ``path``, when git's answer is the one the directories give: it
    contains ``path``, and its ``.git`` is the git directory (or a file naming a git directory that claims this
    work tree back: a linked worktree, a submodule).
    None outside a repository, and when ``core.worktree`` (set by whoever can edit ``.git/config``) makes git name
    another directory, even one that contains ``path``."""
    found = _top_containing(path, "--absolute-git-dir")
    if found is None:
        return None
    top, gitdir = found
    dotgit = top / ".git"
    if dotgit.is_dir():
        return top if dotgit.resolve() == gitdir else None
    try:
        text = dotgit.read_text("utf-8", "replace").strip() if dotgit.is_file() else ""
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    named = Path(text[len("gitdir:"):].strip())
    if (named if named.is_absolute() else top / named).resolve() != gitdir:
        return None
    # The git directory must claim this work tree back (a .git file can name any repository's): a linked
    # worktree's records its .git file, a submodule's (and any with core.worktree) names the work tree.
    back = gitdir / "gitdir"
    if back.is_file():
        with contextlib.suppress(OSError):
            if Path(back.read_text("utf-8", "replace").strip()).resolve() == dotgit.resolve():
                return top
        return None
    proc = _call(["config", "--file", str(gitdir / "config"), "--get", "core.worktree"], top)
    claimed = proc.stdout.decode("utf-8", "surrogateescape").strip()
    if proc.returncode == 0 and claimed:
        return top if (Path(claimed) if Path(claimed).is_absolute() else gitdir / claimed).resolve() == top else None
    return None


def repository_identity(path: Path) -> tuple[Path, Path] | None:
    """(work tree root, git common directory), both resolved, of the work tree containing ``path``; None outside a
    work tree, without git, or when git's answer does not hold together.

    Everything under ``.git`` can be edited by whoever can edit the work tree, so the pair is accepted only when
    the common directory itself lists the work tree: a ``.git`` file in one directory naming another repository's
    git directory, or a ``core.worktree`` aimed at another checkout, makes git answer with that other repository,
    but that repository does not list this directory among its worktrees."""
    found = _top_containing(Path(path), "--git-common-dir")
    if found is None:
        return None
    top, common = found
    d = Path(path) if Path(path).is_dir() else Path(path).parent
    if common == top / ".git":
        return top, common  # an ordinary checkout: its own .git directory (one git process, not two)
    listed = _call(["worktree", "list", "--porcelain"], d)
    trees = {Path(line[len("worktree "):]).resolve()
             for line in listed.stdout.decode("utf-8", "surrogateescape").splitlines() if line.startswith("worktree ")}
    return (top, common) if listed.returncode == 0 and top in trees else None
