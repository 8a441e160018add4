"""The one user-facing error family. Messages say what to do next and never carry a secret value."""

from __future__ import annotations


class UnleakError(Exception):
    """An error the user can act on. The CLI maps it to an exit code (2 unless a subclass says otherwise)."""

    exit_code = 2


class UsageError(UnleakError):
    """Bad flags, paths or arguments."""


class ConfigError(UnleakError):
    """A malformed config or baseline file; the message names the file and the key."""


class GitError(UnleakError):
    """git is missing, the directory is not a repository, or a revision does not exist."""


class VaultError(UnleakError):
    """A vault backend could not store, read or delete a value."""


class BadReferenceError(UnleakError):
    """A secret reference is malformed or cannot be resolved."""


class PolicyError(UnleakError):
    """An action is refused by policy or lacks a grant."""
