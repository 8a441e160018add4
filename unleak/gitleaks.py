"""Read a gitleaks / betterleaks configuration (``.gitleaks.toml``, ``.betterleaks.toml``) and ``.gitleaksignore``,
so a team can switch to unleak without rewriting its configuration.

Supported: ``[[rules]]`` (id, description, regex, secretGroup, entropy, keywords, path, tags, and the rule's
allowlists), the global ``[allowlist]`` / ``[[allowlists]]`` (regexes with regexTarget, stopwords, paths, commits,
condition, targetRules), ``[extend]`` (useDefault, path, disabledRules) and ``title``. Go's regular expressions
(RE2) are translated where Python spells them differently. Everything else is named in a warning, never dropped
silently. unleak's own rules always run as well: a config that would replace gitleaks' defaults says so.

``.gitleaksignore`` lines are gitleaks fingerprints, ``commit:path:rule-id:line`` (git scans) or
``path:rule-id:line`` (directory scans). An entry for a rule this configuration defines suppresses that rule's
finding there; an entry for one of gitleaks' built-in rules (whose ids unleak does not have) suppresses any unleak
finding at that commit, path and line, since it marks the same reviewed line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scanner.baseline import Baseline
from scanner.errors import ConfigError
from scanner.fileio import read_setting_text
from scanner.finding import Confidence, Finding
from scanner.rules import Allow, Rule, check_user_pattern

CONFIG_NAMES = (".gitleaks.toml", ".betterleaks.toml")
IGNORE_NAME = ".gitleaksignore"

_TOP = {"title", "description", "extend", "rules", "allowlist", "allowlists"}
_RULE = {"id", "description", "regex", "secretGroup", "entropy", "keywords", "path", "tags", "allowlist",
         "allowlists"}
_ALLOW = {"description", "regexes", "regexTarget", "stopwords", "paths", "commits", "condition", "targetRules"}
_EXTEND = {"useDefault", "path", "disabledRules"}
_MAX_EXTEND_DEPTH = 5


@dataclass
class Migrated:
    """What a gitleaks configuration becomes: extra rules, allowlists for built-in rules, ids to disable,
    commits allowed per rule (None: every rule), and warnings for everything unleak does not do."""

    source: str
    rules: list[Rule] = field(default_factory=list)
    global_allow: list[tuple[Allow, frozenset[str]]] = field(default_factory=list)  # (allowlist, target rule ids)
    commits: list[tuple[frozenset[str], frozenset[str] | None]] = field(default_factory=list)
    disabled: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def go_regex(pattern: str) -> str:
    """A Go (RE2) regular expression in Python's syntax: ``\\z`` is ``\\Z``, ``(?P<n>`` and ``(?<n>`` are named
    groups, ``[[:alpha:]]`` classes become ranges, and inline flag groups that Python forbids after the start
    (``(?i)`` in the middle) become scoped groups."""
    out = pattern.replace(r"\z", r"\Z")
    out = re.sub(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", out)
    posix = {"alpha": "A-Za-z", "digit": "0-9", "alnum": "A-Za-z0-9", "upper": "A-Z", "lower": "a-z",
             "space": r"\s", "xdigit": "0-9A-Fa-f", "word": r"\w", "punct": r"!-/:-@\[-`{-~"}
    out = re.sub(r"\[:(\w+):\]", lambda m: posix.get(m.group(1), m.group(0)), out)
    # A global flag group after the start is an error in Python 3.11: scope it to the rest of the pattern.
    m = re.search(r"(?<!^)(?<!\\)\(\?([imsU]+)\)", out)
    if m is not None and m.start() > 0:
        flags = m.group(1).replace("U", "")
        rest = out[m.end():]
        out = out[:m.start()] + (f"(?{flags}:{rest})" if flags else rest)
    return out


def _strs(source: str, key: str, val: Any) -> tuple[str, ...]:
    if val is None:
        return ()
    if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
        raise ConfigError(f"{source}: '{key}' must be a list of strings")
    return tuple(val)


def _compiles(source: str, key: str, pattern: str) -> str:
    py = go_regex(pattern)
    check_user_pattern(f"{source}: {key}", py)
    return py


def _allowlists(source: str, where: str, table: dict[str, Any], mig: Migrated
                ) -> list[tuple[Allow, frozenset[str], frozenset[str]]]:
    """(allowlist, target rules, commits) of a rule's or the file's ``allowlist`` / ``allowlists``."""
    raw: list[Any] = []
    if "allowlist" in table:
        raw.append(table["allowlist"])
    if "allowlists" in table:
        if not isinstance(table["allowlists"], list):
            raise ConfigError(f"{source}: '{where}allowlists' must be an array of tables")
        raw.extend(table["allowlists"])
    out = []
    for i, al in enumerate(raw):
        key = f"{where}allowlists[{i}]"
        if not isinstance(al, dict):
            raise ConfigError(f"{source}: '{key}' must be a table")
        for extra in sorted(set(al) - _ALLOW):
            mig.warnings.append(f"{source}: '{key}.{extra}' is not supported and is ignored")
        target = al.get("regexTarget", "secret")
        if target not in ("secret", "match", "line"):
            raise ConfigError(f"{source}: '{key}.regexTarget' must be secret, match or line")
        cond = str(al.get("condition", "OR")).upper()
        if cond not in ("OR", "AND"):
            raise ConfigError(f"{source}: '{key}.condition' must be OR or AND")
        regexes = tuple(_compiles(source, f"'{key}.regexes'", r) for r in _strs(source, f"{key}.regexes",
                                                                                  al.get("regexes")))
        paths = tuple(_compiles(source, f"'{key}.paths'", r) for r in _strs(source, f"{key}.paths", al.get("paths")))
        stop = tuple(w.lower() for w in _strs(source, f"{key}.stopwords", al.get("stopwords")))
        commits = frozenset(_strs(source, f"{key}.commits", al.get("commits")))
        targets = frozenset(_strs(source, f"{key}.targetRules", al.get("targetRules")))
        if commits and cond == "AND" and (regexes or paths or stop):
            mig.warnings.append(f"{source}: '{key}' combines commits with other conditions under AND; unleak "
                                "allows the listed commits on their own (OR)")
        out.append((Allow(regexes=regexes, target=target, stopwords=stop, paths=paths, condition=cond), targets,
                    commits))
    return out


def _rule(source: str, i: int, spec: Any, mig: Migrated) -> Rule | None:
    where = f"rules[{i}]"
    if not isinstance(spec, dict):
        raise ConfigError(f"{source}: '{where}' must be a table")
    rid = spec.get("id")
    if not isinstance(rid, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,80}", rid) \
            or re.fullmatch(r"UL\d+", rid):
        raise ConfigError(f"{source}: '{where}.id' must be a name (letters, digits, -_.) and not a UL id")
    where = f"rules[{rid}]"
    for extra in sorted(set(spec) - _RULE):
        mig.warnings.append(f"{source}: '{where}.{extra}' is not supported and is ignored")
    regex = spec.get("regex")
    path = spec.get("path")
    if regex is None:
        mig.warnings.append(f"{source}: '{where}' has no regex (a path-only rule flags files by name); unleak "
                            "does not run it")
        return None
    if not isinstance(regex, str):
        raise ConfigError(f"{source}: '{where}.regex' must be a string")
    pattern = _compiles(source, f"'{where}.regex'", regex)
    group = spec.get("secretGroup", 0)
    if not isinstance(group, int) or isinstance(group, bool) or group < 0:
        raise ConfigError(f"{source}: '{where}.secretGroup' must be a non-negative integer")
    ngroups = check_user_pattern(f"{source}: '{where}.regex'", pattern)
    if group > ngroups:
        raise ConfigError(f"{source}: '{where}.secretGroup' is {group} but the regex has {ngroups} groups")
    # gitleaks takes the value from secretGroup, else from the first capture group, else the whole match; unleak
    # from the group named "secret", else group 1, else the whole match: naming secretGroup makes them agree.
    if group:
        pattern = _name_group(pattern, group)
    entropy = spec.get("entropy", 0.0)
    if not isinstance(entropy, int | float) or isinstance(entropy, bool):
        raise ConfigError(f"{source}: '{where}.entropy' must be a number")
    kws = tuple(k.lower() for k in _strs(source, f"{where}.keywords", spec.get("keywords")) if k)
    path_rx = _compiles(source, f"'{where}.path'", path) if isinstance(path, str) else None
    tags = _strs(source, f"{where}.tags", spec.get("tags"))
    desc = str(spec.get("description", "")) + (f" (tags: {', '.join(tags)})" if tags else "")
    allows = _allowlists(source, f"rules[{rid}].", spec, mig)
    for _, targets, commits in allows:
        if commits:
            mig.commits.append((commits, frozenset({rid})))
        if targets:
            mig.warnings.append(f"{source}: '{where}' allowlist targetRules only applies to global allowlists; "
                                "ignored here")
    return Rule(id=rid, title=str(spec.get("description") or rid), confidence=Confidence.MEDIUM, pattern=pattern,
                keywords=kws, min_entropy=float(entropy), path_pattern=path_rx, family="custom",
                description=desc.strip() or f"custom rule from {Path(source).name}",
                revoke="rotate the credential at its issuer", allow=tuple(a for a, _, _ in allows))


def _name_group(pattern: str, n: int) -> str:
    """``pattern`` with its n-th capturing group named ``secret`` (other groups keep their numbers)."""
    count = 0
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":  # skip a character class (a "(" inside it is literal)
            j = i + 1
            if j < len(pattern) and pattern[j] == "^":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            while j < len(pattern) and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            if pattern.startswith("(?P<", i):
                count += 1
                if count == n:
                    return pattern[:i] + "(?P<secret>" + pattern[pattern.index(">", i) + 1:]
            elif not pattern.startswith("(?", i):
                count += 1
                if count == n:
                    return pattern[:i] + "(?P<secret>" + pattern[i + 1:]
        i += 1
    return pattern


def load_config(path: Path, depth: int = 0, mig: Migrated | None = None) -> Migrated:
    """Translate one gitleaks/betterleaks TOML file (and the files it extends)."""
    source = str(path)
    mig = mig or Migrated(source=source)
    try:
        doc = tomllib.loads(read_setting_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested deeper than a configuration can be") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    for extra in sorted(set(doc) - _TOP):
        mig.warnings.append(f"{source}: '{extra}' is not supported and is ignored")
    ext = doc.get("extend", {})
    if not isinstance(ext, dict):
        raise ConfigError(f"{source}: '[extend]' must be a table")
    for extra in sorted(set(ext) - _EXTEND):
        mig.warnings.append(f"{source}: 'extend.{extra}' is not supported and is ignored")
    if isinstance(ext.get("path"), str):
        if depth >= _MAX_EXTEND_DEPTH:
            raise ConfigError(f"{source}: [extend] nests more than {_MAX_EXTEND_DEPTH} files deep")
        base = Path(ext["path"])
        load_config(base if base.is_absolute() else path.parent / base, depth + 1, mig)
    elif depth == 0 and not ext.get("useDefault", False):
        mig.warnings.append(f"{source}: without [extend] useDefault = true gitleaks runs only this file's rules; "
                            "unleak runs them in addition to its own rules (disable those with `disable = [...]`)")
    rules_raw = doc.get("rules", [])
    if not isinstance(rules_raw, list):
        raise ConfigError(f"{source}: 'rules' must be an array of tables ([[rules]])")
    for i, spec in enumerate(rules_raw):
        rule = _rule(source, i, spec, mig)
        if rule is not None:
            mig.rules = [r for r in mig.rules if r.id != rule.id] + [rule]  # a later file overrides an earlier
    for al, targets, commits in _allowlists(source, "", doc, mig):
        if al.regexes or al.stopwords or al.paths:
            mig.global_allow.append((al, targets))
        if commits:
            mig.commits.append((commits, targets or None))
    for rid in _strs(source, "extend.disabledRules", ext.get("disabledRules")):
        if any(r.id == rid for r in mig.rules):
            mig.disabled.add(rid)
        elif depth == 0:
            mig.warnings.append(f"{source}: 'extend.disabledRules' names {rid!r}, a gitleaks built-in rule; unleak's "
                                "rules have other ids (see `unleak rules`), so nothing is disabled for it")
    return mig


def with_global_allowlists(mig: Migrated, builtin: dict[str, Rule]) -> list[Rule]:
    """The migrated rules plus copies of the built-in rules that a global allowlist applies to, with it attached
    (an extra rule with a built-in's id replaces it in the engine)."""
    out = []
    for rule in [*mig.rules, *builtin.values()]:
        allows = tuple(al for al, targets in mig.global_allow if not targets or rule.id in targets)
        if allows:
            out.append(replace(rule, allow=rule.allow + allows))
        elif rule in mig.rules:
            out.append(rule)
    return out


@dataclass(frozen=True)
class IgnoreEntry:
    commit: str | None
    path: str
    rule_id: str
    line: int


def load_ignore(path: Path) -> tuple[list[IgnoreEntry], list[str]]:
    """The fingerprints of a ``.gitleaksignore`` file, and warnings for lines that are not fingerprints."""
    entries: list[IgnoreEntry] = []
    warnings: list[str] = []
    try:
        text = read_setting_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"(?:([0-9a-f]{7,64}):)?(.+):([^:]+):(\d+)", line)
        if m is None:
            warnings.append(f"{path}:{n}: not a gitleaks fingerprint (commit:path:rule-id:line or "
                            "path:rule-id:line); ignored")
            continue
        entries.append(IgnoreEntry(m.group(1), m.group(2), m.group(3), int(m.group(4))))
    return entries, warnings


class MigratedBaseline(Baseline):
    """A baseline that also holds ``.gitleaksignore`` fingerprints and allowlisted commits."""

    def __init__(self, base: Baseline | None, ignore: Iterable[IgnoreEntry], known_rules: set[str],
                 commits: list[tuple[frozenset[str], frozenset[str] | None]]) -> None:
        super().__init__(dict(base.entries) if base else {}, dict(base.imported) if base else {})
        self.exact: set[tuple[str | None, str, str, int]] = set()
        self.any_rule: set[tuple[str | None, str, int]] = set()
        for e in ignore:
            if e.rule_id in known_rules:
                self.exact.add((e.commit, e.path, e.rule_id, e.line))
            else:
                self.any_rule.add((e.commit, e.path, e.line))
        self.commits = commits

    def contains(self, f: Finding) -> bool:
        if super().contains(f):
            return True
        sha = f.commit.sha if f.commit is not None else None
        for c in {sha, None} if sha else {None}:
            if (c, f.path, f.rule_id, f.line) in self.exact or (c, f.path, f.line) in self.any_rule:
                return True
        if sha:
            for shas, rules in self.commits:
                if any(sha.startswith(s) for s in shas) and (rules is None or f.rule_id in rules):
                    return True
        return False


def find(base_dir: Path) -> Path | None:
    for name in CONFIG_NAMES:
        p = base_dir / name
        if p.is_file():
            return p
    return None


def is_gitleaks_config(path: Path) -> bool:
    return path.name in CONFIG_NAMES or path.name.endswith(("gitleaks.toml", "betterleaks.toml"))
