"""Vaults: where secret values live once they leave the repository.

Every backend implements :class:`Vault`. Callers plan with :meth:`Vault.reference_for`, store with
:meth:`Vault.put` (which reads the value back and compares before returning), list with :meth:`Vault.names`
(names and references, never values) and resolve at runtime with :func:`resolve_reference`.

Backends are imported lazily: ``cryptography`` and ``keyring`` cost import time that ``unleak scan`` must not pay.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from remediate.vault.entry import SecretEntry, find_repo_root
from remediate.vault.refs import (
    OP_SCHEME,
    SCHEMES,
    UNLEAK_SCHEME,
    Reference,
    format_reference,
    is_reference,
    parse_reference,
)
from scanner.errors import BadReferenceError, UsageError, VaultError

__all__ = [
    "OP_SCHEME",
    "UNLEAK_SCHEME",
    "Reference",
    "SecretEntry",
    "Vault",
    "VaultError",
    "default_namespace",
    "find_repo_root",
    "format_reference",
    "is_reference",
    "open_vault",
    "parse_reference",
    "resolve_reference",
    "sanitize_namespace",
]

@runtime_checkable
class Vault(Protocol):
    """A place to store secret values by name.

    Values enter through :meth:`put` and leave only through :meth:`get`, which only the runtime injector
    (``unleak run``) calls. No method's return value other than :meth:`get` carries a value, and no error
    message does.
    """

    scheme: str
    namespace: str

    def reference_for(self, name: str) -> str:
        """The reference :meth:`put` would return for ``name`` (validates the name; stores nothing)."""
        ...

    def put(self, name: str, value: str, *, overwrite: bool = True) -> str:
        """Store ``value`` under ``name``, read it back, and return the reference.

        Putting the same value again changes nothing. With ``overwrite=False`` an existing *different* value
        raises :class:`VaultError` instead of being replaced.
        """
        ...

    def get(self, reference: str) -> str:
        """The value behind ``reference``. Runtime use only: the result must go to a child's environment."""
        ...

    def names(self) -> list[SecretEntry]:
        """Every entry in this vault's namespace, sorted by name."""
        ...

    def delete(self, name: str) -> None:
        """Remove ``name``; :class:`VaultError` if there is no such entry."""
        ...


def sanitize_namespace(raw: str) -> str:
    """A directory or repository name as a namespace: lower case, ``[a-z0-9._-]``, runs of ``-`` collapsed, no
    leading or trailing punctuation, at most 64 characters; ``default`` when nothing is left. The one definition:
    the Action plans its suggested references with it, and the vault stores under it."""
    ns = re.sub(r"[^a-z0-9._-]+", "-", raw.lower())
    ns = re.sub(r"-{2,}", "-", ns).lstrip("._-")[:64].rstrip("._-")
    return ns or "default"


def default_namespace(repo_path: str | os.PathLike[str] | None = None) -> str:
    """The repository's directory name (top of the working tree), lower-cased and reduced to
    ``[a-z0-9._-]``; outside a repository, the name of ``repo_path`` (or the current directory)."""
    start = Path(repo_path) if repo_path is not None else Path.cwd()
    root = find_repo_root(start) or start.resolve()
    return sanitize_namespace(root.name)


def open_vault(
    scheme: str = UNLEAK_SCHEME,
    namespace: str | None = None,
    repo_path: str | os.PathLike[str] | None = None,
    **opts: Any,
) -> Vault:
    """Open the vault backend ``scheme`` for ``namespace`` (default: :func:`default_namespace` of ``repo_path``).

    Options: unleak — ``data_dir`` (default: the user data dir), ``use_keyring`` (default: auto);
    op — ``op_vault`` (1Password vault name, default: the namespace), ``op_path`` (default: ``op`` on PATH);
    github (write-only Actions secrets; namespace ``OWNER/REPO``) — ``token``, ``api_url``, ``environment``.
    """
    if scheme == "github":
        from remediate.vault.github import GitHubSecretsVault

        repo = namespace or os.environ.get("GITHUB_REPOSITORY", "")
        return GitHubSecretsVault(repo, **opts)
    ns = namespace if namespace is not None else default_namespace(repo_path)
    if scheme == UNLEAK_SCHEME:
        from remediate.vault.local import LocalVault

        vault: Vault = LocalVault(ns, repo_path=repo_path, **opts)
        return vault
    if scheme == OP_SCHEME:
        from remediate.vault.onepassword import OnePasswordVault

        return OnePasswordVault(ns, **opts)
    raise UsageError(f"unknown vault backend {scheme!r}; choose one of: {', '.join(SCHEMES)}")


def resolve_reference(reference: str) -> str:
    """The value behind ``reference``, from whichever backend its scheme names. Used by ``unleak run``."""
    ref = parse_reference(reference)
    if ref.scheme == UNLEAK_SCHEME:
        return open_vault(UNLEAK_SCHEME, namespace=ref.namespace).get(reference)
    if ref.scheme == OP_SCHEME:
        return open_vault(OP_SCHEME, namespace=sanitize_namespace(ref.vault), op_vault=ref.vault).get(reference)
    raise BadReferenceError(f"no vault backend for {reference!r}")  # pragma: no cover — parse rejects others

