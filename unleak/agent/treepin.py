"""What a pinned grant is bound to: the repository's files and the reference file as the human approved them.

GitHub environments bind an approval to a commit; an agent in an edit-test loop has no commit to bind to, so a
pinned grant carries a fingerprint of the working tree instead: every file git tracks or would track (untracked
files that are not ignored count: a new ``conftest.py`` changes what ``pytest`` runs as much as an edited one) and
the reference file. Editing, adding, removing or renaming any of them voids the grant. Unpinned grants stay for
dev-tier secrets, where the edit-test loop is the point.

Contents are read here, never through git: git would run the repository's own clean filters and fsmonitor, which
the agent writes, in the human's ``unleak approve``.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

_CHUNK = 1 << 20


def _file_digest(path: str) -> bytes:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return b"missing"
    except OSError:
        return b"unreadable"
    if stat.S_ISLNK(st.st_mode):
        return b"link:" + os.fsencode(os.readlink(path))
    if not stat.S_ISREG(st.st_mode):
        return b"special"
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    except OSError:
        return b"unreadable"
    mode = b"x" if st.st_mode & 0o111 else b"-"
    return mode + h.digest()


def fingerprint(repo: str | Path, env_file: str | Path | None = None) -> str:
    """sha256 over (path, mode, content) of every file of ``repo`` git tracks or would track, and ``env_file``."""
    from scanner import git

    root = Path(repo)
    h = hashlib.sha256(b"unleak-tree-v1\0")
    # core.fsmonitor off: it names a command (the agent's, here) that git would run in the human's process.
    listed = git.run(["-c", "core.fsmonitor=false", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                      "--full-name"], root)
    for rel in sorted(set(filter(None, listed.split("\0")))):
        h.update(os.fsencode(rel) + b"\0" + _file_digest(str(root / rel)) + b"\0")
    if env_file is not None:
        real = os.path.realpath(env_file)  # one spelling of the path, whichever way the caller reached it
        h.update(b"\0env\0" + os.fsencode(real) + b"\0" + _file_digest(real))
    return h.hexdigest()


def approval_kind(tier: str) -> str:
    """What approving a request for ``tier`` makes, as the approval page and ``unleak approve`` say it."""
    if tier == "dev":
        return ("unpinned unless you approve with --pinned: an unpinned grant keeps covering this command while "
                "the agent edits code (dev tier); --pinned binds it to the repository's files as they are now")
    return (f"pinned ({tier} tier: approve with --pinned): the grant covers the repository's files and reference "
            "file as they are now, and editing any of them voids it")


def grant_kind(tree: str | None) -> str:
    """How a grant made is bound, in one phrase."""
    if tree is None:
        return "unpinned: it follows the code as the agent edits it"
    return "pinned to the repository as it is now: editing, adding or removing a file voids it"
