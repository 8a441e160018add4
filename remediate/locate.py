"""The first step of a plan: where each value sits and what it is called there.

The files holding a finding or another copy of a value are read and analysed by the analyser of their kind (Python,
notebooks, ``.env``, JavaScript, workflows, interpolating configs) into sites; what no analyser can rewrite becomes a
manual site; every Python file's environment reads (secret defaults, ``.env`` reads, ``override=True``) are found too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from remediate import codemods, configfiles, copies, dotenv
from remediate.codemods import javascript, notebook, workflow
from remediate.codemods.sites import Site
from remediate.plan_model import ManualStep, Plan
from scanner.finding import Finding

PYTHON_SUFFIXES = (".py", ".pyi")
_ENV_KINDS = ("env-default", "dotenv-read", "override")
# A cheap pre-check for the environment reads the codemods change (parsing is the expensive part): an env read of a
# secret-like key with a string default, a dotenv_values read, load_dotenv(override=True) / read_env(overwrite=True).
_ENV_HINT = re.compile(
    r"""(?:getenv|environ\.get|config|env(?:\.\w+)?)\(\s*[rRuU]?["'][\w.-]*"""
    r"""(?i:passw|pwd|secret|token|key|credential)[\w.-]*["'][^)\n]*[,=]\s*[rRuU]?["']"""
    r"|dotenv_values|load_dotenv\([^)]*override\s*=\s*True|read_env\([^)]*overwrite\s*=\s*True"
)


def _fp(value: str) -> str:
    return hashlib.sha256(b"unleak-plan:" + value.encode()).hexdigest()[:8]


@dataclass
class Found:
    """One place a value sits, and the rule id and redacted preview that label it."""

    path: str
    site: Site
    rule_id: str = ""
    preview: str = ""


def read_text(root: Path, rel: str) -> str | None:
    try:
        return (root / rel).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _placeholder(value: str) -> bool:
    from scanner.filters import Context, placeholder
    from scanner.rules import all_rules

    rule = all_rules().get("UL900") or next(iter(all_rules().values()))
    return placeholder(Context(rule=rule, value=value, line="", prev_line="", path=""))


@dataclass
class Located:
    """What the files say: every place a value sits, the texts read, and each Python file's environment reads."""

    found: list[Found] = field(default_factory=lambda: [])
    texts: dict[str, str] = field(default_factory=lambda: {})
    env_sites: dict[str, list[Site]] = field(default_factory=lambda: {})


def findings_by_path(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    """The findings in working-tree files (those the fix can rewrite), by path."""
    by_path: dict[str, list[Finding]] = {}
    for f in findings:
        if f.source in ("file", "text") and f.secret.reveal():
            by_path.setdefault(f.path, []).append(f)
    return by_path


def first_finding_by_value(by_path: dict[str, list[Finding]]) -> dict[str, Finding]:
    """Each value -> the first finding of it (its rule id and preview label the value everywhere)."""
    rule_of: dict[str, Finding] = {}
    for fs in by_path.values():
        for f in fs:
            rule_of.setdefault(f.secret.reveal(), f)
    return rule_of


def other_copies(root: Path, search_files: Iterable[str], rule_of: dict[str, Finding]) -> dict[str, list[copies.Copy]]:
    """Other copies of the values found, by path: the scanner flags what looks like a secret, not every place a
    value sits."""
    extra: dict[str, list[copies.Copy]] = {}
    for c in copies.find(root, search_files, rule_of):
        extra.setdefault(c.path, []).append(c)
    return extra


# ------------------------------------------------------------------------------- 1. where each value sits


def locate(plan: Plan, by_path: dict[str, list[Finding]], extra: dict[str, list[copies.Copy]],
           rule_of: dict[str, Finding], located: Located) -> None:
    """Where does each value sit, and what is it called there? (every file with a finding or a copy)"""
    for path in sorted(set(by_path) | set(extra)):
        fs = by_path.get(path, [])
        # A raw copy of a value flagged in this same file is that finding (or analysed with it).
        cs = [c for c in extra.get(path, []) if not (c.raw and c.value in {f.secret.reveal() for f in fs})]
        _locate_in_file(plan, path, fs, cs, rule_of, located)


def _locate_in_file(plan: Plan, path: str, fs: list[Finding], cs: list[copies.Copy], rule_of: dict[str, Finding],
                    located: Located) -> None:
    raws = sorted({f.secret.reveal() for f in fs} | {c.value for c in cs if c.raw}, key=len, reverse=True)
    text = read_text(plan.root, path)
    if text is None:
        plan.manual += [ManualStep(path, f.line, "cannot read the file as UTF-8 text: fix it by hand", f.rule_id,
                                   f.preview, f.secret.reveal()) for f in fs]
        plan.manual += [copy_step(c, rule_of, "in a file that is not UTF-8 text") for c in cs
                        if c.value not in {f.secret.reveal() for f in fs}]
        return
    located.texts[path] = text
    sites = _analyze(plan, path, text, fs, cs, raws)
    if sites is None:
        return
    covered = {s.raw for s in sites} | {s.value for s in sites}
    # A settings field's whole default moves (a URL holding the password): the finding inside it is covered.
    covered |= {f.secret.reveal() for f in fs for s in sites
                if s.kind == "settings-field" and f.secret.reveal() and f.secret.reveal() in s.value}
    # Environment reads are planned in step 2, for every Python file alike.
    if path.endswith(PYTHON_SUFFIXES) or notebook.is_notebook(path):
        located.env_sites[path] = [s for s in sites if s.kind in _ENV_KINDS]
    sites = [s for s in sites if s.kind not in _ENV_KINDS] + _unplaced(fs, cs, covered)
    for s in sites:
        f0 = rule_of.get(s.raw)
        located.found.append(Found(path, s, f0.rule_id if f0 else "", f0.preview if f0 else ""))


def _analyze(plan: Plan, path: str, text: str, fs: list[Finding], cs: list[copies.Copy],
             raws: list[str]) -> list[Site] | None:
    """The sites of ``raws`` in one file, by the analyser of its kind; None (and manual steps) when it cannot
    parse."""
    if path.endswith(PYTHON_SUFFIXES) or notebook.is_notebook(path):
        outcome = (notebook.analyze if notebook.is_notebook(path) else codemods.analyze)(text, raws)
        if not outcome.ok:
            plan.manual += [ManualStep(path, f.line, outcome.error or "", f.rule_id, f.preview,
                                       f.secret.reveal()) for f in fs]
            return None
        return outcome.sites
    if dotenv.is_dotenv_path(path):
        return dotenv.analyze(text, raws)
    if javascript.handles(path):
        return javascript.analyze(path, text, raws)
    if workflow.handles(path):
        return workflow.analyze(text, raws)
    if configfiles.interpolates(path):
        return configfiles.analyze(path, text, raws)
    # The key and block a value sits under name the variable the manual step tells the user to create.
    sites = [Site(line=f.line, kind="manual", raw=f.secret.reveal(), value=f.secret.reveal(),
                  manual=configfiles.manual_reason(path), **_key_hint(text, f.line, f.secret.reveal())) for f in fs]
    sites += [Site(line=c.line, kind="manual", raw=c.value, value=c.value,
                   manual=configfiles.manual_reason(path), **_key_hint(text, c.line, c.value)) for c in cs if c.raw]
    return sites


def _key_hint(text: str, line: int, raw: str) -> dict[str, str | None]:
    hint, scope = configfiles.key_hint(text, line, raw)
    return {"hint": hint, "scope": scope}


def _unplaced(fs: list[Finding], cs: list[copies.Copy], covered: set[str]) -> list[Site]:
    """Manual sites for the findings no analysed site covers and the copies the fix cannot rewrite."""
    sites: list[Site] = []
    for f in fs:
        if f.secret.reveal() not in covered:
            sites.append(Site(line=f.line, kind="manual", raw=f.secret.reveal(), value=f.secret.reveal(),
                              manual="not inside a string literal, value or comment the fix can rewrite (a "
                              "false positive? allow it with an `unleak:allow` comment); check it by hand"))
    for c in cs:
        if not c.raw:
            sites.append(Site(line=c.line, kind="manual", raw=c.value, value=c.value,
                              manual="a copy of the value, encoded (base64, hex, URL or JSON escaping): replace it "
                              "by hand"))
        elif c.value not in covered:
            sites.append(Site(line=c.line, kind="manual", raw=c.value, value=c.value,
                              manual="a copy of the value where the fix cannot rewrite it: replace it by hand"))
    return sites


# ------------------------------------------------------------------------------- 2. environment reads


def locate_env_reads(root: Path, python_files: Iterable[str], by_path: dict[str, list[Finding]],
                      rule_of: dict[str, Finding], located: Located) -> None:
    """Environment reads in every Python file: secret defaults, .env reads, override=True."""
    for path in sorted(set(python_files) - set(by_path)):
        text = read_text(root, path)
        if text is None or not _ENV_HINT.search(text):
            continue  # parsing is the expensive part: only files that look like they need a change
        outcome = codemods.analyze(text, [])
        if outcome.ok:
            located.texts[path] = text
            located.env_sites[path] = outcome.sites
    for path, sites_here in sorted(located.env_sites.items()):
        for s in sites_here:
            if s.kind == "env-default" and (s.raw in rule_of or not _placeholder(s.value)):
                f0 = rule_of.get(s.raw)
                located.found.append(Found(path, dataclasses.replace(s, kind="manual") if s.manual else s,
                                            f0.rule_id if f0 else "", f0.preview if f0 else "…[" + _fp(s.value) + "]"))


def copy_step(c: copies.Copy, rule_of: dict[str, Finding], why: str) -> ManualStep:
    f0 = rule_of.get(c.value)
    return ManualStep(c.path, c.line, f"a copy of a value this fix moves, {why}: replace it by hand",
                      f0.rule_id if f0 else "", f0.preview if f0 else "", c.value)
