"""Which local-vault namespace belongs to a repository: a registry outside every repository, keyed by where the
repository really is.

The namespace is a security boundary, not a label: an agent's run may only use ``unleak://`` references of its own
repository's namespace. The agent can edit every file of its repository — ``.git/config`` (so the origin URL), the
``.git`` file of a worktree, the committed reference files — and can create directories of any name. So nothing
it writes decides the namespace on its own:

- ``<user data dir>/repositories.json`` (0600, in the vault's private directory, which ``unleak agent``'s sandbox
  denies) maps a repository key to ``{namespace, path, created}``. The key is the real path of the repository's
  git common directory (a checkout and its linked worktrees share it), accepted only when that directory lists
  the work tree (see :func:`scanner.git.repository_identity`); outside git, or when git's answer does not hold
  together, the directory's real path.
- A registered repository has its namespace, full stop. An unregistered one gets a *candidate*:

  a. a namespace its reference files (``.env.unleak``, ``.env``) use, so every clone agrees with the references
     it commits — only when no other live registered repository owns it, and the vault has no entries under it
     yet, or it is the directory's name (the old rule, see b), or it is this repository's own derived name (c),
     or (when registering) its owner's repository is gone (a moved repository taking back its namespace);
  b. the directory's name when a vault file of that name exists and nobody else owns it: vaults made before this
     registry keep working;
  c. ``<directory name>-<6 hex of the key's hash>``: derived from where the repository is, so a plan and the fix
     that follows agree, and two repositories called ``app`` differ.

Writing to the vault for "this repository" registers the choice (``register=True``); checks and listings never
write. Taking over a record whose repository is gone, and recording a vault of the directory's name (b), are for
commands a human runs (``takeover=True``): otherwise an agent could adopt the namespace of a repository that was
moved, or claim for good a vault that predates the registry, from a directory of its own with references it
wrote. ``unleak agent`` registers the repository it starts in, so the human's project holds its old vault first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from remediate.vault.entry import find_repo_root
from remediate.vault.privatefs import (
    atomic_write,
    check_private_dir,
    ensure_private_dir,
    flocked,
    read_private,
    user_data_dir,
)
from remediate.vault.refs import LEGACY_REFERENCE_FILE, NAME_RE, NAMESPACE_RE, REFERENCE_FILE
from scanner.errors import VaultError

REGISTRY = "repositories.json"
_FORMAT = "unleak-repositories"
_VERSION = 1
#: the files whose references a clone adopts its namespace from, in the order they are read
REFERENCE_FILES = (REFERENCE_FILE, LEGACY_REFERENCE_FILE)
_MAX_REFERENCE_FILE = 1 << 20
_UNLEAK_REF = re.compile(rf"unleak://({NAMESPACE_RE.pattern})/{NAME_RE.pattern}")

#: where a choice comes from, as ``unleak secrets list`` says it
SOURCES = {
    "registered": "registered for {path}",
    "references": "adopted from the references in {files}",
    "legacy": "the directory's name (a vault made before repositories were registered)",
    "new": "new for this repository",
}


@dataclass(frozen=True)
class NamespaceChoice:
    """A repository's namespace and why: ``source`` is one of :data:`SOURCES`; ``path`` is the work tree recorded
    for a registered repository (else this one); ``registered`` whether the registry holds it now."""

    namespace: str
    source: str
    path: str
    key: str
    registered: bool

    def describe(self) -> str:
        return SOURCES[self.source].format(path=self.path, files=" / ".join(REFERENCE_FILES))


def sanitize_namespace(raw: str) -> str:
    """A directory or repository name as a namespace: lower case, ``[a-z0-9._-]``, runs of ``-`` collapsed, no
    leading or trailing punctuation, at most 64 characters; ``default`` when nothing is left. The one definition:
    the Action plans its suggested references with it, and the vault stores under it."""
    ns = re.sub(r"[^a-z0-9._-]+", "-", raw.lower())
    ns = re.sub(r"-{2,}", "-", ns).lstrip("._-")[:64].rstrip("._-")
    return ns or "default"


def repository_key(start: Path) -> tuple[Path, str]:
    """(the repository's root, its registry key) for ``start``: see the module docstring."""
    from scanner import git

    ident = git.repository_identity(start)
    if ident is not None:
        return ident[0], str(ident[1])
    root = find_repo_root(start) or start.resolve()
    return root, str(root)


def repository_namespace(
    repo: str | os.PathLike[str] | None = None, *, register: bool = False, takeover: bool | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> NamespaceChoice:
    """The local-vault namespace of the repository containing ``repo`` (default: the current directory).

    ``register``: record the choice (under the registry's lock) when the repository is not registered yet; callers
    that are about to write to the vault for this repository pass it. ``takeover`` (default: ``register``): the
    caller may claim a namespace whose vault exists without proof that this repository made it — one registered
    to a repository that no longer exists (a moved repository), or a vault named after the directory made before
    the registry (recorded only with ``takeover``; used unrecorded without). Pass False where an agent chooses
    the repository. Without ``register`` nothing is written.
    """
    start = Path(repo) if repo is not None else Path.cwd()
    root, key = repository_key(start)
    data = Path(data_dir) if data_dir is not None else user_data_dir()
    take = register if takeover is None else takeover
    if not register:
        return _choose(_load(data), root, key, data, take)
    ensure_private_dir(data)
    with flocked(data / "repositories.lock"):
        for tmp in data.glob(f".{REGISTRY}.*.tmp"):  # under the lock: left by a writer that died mid-write
            with contextlib.suppress(OSError):
                tmp.unlink()
        records = _load(data)
        choice = _choose(records, root, key, data, take)
        # A vault named after the directory proves nothing about which directory of that name made it: recorded
        # only for a caller that may take over (a human's command), else used as it is and left unclaimed.
        if not choice.registered and (take or choice.source != "legacy"):
            for other in [k for k, r in records.items() if r["namespace"] == choice.namespace]:
                del records[other]  # a record whose repository is gone (``_choose`` took over no live one)
            records[key] = {"namespace": choice.namespace, "path": str(root),
                            "created": datetime.now(UTC).isoformat(timespec="seconds")}
            _store(data, records)
            choice = NamespaceChoice(choice.namespace, choice.source, choice.path, key, True)
        return choice


def registered_repositories(data_dir: str | os.PathLike[str] | None = None) -> dict[str, dict[str, str]]:
    """Every record of the registry: key -> {namespace, path, created}."""
    return _load(Path(data_dir) if data_dir is not None else user_data_dir())


def namespace_owner(namespace: str, data_dir: str | os.PathLike[str] | None = None) -> str | None:
    """The work tree recorded for the repository that has ``namespace`` registered, or None."""
    return next((r.get("path", k) for k, r in registered_repositories(data_dir).items()
                 if r["namespace"] == namespace), None)


# ------------------------------------------------------------------------------------------------ internals


def _choose(records: dict[str, dict[str, str]], root: Path, key: str, data: Path, takeover: bool) -> NamespaceChoice:
    # A directory registered before it became a git repository (`git init` after a fix) keeps its namespace.
    mine = records.get(key) or records.get(str(root))
    if mine is not None:
        return NamespaceChoice(mine["namespace"], "registered", mine.get("path", key), key, True)
    owners = {r["namespace"]: k for k, r in records.items()}

    def owner(ns: str) -> str | None:
        """'live' when another repository that still exists owns ``ns``, 'stale' when its repository is gone."""
        k = owners.get(ns)
        if k is None:
            return None
        return "live" if os.path.lexists(k) else "stale"

    def vault_exists(ns: str) -> bool:
        return os.path.lexists(data / "vaults" / f"{ns}.vault")

    base = sanitize_namespace(root.name)
    derived = [_derived(base, key, i) for i in range(8)]
    own = next((ns for ns in derived if owner(ns) is None), derived[-1])
    for ns in _referenced_namespaces(root):
        held = owner(ns)
        if held == "live" or (held == "stale" and not takeover):
            continue
        if held == "stale" or not vault_exists(ns) or ns == own:
            return NamespaceChoice(ns, "references", str(root), key, False)
        if ns == base:  # a vault of the directory's name, made before the registry: rule b's case
            return NamespaceChoice(ns, "legacy", str(root), key, False)
    if vault_exists(base) and owner(base) is None:
        return NamespaceChoice(base, "legacy", str(root), key, False)
    return NamespaceChoice(own, "new", str(root), key, False)


def _derived(base: str, key: str, attempt: int) -> str:
    digest = hashlib.sha256(f"{key}\0{attempt}".encode("utf-8", "surrogateescape")).hexdigest()[:6]
    return f"{base[:57].rstrip('._-') or 'default'}-{digest}"


def _referenced_namespaces(root: Path) -> list[str]:
    """The ``unleak://`` namespaces the reference files at ``root`` use, most used first. Only regular files of
    reasonable size are read: the agent can put a FIFO or a device there."""
    seen: Counter[str] = Counter()
    for name in REFERENCE_FILES:
        path = root / name
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_REFERENCE_FILE:
                continue
            text = path.read_text("utf-8", "replace")
        except OSError:
            continue
        seen.update(m.group(1) for m in _UNLEAK_REF.finditer(text))
    return [ns for ns, _ in seen.most_common()]


def _damaged(path: Path, why: str) -> VaultError:
    return VaultError(f"the repository registry {path} is damaged ({why}); restore it from a backup, or move it "
                      "aside (every repository then chooses its namespace again from its references)")


def _load(data: Path) -> dict[str, dict[str, str]]:
    path = data / REGISTRY
    check_private_dir(data)  # as for the vaults: another user's directory could hand us a registry
    try:
        raw = read_private(path)
    except OSError as exc:
        raise VaultError(f"cannot read the repository registry {path}: {exc.strerror}") from None
    if raw is None:
        return {}
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _damaged(path, "not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        raise _damaged(path, "not an unleak repository registry")
    if doc.get("version") != _VERSION:
        raise VaultError(f"the repository registry {path} has format version {doc.get('version')!r}; this unleak "
                         f"reads version {_VERSION} — upgrade unleak")
    repos = doc.get("repositories")
    if not isinstance(repos, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("namespace"), str)
            and NAMESPACE_RE.fullmatch(v["namespace"]) and all(isinstance(x, str) for x in v.values())
            for k, v in repos.items()):
        raise _damaged(path, "unexpected structure")
    return repos


def _store(data: Path, records: dict[str, dict[str, str]]) -> None:
    # ASCII with escapes: a path that is not UTF-8 (its bytes as surrogates) round-trips through json as it is.
    doc = {"format": _FORMAT, "version": _VERSION, "repositories": records}
    atomic_write(data / REGISTRY, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("ascii"))
