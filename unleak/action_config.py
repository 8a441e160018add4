"""What a pull request's (or a push's) own change to the scan's configuration hides.

The Action reads the configuration of the commit it checked out: the change being judged. A pull request that adds a
token can also add the file to ``exclude``, ``disable`` the rule, add an allowlist to ``.gitleaks.toml``, a line to
``.gitleaksignore`` or the finding to the baseline, and the scan it is judged by would pass. So when the commits
change a file the configuration is read from, the same commits are scanned again with the base commit's
configuration, and what only that scan reports is what the change hides: reported, and failing like any finding.
A configuration change that hides nothing costs one extra scan and says nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from scanner import git
from scanner.api import ScanRequest
from scanner.baseline import DEFAULT_BASELINE
from scanner.errors import GitError, UnleakError
from scanner.finding import Finding
from unleak.action_target import Target, scan_target
from unleak.gitleaks import CONFIG_NAMES as GITLEAKS_NAMES

# The files at the repository's top that a scan's configuration is read from (unleak.config.scan_request).
CONFIG_FILES = (".unleak.toml", "pyproject.toml", *GITLEAKS_NAMES, ".gitleaksignore", DEFAULT_BASELINE)
_MAX = 64 << 20  # a configuration file or baseline read from the base commit, at most


@dataclass(frozen=True)
class Hidden:
    """The configuration files the commits changed, and the findings the base commit's configuration reports that
    the changed one does not (empty when nothing is hidden, or nothing was changed)."""

    changed: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    warning: str = ""  # the check could not be made (the base configuration does not load)


def _inside(repo: Path, name: str | None) -> str | None:
    """``name`` (an Action input) as a path relative to the repository, or None when it lies outside it."""
    if not name:
        return None
    p = Path(name)
    full = p if p.is_absolute() else repo / p
    try:
        return full.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return None


def changed_config(repo: Path, base: str, head: str, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """The configuration files (``CONFIG_FILES`` and ``extra``) that differ between ``base`` and ``head``."""
    names = sorted({*CONFIG_FILES, *extra})
    out = git.run(["diff", "--name-only", "--no-renames", base, head, "--", *names], repo)
    return tuple(sorted(line for line in out.splitlines() if line))


def hidden_by_config(req: ScanRequest, repo: Path, target: Target, found: Sequence[Finding],
                     config_path: str | None = None, baseline_path: str | None = None) -> Hidden:
    """The findings ``target``'s own configuration change hides: those a scan of the same commits with the base
    commit's configuration reports and ``found`` (the scan with the checked-out configuration) lacks. Inputs that
    name files outside the repository are the workflow's, not the commits', and are used as they are."""
    from unleak.config import load, scan_request

    if target.revs is None or not target.revs or target.base is None or target.head is None:
        return Hidden()
    cfg_in, base_in = _inside(repo, config_path), _inside(repo, baseline_path)
    extra = [p for p in (cfg_in, base_in) if p]
    try:
        head_cfg = load(repo, Path(config_path) if config_path else None)
        if head_cfg.baseline and not baseline_path:
            named = _inside(repo, head_cfg.baseline)
            if named:
                extra.append(named)
        changed = changed_config(repo, target.base, target.head, extra)
    except (GitError, UnleakError):
        return Hidden()
    if not changed:
        return Hidden()
    with tempfile.TemporaryDirectory(prefix="unleak-base-config-") as d:
        top = Path(d)

        def put(name: str) -> None:  # the base commit's version of a file, if it has one
            data = git.blob_at(repo, target.base or "", name, _MAX)
            if data is not None:
                (top / name).parent.mkdir(parents=True, exist_ok=True)
                (top / name).write_bytes(data)

        try:
            for name in sorted({*CONFIG_FILES, *extra}):
                put(name)
            # An input naming a file the base commit lacks: at the base there was none (defaults, no baseline).
            cfg_base = (str(top / cfg_in) if (top / cfg_in).is_file() else None) if cfg_in else config_path
            bpath = (str(top / base_in) if (top / base_in).is_file() else None) if base_in else baseline_path
            base_cfg = load(top, Path(cfg_base) if cfg_base else None)
            if base_cfg.baseline and not baseline_path and (named := _inside(repo, base_cfg.baseline)):
                put(named)
            base_req, _ = scan_request(top, req.modes, req.paths, config_path=cfg_base, baseline_path=bpath)
        except (UnleakError, OSError) as exc:  # OSError: a name the config gives runs through another file
            return Hidden(changed, (), f"the base commit's configuration does not load ({exc}); what this "
                                       "change to it hides was not checked")
    try:
        # Without the scan cache: it keeps one rule set's entries and would prune the checked-out configuration's.
        result = scan_target(replace(base_req, root=repo, workers=req.workers, cache=False), target)
    except UnleakError as exc:
        return Hidden(changed, (), f"the commits could not be scanned with the base commit's configuration ({exc}); "
                                   "what this change to it hides was not checked")
    ours = {(f.path, f.rule_id, f.fingerprint) for f in found}
    return Hidden(changed, tuple(f for f in result.findings if (f.path, f.rule_id, f.fingerprint) not in ours))
