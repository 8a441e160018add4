"""Configuration from one place: ``.unleak.toml`` or ``[tool.unleak]`` in ``pyproject.toml``, validated on load.

Errors name the file and the key. Flags beat config beat defaults (the CLI applies flags on top of this).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.errors import ConfigError
from scanner.fileio import read_setting_text
from scanner.finding import Confidence
from scanner.rules import Rule, all_rules, custom_rule

if TYPE_CHECKING:
    from scanner.api import ScanRequest
    from scanner.baseline import Baseline

# Tables other features read; validated by their own code.
_SECTIONS = {"fix", "run", "vault", "action", "verify"}
_KEYS = ({"exclude", "disable", "rules", "baseline", "min-confidence", "max-file-size", "max-archive-depth"}
         | _SECTIONS)


@dataclass(frozen=True)
class Config:
    source: str | None = None
    exclude: tuple[str, ...] = ()
    disable: frozenset[str] = frozenset()
    rules: tuple[Rule, ...] = ()
    baseline: str | None = None
    min_confidence: Confidence | None = None
    max_file_size: int | None = None
    max_archive_depth: int | None = None
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A migrated gitleaks/betterleaks config: what it could not carry over, and its commit allowlists.
    warnings: tuple[str, ...] = ()
    allowed_commits: tuple[tuple[frozenset[str], frozenset[str] | None], ...] = ()


def find_config(root: Path) -> tuple[Path, bool] | None:
    """(path, is_pyproject) of the config that applies to ``root``, or None."""
    for d in (root, *root.parents):
        dot = d / ".unleak.toml"
        if dot.is_file():
            return dot, False
        py = d / "pyproject.toml"
        if py.is_file():
            try:
                if "tool" in (doc := tomllib.loads(read_setting_text(py))) and "unleak" in doc["tool"]:
                    return py, True
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError, RecursionError):
                return py, True  # let load() report the parse error with the file name
        if (d / ".git").exists():
            break
    return None


def load(root: Path, explicit: Path | None = None) -> Config:
    """The unleak config for ``root``, merged with a gitleaks/betterleaks config there (or the explicit file,
    when it is one)."""
    from unleak import gitleaks

    if explicit is not None and gitleaks.is_gitleaks_config(explicit):
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} " + ("is not a regular file" if os.path.lexists(explicit)
                                                            else "does not exist"))
        return _with_gitleaks(_load_own(root, None), explicit)
    cfg = _load_own(root, explicit)
    found = gitleaks.find(root)
    return _with_gitleaks(cfg, found) if found is not None else cfg


def _with_gitleaks(cfg: Config, path: Path) -> Config:
    """``cfg`` plus the rules, allowlists and disabled rules of a gitleaks/betterleaks config."""
    from dataclasses import replace

    from unleak import gitleaks

    mig = gitleaks.load_config(path)
    own = {r.id for r in cfg.rules}
    clash = sorted(own & {r.id for r in mig.rules})
    if clash:
        raise ConfigError(f"{path}: rule id {clash[0]!r} is also defined in {cfg.source}")
    extra = gitleaks.with_global_allowlists(mig, {**all_rules(), **{r.id: r for r in cfg.rules}})
    kept = tuple(r for r in cfg.rules if r.id not in {x.id for x in extra})
    return replace(cfg, source=cfg.source or str(path), rules=kept + tuple(extra),
                   disable=cfg.disable | frozenset(mig.disabled), warnings=cfg.warnings + tuple(mig.warnings),
                   allowed_commits=cfg.allowed_commits + tuple(mig.commits))


def _load_own(root: Path, explicit: Path | None) -> Config:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} " + ("is not a regular file" if os.path.lexists(explicit)
                                                            else "does not exist"))
        found: tuple[Path, bool] | None = (explicit, explicit.name == "pyproject.toml")
    else:
        found = find_config(root)
    if found is None:
        return Config()
    path, is_pyproject = found
    try:
        doc = tomllib.loads(read_setting_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested deeper than a configuration can be") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    if is_pyproject:
        table = doc.get("tool", {}).get("unleak", {})
        prefix = "tool.unleak."
    else:
        table = doc.get("tool", {}).get("unleak", doc) if "tool" in doc else doc
        prefix = ""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: '{prefix.rstrip('.') or 'tool.unleak'}' must be a table")
    return parse(table, str(path), prefix)


def parse(table: dict[str, Any], source: str, prefix: str = "") -> Config:
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key '{prefix}{unknown[0]}' (known: {', '.join(sorted(_KEYS))})")

    def str_list(key: str) -> tuple[str, ...]:
        val = table.get(key, [])
        if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
            raise ConfigError(f"{source}: '{prefix}{key}' must be a list of strings")
        return tuple(val)

    exclude = str_list("exclude")
    disable = str_list("disable")
    known = set(all_rules())
    rules_raw = table.get("rules", [])
    if not isinstance(rules_raw, list) or not all(isinstance(r, dict) for r in rules_raw):
        raise ConfigError(f"{source}: '{prefix}rules' must be an array of tables ([[{prefix}rules]])")
    rules = tuple(custom_rule(f"{source}: {prefix}rules", r) for r in rules_raw)
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"{source}: '{prefix}rules' has duplicate ids")
    for rid in disable:
        if rid not in known and rid not in ids:
            raise ConfigError(f"{source}: '{prefix}disable' names unknown rule {rid!r} (see `unleak rules`)")
    baseline = table.get("baseline")
    if baseline is not None and not isinstance(baseline, str):
        raise ConfigError(f"{source}: '{prefix}baseline' must be a path string")
    mc = table.get("min-confidence")
    min_conf = None
    if mc is not None:
        try:
            min_conf = Confidence.parse(str(mc))
        except ValueError as exc:
            raise ConfigError(f"{source}: '{prefix}min-confidence': {exc}") from None
    mfs = table.get("max-file-size")
    if mfs is not None and (not isinstance(mfs, int) or isinstance(mfs, bool) or mfs <= 0):
        raise ConfigError(f"{source}: '{prefix}max-file-size' must be a positive integer (bytes)")
    depth = table.get("max-archive-depth")
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 0):
        raise ConfigError(f"{source}: '{prefix}max-archive-depth' must be an integer, 0 or more (0: archives are "
                          "not opened)")
    sections: dict[str, dict[str, Any]] = {}
    for sec in _SECTIONS:
        if sec in table:
            if not isinstance(table[sec], dict):
                raise ConfigError(f"{source}: '{prefix}{sec}' must be a table")
            sections[sec] = table[sec]
    return Config(source=source, exclude=exclude, disable=frozenset(disable), rules=rules, baseline=baseline,
                  min_confidence=min_conf, max_file_size=mfs, max_archive_depth=depth, sections=sections)


def scan_request(
    root: Path, modes: tuple[str, ...], paths: tuple[str, ...], *, range_: str | None = None,
    diff: str | None = None, config_path: str | None = None, baseline_path: str | None = None,
    use_baseline: bool = True, min_confidence: str | None = None, explain: bool = False,
    archive_depth: int | None = None, named_ignored: bool = False,
) -> tuple[ScanRequest, Config]:
    """The scan request for a repository: flags (these arguments) beat config beat defaults. The one place the
    CLI and the MCP server turn a scan into a request, so both honour the same config and baseline.
    ``named_ignored``: a file named in ``paths`` is read even if git ignores it (the human's `scan .env` and
    `fix .env`; never an agent's request, which :func:`unleak.agent.mcp_scope.agent_request` keeps to git's view)."""
    from scanner import git
    from scanner.api import ScanRequest
    from scanner.baseline import DEFAULT_BASELINE
    from scanner.baseline import load as load_baseline

    top = git.toplevel(root)
    base_dir = top or root
    cfg = load(base_dir, Path(config_path) if config_path else None)
    baseline = None
    if use_baseline:
        bpath = baseline_path or cfg.baseline
        if bpath:
            p = Path(bpath)
            baseline = load_baseline(p if p.is_absolute() else (base_dir / p if not baseline_path else root / p))
        elif (base_dir / DEFAULT_BASELINE).is_file():
            baseline = load_baseline(base_dir / DEFAULT_BASELINE)
        baseline, cfg = _with_gitleaksignore(base_dir, baseline, cfg)
    conf = Confidence.LOW
    if min_confidence:
        conf = Confidence.parse(min_confidence)
    elif cfg.min_confidence is not None:
        conf = cfg.min_confidence
    req = ScanRequest(
        root=root, modes=modes, paths=paths, range=range_, diff=diff, exclude=cfg.exclude,
        disabled=cfg.disable, extra_rules=cfg.rules, min_confidence=conf, explain=explain,
        max_file_size=cfg.max_file_size or ScanRequest.max_file_size, baseline=baseline,
        archive_depth=next((d for d in (archive_depth, cfg.max_archive_depth) if d is not None),
                           ScanRequest.archive_depth),
        named_ignored=named_ignored and bool(paths),
    )
    return req, cfg


def _with_gitleaksignore(base_dir: Path, baseline: Baseline | None, cfg: Config) -> tuple[Baseline | None, Config]:
    """The baseline extended by ``.gitleaksignore`` fingerprints and a migrated config's allowed commits."""
    from dataclasses import replace

    from unleak import gitleaks

    ignore_path = base_dir / gitleaks.IGNORE_NAME
    if not ignore_path.is_file() and not cfg.allowed_commits:
        return baseline, cfg
    entries, warnings = gitleaks.load_ignore(ignore_path) if ignore_path.is_file() else ([], [])
    known = set(all_rules()) | {r.id for r in cfg.rules}
    merged = gitleaks.MigratedBaseline(baseline, entries, known, list(cfg.allowed_commits))
    return merged, replace(cfg, warnings=cfg.warnings + tuple(warnings))
