"""Vaults: where secret values live once they leave the repository.

Every backend implements :class:`Vault`. Callers plan with :meth:`Vault.reference_for`, store with
:meth:`Vault.put` (which reads the value back and compares before returning), list with :meth:`Vault.names`
(names and references, never values) and resolve at runtime with :func:`resolve_reference`.

The local vault's namespace for a repository is decided once, in :mod:`remediate.vault.identity` (a registry
outside every repository; :func:`default_namespace` reads it, the first write for the repository records it): it
is the boundary of an agent's runs, so no file in the repository decides it on its own.

Backends are imported lazily: ``cryptography`` and ``keyring`` cost import time that ``unleak scan`` must not pay.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from remediate.vault.entry import SecretEntry, find_repo_root
from remediate.vault.identity import NamespaceChoice, namespace_owner, repository_namespace, sanitize_namespace
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
    "NamespaceChoice",
    "Reference",
    "SecretEntry",
    "Vault",
    "VaultError",
    "default_namespace",
    "directory_namespace",
    "find_repo_root",
    "format_reference",
    "is_reference",
    "namespace_owner",
    "open_vault",
    "parse_reference",
    "repository_namespace",
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


def default_namespace(repo_path: str | os.PathLike[str] | None = None) -> str:
    """The local-vault namespace of the repository containing ``repo_path`` (default: the current directory), as
    the repository registry decides it without writing anything (see :mod:`remediate.vault.identity`). This is
    the agent's own namespace in run checks: nothing in the repository's files moves it into another
    repository's namespace."""
    return repository_namespace(repo_path, takeover=False).namespace


def directory_namespace(repo_path: str | os.PathLike[str] | None = None) -> str:
    """The repository's directory name as a namespace: the default 1Password vault name (a vault a human created
    and named; no registry involved)."""
    start = Path(repo_path) if repo_path is not None else Path.cwd()
    return sanitize_namespace((find_repo_root(start) or start.resolve()).name)


def open_vault(
    scheme: str = UNLEAK_SCHEME,
    namespace: str | None = None,
    repo_path: str | os.PathLike[str] | None = None,
    *,
    register: bool = False,
    takeover: bool = True,
    **opts: Any,
) -> Vault:
    """Open the vault backend ``scheme`` for ``namespace``.

    The local vault's default namespace is the repository's (:func:`remediate.vault.identity.repository_namespace`
    of ``repo_path``), and the first write registers the repository under it; ``register`` does the same for an
    explicit ``namespace`` (the write fails if the repository's namespace is another). ``takeover``: the
    repository may take the namespace of a registered repository that no longer exists (pass False where an
    agent chooses the repository). 1Password's default vault is the repository's directory name.

    Options: unleak — ``data_dir`` (default: the user data dir), ``use_keyring`` (default: auto);
    op — ``op_vault`` (1Password vault name, default: the namespace), ``op_path`` (default: ``op`` on PATH);
    github (write-only Actions secrets; namespace ``OWNER/REPO``) — ``token``, ``api_url``, ``environment``.
    """
    if scheme == "github":
        from remediate.vault.github import GitHubSecretsVault

        repo = namespace or os.environ.get("GITHUB_REPOSITORY", "")
        return GitHubSecretsVault(repo, **opts)
    if scheme == UNLEAK_SCHEME:
        from remediate.vault.local import LocalVault

        if namespace is None:
            choice = repository_namespace(repo_path, takeover=takeover, data_dir=opts.get("data_dir"))
            namespace, register = choice.namespace, True
        claim = (Path(repo_path) if repo_path is not None else Path.cwd()) if register else None
        vault: Vault = LocalVault(namespace, repo_path=repo_path, claim=claim, takeover=takeover, **opts)
        return vault
    if scheme == OP_SCHEME:
        from remediate.vault.onepassword import OnePasswordVault

        return OnePasswordVault(namespace if namespace is not None else directory_namespace(repo_path), **opts)
    raise UsageError(f"unknown vault backend {scheme!r}; choose one of: {', '.join(SCHEMES)}")


def resolve_reference(reference: str) -> str:
    """The value behind ``reference``, from whichever backend its scheme names. Used by ``unleak run``."""
    ref = parse_reference(reference)
    if ref.scheme == UNLEAK_SCHEME:
        return open_vault(UNLEAK_SCHEME, namespace=ref.namespace).get(reference)
    if ref.scheme == OP_SCHEME:
        return open_vault(OP_SCHEME, namespace=sanitize_namespace(ref.vault), op_vault=ref.vault).get(reference)
    raise BadReferenceError(f"no vault backend for {reference!r}")  # pragma: no cover — parse rejects others

