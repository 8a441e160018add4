"""The repository model: where a repository is, its refs, remotes, shallow state, index and clones.

The cold paths (exposure, purge, the Action) read HEAD, remotes and shallow state, and deepen a clone, through
GitPython, imported on first use: it costs 60-80 ms that ``scan --staged`` in a pre-commit hook and the agent hooks
never pay, so the functions those paths call stay plain ``git`` processes. Refs are listed with one
``git for-each-ref`` (see :func:`_ref_objects`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.errors import GitError, UsageError
from scanner.git.proc import (
    _call,
    _call_env,
    clean_env,
    git_available,
    run,
)

if TYPE_CHECKING:
    import git as gitpython

# GitPython reads GIT_DIR, GIT_WORK_TREE, GIT_COMMON_DIR and GIT_OBJECT_DIRECTORY from os.environ when it opens a
# repository, and copies os.environ into every git it starts; it takes no environment to use instead. So while it
# runs, the process environment is the one every other git call gets (clean_env): one GitPython call at a time.
_GITPYTHON = threading.RLock()


@contextlib.contextmanager
def _clean_environ() -> Iterator[None]:
    with _GITPYTHON:
        saved = dict(os.environ)
        clean = clean_env()
        try:
            for k in set(saved) - set(clean):
                del os.environ[k]
            os.environ.update(clean)
            yield
        finally:
            for k in set(os.environ) - set(saved):
                del os.environ[k]
            os.environ.update(saved)


@cache
def _repo_class() -> type[gitpython.Repo]:
    import git as gitpython

    class CleanGit(gitpython.Git):
        def execute(self, *args: Any, **kwargs: Any) -> Any:
            from scanner.git import proc

            if proc.child_setup is not None:  # GitPython hands extra keywords to Popen
                kwargs.setdefault("preexec_fn", proc.child_setup)
            with _clean_environ():
                return super().execute(*args, **kwargs)

    class CleanRepo(gitpython.Repo):
        GitCommandWrapperType = CleanGit

    return CleanRepo


@contextlib.contextmanager
def _opened(repo: Path) -> Iterator[gitpython.Repo]:
    """``repo`` (a work tree or a git directory) as a GitPython repository, its git processes ended afterwards."""
    import git as gitpython

    try:
        with _clean_environ():
            r = _repo_class()(repo)
    except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError) as exc:
        raise GitError(f"{repo} is not a git repository ({type(exc).__name__})") from None
    try:
        yield r
    finally:
        r.close()


def caller_index(repo: Path) -> str | None:
    """The index file the caller's environment names (``GIT_INDEX_FILE``), if that environment designates ``repo``.

    A pre-commit hook of `git commit -a`, of `git commit PATH` and of any commit in a linked worktree is given a
    temporary index (and, in a worktree, GIT_DIR): that index is what is being committed, so a staged scan reads
    it. An index of some other repository (GIT_DIR naming another one) is ignored like every other variable."""
    index = os.environ.get("GIT_INDEX_FILE")
    if not index:
        return None
    caller_dir = os.environ.get("GIT_DIR")
    if caller_dir:  # only then can the caller's repository differ from ``repo``: one git call, in hooks of worktrees
        proc = _call(["rev-parse", "--absolute-git-dir"], repo)
        mine = proc.stdout.decode("utf-8", "replace").strip()
        if proc.returncode != 0 or Path(mine).resolve() != Path(os.path.abspath(caller_dir)).resolve():
            return None
    return os.path.abspath(index)


def toplevel(path: Path | str) -> Path | None:
    """The repository root containing ``path``, or None outside a repository."""
    p = Path(path)
    d = p if p.is_dir() else p.parent
    if not git_available() or not d.exists():
        return None
    proc = _call(["rev-parse", "--show-toplevel"], d)
    if proc.returncode != 0:
        return None
    return Path(proc.stdout.decode().strip())


def history_root(path: Path | str) -> Path | None:
    """Where history commands run: the work tree's root, or for a repository without one (a bare or mirror clone,
    a server-side repository, a CI cache; also from inside a .git directory) its git directory. None outside."""
    top = toplevel(path)
    if top is not None:
        return top
    p = Path(path)
    d = p if p.is_dir() else p.parent
    if not git_available() or not d.exists():
        return None
    proc = _call(["rev-parse", "--absolute-git-dir"], d)
    if proc.returncode != 0:
        return None
    return Path(proc.stdout.decode().strip())


def is_bare(repo: Path) -> bool:
    """True when ``repo`` has no work tree (bare or mirror clone, or a git directory itself)."""
    return run(["rev-parse", "--is-inside-work-tree"], repo, check=False).strip() != "true"


def require_repo(path: Path | str, what: str, bare: bool = False) -> Path:
    """The repository root of ``path``; with ``bare`` (commands that read only history) a repository without a
    work tree is accepted too, and its git directory is returned."""
    top = history_root(path) if bare else toplevel(path)
    if top is None:
        if not bare and history_root(path) is not None:
            raise GitError(f"{what} needs a work tree, and {Path(path).resolve()} is a bare repository; run it in "
                           "a clone with a checkout (history scans, --range and exposure work here)")
        raise GitError(f"{what} needs a git repository, and {Path(path).resolve()} is not inside one; "
                       "run it from a clone, or scan files with plain `unleak scan PATH`")
    return top


def has_head(repo: Path) -> bool:
    return _call(["rev-parse", "--verify", "-q", "HEAD"], repo).returncode == 0


def has_commits(repo: Path) -> bool:
    """Whether any ref (or HEAD) reaches a commit: HEAD can be unborn (``git switch --orphan``) while branches
    hold the whole history."""
    proc = _call(["rev-list", "--max-count=1", "--all", "--"], repo)
    return proc.returncode != 0 or bool(proc.stdout.strip())  # a walk that fails is scanned (and reports why)


def is_shallow(repo: Path) -> bool:
    return run(["rev-parse", "--is-shallow-repository"], repo).strip() == "true"


def shallow_boundary(repo: Path) -> set[str]:
    """Commits whose parents a shallow clone does not have (``shallow`` in the common git directory, shared by
    linked worktrees); empty for a complete clone."""
    with _opened(repo) as r:
        path = Path(r.common_dir) / "shallow"
    try:
        return set(path.read_text(encoding="ascii").split())
    except OSError:
        return set()


def merge_base(repo: Path, a: str, b: str) -> str | None:
    out = run(["merge-base", a, b], repo, check=False).strip()
    return out or None


def fetch(repo: Path, remote: str, refspecs: list[str], depth: int | None = None, unshallow: bool = False) -> bool:
    """Fetch commits (ids or refspecs) from ``remote`` without tags or submodules, using the credentials the
    checkout left in the repository's config (deepening a shallow clone: ``depth`` or ``unshallow``). False when
    the remote refuses: callers report partial coverage."""
    import git as gitpython

    if any(r.startswith("-") for r in refspecs) or remote.startswith("-"):
        raise UsageError("a fetch refspec must not start with '-'")
    args = ["--quiet", "--no-tags", "--no-recurse-submodules"]
    if unshallow:
        args.append("--unshallow")
    elif depth is not None:
        args.append(f"--depth={depth}")
    with _opened(repo) as r:
        try:
            r.git.fetch(*args, remote, *refspecs, stdin=None)
        except gitpython.GitCommandError:
            return False
    return True


def has_staged_changes(repo: Path) -> bool:
    """Whether the index differs from HEAD (from the empty tree in a repository without commits)."""
    return _call(["diff", "--cached", "--quiet", "--no-ext-diff"], repo).returncode != 0


def current_branch(repo: Path) -> str:
    return run(["rev-parse", "--abbrev-ref", "HEAD"], repo, check=False).strip() or "HEAD"


def verify_commit(repo: Path, rev: str) -> str:
    if rev.startswith("-"):
        raise UsageError(f"revision {rev!r} must not start with '-'")
    proc = _call(["rev-parse", "--verify", "-q", f"{rev}^{{commit}}"], repo)
    if proc.returncode != 0:
        raise GitError(f"unknown revision {rev!r} in {repo}; fetch it first (for a PR: git fetch origin BASE HEAD)")
    return proc.stdout.decode().strip()


def ls_files(repo: Path, paths: list[str]) -> list[str]:
    """Tracked files plus untracked ones that are not ignored, relative to the repository root."""
    out = run(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--full-name", "--", *paths], repo)
    seen: dict[str, None] = {}
    for p in out.split("\0"):
        if p:
            seen.setdefault(p, None)
    return list(seen)


def is_ignored(repo: Path, path: str) -> bool:
    """Whether git ignores ``path`` (relative to the repository root) and it is not tracked: a file there would not
    reach collaborators or CI."""
    if run(["ls-files", "--full-name", "--", path], repo, check=False).strip():
        return False
    return _call(["check-ignore", "-q", "--", path], repo).returncode == 0


def ref_targets(repo: Path, patterns: tuple[str, ...] = ("refs/heads", "refs/remotes", "refs/tags")
                ) -> list[tuple[str, str]]:
    """(refname, commit sha) for every ref under ``patterns``; annotated tags peeled; non-commit targets skipped."""
    refs: list[tuple[str, str]] = []
    for name, otype, oid, ptype, poid in _ref_objects(repo, patterns):
        if name.endswith("/HEAD") and name.startswith("refs/remotes/"):
            continue  # origin/HEAD is an alias of a real remote-tracking ref
        if otype == "commit":
            refs.append((name, oid))
        elif otype == "tag" and ptype == "commit":
            refs.append((name, poid))
    return refs


def _ref_objects(repo: Path, patterns: tuple[str, ...] = ()) -> list[tuple[str, str, str, str, str]]:
    """(refname, object type, object id, peeled type, peeled id) of every ref under ``patterns`` (every ref
    without), in refname order; the peeled fields are empty unless the ref names an annotated tag.

    One ``git for-each-ref``, not GitPython's refs: GitPython resolves each ref by reading packed-refs from the
    top, so a repository whose refs are packed costs it quadratic time (the 4,515 refs of a psf/requests mirror:
    about 120 s, against 0.6 s here)."""
    out = run(["for-each-ref", "--format=%(refname)\x01%(objecttype)\x01%(objectname)\x01%(*objecttype)\x01"
               "%(*objectname)", *patterns], repo)
    rows: list[tuple[str, str, str, str, str]] = []
    for line in out.splitlines():
        name, otype, oid, ptype, poid = (line.split("\x01") + [""] * 5)[:5]
        rows.append((name, otype, oid, ptype, poid))
    return rows




def head_sha(repo: Path) -> str | None:
    """The commit HEAD names; None before the first commit. One ``git rev-parse``: exposure asks it on every run,
    where importing GitPython would cost more than the question."""
    proc = _call(["rev-parse", "-q", "--verify", "HEAD^{commit}"], repo)
    out = proc.stdout.decode().strip()
    if proc.returncode == 0 and out:
        return out
    if _call(["rev-parse", "--git-dir"], repo).returncode != 0:
        raise GitError(f"{repo} is not a git repository")
    return None  # an unborn branch


def common_git_dir(repo: Path) -> Path:
    """The repository's .git directory (shared by all worktrees), absolute."""
    out = run(["rev-parse", "--git-common-dir"], repo).strip()
    p = Path(out)
    return (p if p.is_absolute() else repo / p).resolve()


def dirty_tracked(repo: Path) -> list[str]:
    """Tracked files with uncommitted changes (staged or not); untracked files do not count."""
    out = run(["status", "--porcelain", "-z", "--untracked-files=no"], repo)
    return [e[3:] for e in out.split("\0") if len(e) > 3]


def uncommitted(repo: Path) -> tuple[list[str], list[str]]:
    """(staged, unstaged): tracked files whose index differs from HEAD, and those whose work tree differs from the
    index (a file can be in both). Paths are relative to the work tree's top."""
    out = run(["status", "--porcelain", "-z", "--untracked-files=no"], repo)
    staged: list[str] = []
    unstaged: list[str] = []
    entries = iter(out.split("\0"))
    for e in entries:
        if len(e) < 4:
            continue
        if e[0] in "RC":
            next(entries, None)  # -z puts a rename's or copy's source path in an entry of its own
        if e[0] not in " ?":
            staged.append(e[3:])
        if e[1] not in " ?":
            unstaged.append(e[3:])
    return staged, unstaged


def clone_mirror(src: Path, dest: Path) -> None:
    """A fresh, fully packed mirror clone (every ref of ``src``), so history can be rewritten away from it."""
    run(["clone", "--quiet", "--mirror", "--no-local", "--", str(src), str(dest)], src.parent)


def designated_repository(cwd: Path, env: dict[str, str], key: str) -> tuple[str | None, Path | None, bool]:
    """What a git started in ``cwd`` with ``env`` added to the clean environment (``{"GIT_DIR": …}``) works on: the
    value of config ``key`` there (None when unset), its git directory (None when there is none) and whether it is
    bare. Checks that a tool about to rewrite history with that environment can only reach the intended copy."""
    conf = _call_env(["config", "--get", key], cwd, env)
    where = _call_env(["rev-parse", "--absolute-git-dir", "--is-bare-repository"], cwd, env)
    lines = where.stdout.decode("utf-8", "replace").splitlines()
    value = conf.stdout.decode("utf-8", "replace").strip() if conf.returncode == 0 else None
    return value, Path(lines[0]).resolve() if lines else None, lines[1:] == ["true"]


def remote_names(repo: Path) -> list[str]:
    """The configured remotes, as ``git remote`` lists them."""
    with _opened(repo) as r:
        return sorted(remote.name for remote in r.remotes)


def move_refs(repo: Path, old_prefix: str, new_prefix: str) -> int:
    """Rename every ref under ``old_prefix`` to ``new_prefix`` in one transaction; returns how many moved."""
    out = run(["for-each-ref", "--format=%(refname) %(objectname) %(symref)", old_prefix], repo)
    lines: list[str] = []
    for row in out.splitlines():
        name, oid, symref = [*row.split(" "), "", ""][:3]
        if symref:  # origin/HEAD: an alias, dropped
            lines.append(f"delete {name}")
            continue
        lines.append(f"create {new_prefix}{name[len(old_prefix):]} {oid}")
        lines.append(f"delete {name} {oid}")
    if lines:
        run(["update-ref", "--no-deref", "--stdin"], repo, stdin="\n".join(lines).encode() + b"\n")
    return sum(1 for x in lines if x.startswith("create "))


# ----------------------------------------------------------------------------------- fleet: clones of other repos

def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """A clone URL without its ``user:password@`` part, and the git config (as GIT_CONFIG_* environment variables)
    that presents those credentials: a credential never goes on git's command line (``ps`` shows it) nor into the
    clone's ``.git/config``."""
    from base64 import b64encode
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, {}
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    header = "Authorization: Basic " + b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
    env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader", "GIT_CONFIG_VALUE_0": header}
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), env


def clone_or_update(url: str, dest: Path) -> Path:
    """A clone of ``url`` at ``dest`` (no checkout: only history is scanned), fetched again if it exists.

    Branches and tags only (``--no-checkout`` clone, then ``fetch --prune --tags``), not a host's pull-request refs.
    Errors name the repository by its URL without credentials."""
    bare_url, extra = split_credentials(url)
    if (dest / ".git").is_dir():
        proc = _call_env(["fetch", "--quiet", "--prune", "--tags", "--force", "origin"], dest, extra)
        what = "fetch"
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + f".partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        proc = _call_env(["clone", "--quiet", "--no-checkout", "--", bare_url, str(tmp)], dest.parent, extra)
        if proc.returncode == 0:
            shutil.rmtree(dest, ignore_errors=True)
            os.replace(tmp, dest)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        what = "clone"
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        fatal = [m for m in msg if m.startswith(("fatal:", "error:"))] or msg
        first = fatal[0] if fatal else f"exit {proc.returncode}"
        from urllib.parse import unquote, urlsplit

        password = unquote(urlsplit(url).password or "")
        for secret in filter(None, (url, extra.get("GIT_CONFIG_VALUE_0"), password)):
            first = first.replace(secret, "<redacted>")
        raise GitError(f"git {what} of {bare_url} failed: {first}")
    return dest


def ref_tips(repo: Path) -> list[str]:
    """The commit of every branch, remote-tracking branch and tag (what ``--all`` walks), deduplicated."""
    tips: dict[str, None] = {}
    for _, kind, oid, peeled_kind, peeled in _ref_objects(repo):
        if kind == "commit":
            tips.setdefault(oid, None)
        elif kind == "tag" and peeled_kind == "commit":  # a tag of a tree or blob has no history
            tips.setdefault(peeled, None)
    return list(tips)

# ------------------------------------------------------------------------------------------- the bot's writes

def worktree_add(repo: Path, dest: Path, sha: str) -> None:
    """A detached worktree of ``sha`` at ``dest`` (the bot fixes there, never in the checkout it scanned)."""
    run(["worktree", "add", "--detach", "--quiet", str(dest), sha], repo)


def worktree_remove(repo: Path, dest: Path) -> None:
    _call(["worktree", "remove", "--force", str(dest)], repo)
    _call(["worktree", "prune"], repo)


def commit_all(repo: Path, message: str, name: str, email: str, exclude: tuple[str, ...] = ()) -> str | None:
    """Commit every change in the work tree but the paths under ``exclude`` as ``name <email>`` (author and
    committer); the new commit's sha, or None when there was nothing to commit."""
    run(["add", "-A", "--", ".", *(f":(exclude){p}" for p in exclude)], repo)
    if not run(["diff", "--cached", "--name-only"], repo).strip():
        return None
    ident = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
             "GIT_COMMITTER_EMAIL": email}
    proc = _call_env(["commit", "--quiet", "--no-verify", "-m", message], repo, ident)
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git commit failed: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return run(["rev-parse", "HEAD"], repo).strip()


def push(repo: Path, remote: str, sha: str, ref: str) -> None:
    """Push ``sha`` to ``ref`` on ``remote``; never forced, so work someone else pushed there is never lost.

    A refusal raises :class:`GitError` with the server's reason (the ``[remote rejected]`` or ``[rejected]`` line
    and the ``remote:`` lines before it), not only git's closing "failed to push" line."""
    proc = _call(["push", "--porcelain", remote, f"{sha}:{ref}"], repo)
    if proc.returncode == 0:
        return
    lines = (proc.stdout + proc.stderr).decode("utf-8", "replace").splitlines()
    said = [ln.strip() for ln in lines if ln.startswith("remote:") and ln[7:].strip()]
    why = [ln.strip() for ln in lines if ln.startswith("!") or "rejected]" in ln]
    last = [ln.strip() for ln in lines if ln.strip()][-1:] or [f"exit {proc.returncode}"]
    raise GitError("git push failed: " + "; ".join([*said[-3:], *why[:1]] or last))


def remote_branch_tip(repo: Path, remote: str, branch: str) -> str | None:
    """The commit ``branch`` points at on ``remote`` now (asked over the network), or None when it has none."""
    out = run(["ls-remote", "--heads", remote, f"refs/heads/{branch}"], repo, check=False).split()
    return out[0] if out else None


def remote_has_branch(repo: Path, remote: str, branch: str) -> bool:
    return remote_branch_tip(repo, remote, branch) is not None


def absolute_git_dir(repo: Path) -> Path | None:
    """The git directory of the work tree at ``repo`` (a linked worktree's own one), or None outside a repository."""
    proc = _call(["rev-parse", "--absolute-git-dir"], repo)
    return Path(proc.stdout.decode().strip()) if proc.returncode == 0 else None
