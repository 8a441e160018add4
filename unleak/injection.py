"""What ``unleak run`` gives a child: the reference files read (python-dotenv), every reference resolved through the
vault before anything starts, and the child's environment built (:func:`prepare`). An unknown reference raises
:class:`~scanner.errors.BadReferenceError` naming the variable and the reference, never a value."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from remediate.vault.refs import LEGACY_REFERENCE_FILE, REFERENCE_FILE, REFERENCE_PREFIXES
from scanner.errors import BadReferenceError, UnleakError, UsageError
from unleak.masking import names_too_short
from unleak.reaper import exit_status as exit_status  # re-exported: callers use run.exit_status

#: set in the child's environment so programs (and nested ``unleak run``) know the values are injected
MARKER = "UNLEAK_RUN"

Resolver = Callable[[str], str]
IsReference = Callable[[str], bool]


@dataclass(frozen=True)
class InjectionPlan:
    """What a child gets. ``repr`` shows names only: values never appear in a log or a traceback."""

    env: Mapping[str, str] = field(repr=False)
    secrets: Mapping[str, str] = field(repr=False)
    plain: tuple[str, ...] = ()
    sources: tuple[Path, ...] = ()
    #: plain (non-reference) values whose names say they are secrets: masked too, and the user is told to fix
    plaintext: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def masked(self) -> dict[str, str]:
        """Every value the output masker replaces: resolved references and plaintext secret-named values."""
        return {**self.plaintext, **self.secrets}

    @property
    def secret_names(self) -> tuple[str, ...]:
        return tuple(sorted(self.secrets))

    @property
    def unmasked(self) -> tuple[str, ...]:
        """Names whose values are too short to mask; the caller warns the user about them."""
        return names_too_short(self.masked)

    def __repr__(self) -> str:
        return (
            f"InjectionPlan(secrets={list(self.secret_names)!r}, plain={list(self.plain)!r}, "
            f"plaintext={sorted(self.plaintext)!r}, sources={[str(p) for p in self.sources]!r})"
        )


# A plain value under a name like these is most likely a secret nobody has moved to the vault yet.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|CREDENTIAL|PRIVATE|DSN", re.IGNORECASE)
_NOT_SECRET_VALUE = re.compile(r"(?i)true|false|yes|no|on|off|none|null|[0-9.]+|\$\{[^}]*\}")


def plaintext_secrets(plain: Mapping[str, str]) -> dict[str, str]:
    """Plain values that look like secrets by their variable's name (``API_KEY=...`` still in clear in the
    reference file): the output masks them as well, and the caller tells the user to run ``unleak fix``."""
    return {
        name: value
        for name, value in plain.items()
        if _SECRET_NAME.search(name) and len(value) >= 8 and not _NOT_SECRET_VALUE.fullmatch(value)
    }


# ------------------------------------------------------------------------------------------ reference files


def default_env_file(cwd: Path) -> Path | None:
    """The reference file a run reads when none is named: ``.env.unleak`` in ``cwd``, else at the root of the git
    work tree that contains ``cwd``; without one, ``.env`` looked for the same way (references written before
    ``.env.unleak`` existed, and plain values)."""
    roots = [cwd]
    for parent in (cwd, *cwd.parents):
        if (parent / ".git").exists():
            if parent != cwd:
                roots.append(parent)
            break
    for name in (REFERENCE_FILE, LEGACY_REFERENCE_FILE):
        for root in roots:
            if (root / name).is_file():
                return root / name
    return None


def read_reference_files(paths: Sequence[Path], interpolate: bool = True) -> dict[str, str]:
    """Variables of all files in order (a later file wins); keys without ``=`` carry nothing, so skip them.
    ``interpolate=False`` keeps ``${VAR}`` as written: for answers to an agent, which must not carry this process's
    environment (the file is the agent's to write)."""
    from dotenv import dotenv_values

    merged: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise UsageError(f"reference file not found: {path}; pass an existing file with --env-file")
        try:
            # Interpolate ${VAR} like load_dotenv() does, so the program sees the same plain values it saw
            # when it read the file itself (the injected ones win, so its own load_dotenv cannot redo this).
            values = dotenv_values(path, interpolate=interpolate)
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"cannot read reference file {path} ({type(exc).__name__}); is it a text .env file?"
            ) from None
        for key, value in values.items():
            if value is not None:
                merged[key] = value
    return merged


def _default_resolver() -> tuple[Resolver, IsReference]:
    # Imported here so `unleak run --help` and the scanner never pay for the vault's crypto imports.
    from remediate.vault import resolve_reference
    from remediate.vault.refs import is_reference

    return resolve_reference, is_reference


def resolve_values(
    variables: Mapping[str, str],
    resolver: Resolver | None = None,
    is_reference: IsReference | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Split variables into (resolved secrets, plain values).

    Every reference is resolved here, before any child starts; failures are collected so one run names every
    bad reference at once (by variable and reference, never by value).
    """
    if resolver is None or is_reference is None:
        default_resolve, default_is_ref = _default_resolver()
        resolver = resolver or default_resolve
        is_reference = is_reference or default_is_ref
    secrets: dict[str, str] = {}
    plain: dict[str, str] = {}
    problems: list[str] = []
    for name, value in variables.items():
        # A value that starts like a reference but does not parse is a broken reference, not a plain value:
        # passing "unleak://typo" to the program would fail much later and much less clearly.
        if not (is_reference(value) or value.startswith(REFERENCE_PREFIXES)):
            plain[name] = value
            continue
        try:
            secrets[name] = resolver(value)
        except UnleakError as exc:
            problems.append(f"{name}={value} ({exc})")
    if problems:
        raise BadReferenceError(
            "cannot resolve " + "; ".join(problems) + ". The command was not started; store the value with "
            "`unleak fix` or correct the reference."
        )
    return secrets, plain


def build_env(
    base: Mapping[str, str], injected: Mapping[str, str], *, override: bool = True
) -> dict[str, str]:
    """The child's environment: ``base``, then ``injected`` (winning unless ``override`` is false), then the
    marker."""
    env = dict(base)
    for name, value in injected.items():
        if override or name not in env:
            env[name] = value
    env[MARKER] = "1"
    return env


def reference_sources(env_files: Sequence[Path], cwd: Path) -> tuple[Path, ...]:
    """The reference files a run reads: the given ones (relative to ``cwd``), else the default one
    (:func:`default_env_file`)."""
    if env_files:
        return tuple(p if p.is_absolute() else cwd / p for p in env_files)
    found = default_env_file(cwd)
    if found is None:
        raise UsageError(
            f"no reference file: there is no {REFERENCE_FILE} (nor {LEGACY_REFERENCE_FILE}) in this directory or "
            "at the repository root; run `unleak fix` to write one, or pass one with --env-file FILE"
        )
    return (found,)


def prepare(
    env_files: Sequence[Path] = (),
    *,
    cwd: Path | None = None,
    base_env: Mapping[str, str] | None = None,
    override: bool = True,
    resolver: Resolver | None = None,
    is_reference: IsReference | None = None,
    variables: Mapping[str, str] | None = None,
) -> InjectionPlan:
    """Read, resolve and merge: everything that can fail happens here, before a child exists.

    ``variables`` are the files' contents as already read by a caller that checked them against a grant: the
    file is not read again, so it cannot be swapped between the check and the run."""
    cwd = cwd or Path.cwd()
    sources = reference_sources(env_files, cwd)
    if variables is None:
        variables = read_reference_files(sources)
    secrets, plain = resolve_values(variables, resolver, is_reference)
    env = build_env(os.environ if base_env is None else base_env, {**plain, **secrets}, override=override)
    return InjectionPlan(
        env=env, secrets=secrets, plain=tuple(sorted(plain)), sources=sources, plaintext=plaintext_secrets(plain)
    )
