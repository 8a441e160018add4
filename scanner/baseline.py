"""The baseline: known findings that should not fail a scan.

Content-keyed by (path, rule id, fingerprint), sorted, no timestamps, no line numbers, so it neither churns when
code moves nor conflicts between branches. Imported detect-secrets baselines keep their (filename, hashed_secret)
entries and are matched by the SHA-1 of the value, so teams migrate without re-auditing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError
from scanner.fileio import read_setting_text
from scanner.finding import Finding

BASELINE_VERSION = 1
DEFAULT_BASELINE = ".unleak-baseline.json"
STATUSES = ("unaudited", "false-positive", "accepted-risk", "rotated")


@dataclass(frozen=True, order=True)
class Entry:
    path: str
    rule_id: str
    fingerprint: str
    status: str = "unaudited"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.path, self.rule_id, self.fingerprint)


@dataclass(frozen=True, order=True)
class ImportedEntry:
    path: str
    hashed_secret: str
    type: str = ""
    status: str = "unaudited"


@dataclass
class Baseline:
    entries: dict[tuple[str, str, str], Entry] = field(default_factory=dict)
    imported: dict[tuple[str, str], ImportedEntry] = field(default_factory=dict)

    def contains(self, f: Finding) -> bool:
        return f.key in self.entries or (f.path, f.sha1) in self.imported

    def matched_keys(self, findings: Iterable[Finding]) -> tuple[set[tuple[str, str, str]], set[tuple[str, str]]]:
        own: set[tuple[str, str, str]] = set()
        imp: set[tuple[str, str]] = set()
        for f in findings:
            if f.key in self.entries:
                own.add(f.key)
            if (f.path, f.sha1) in self.imported:
                imp.add((f.path, f.sha1))
        return own, imp

    def stale(self, findings: Iterable[Finding]) -> list[Entry | ImportedEntry]:
        """Entries no finding matches any more: the secret was removed, so the entry can go."""
        own, imp = self.matched_keys(findings)
        out: list[Entry | ImportedEntry] = [e for k, e in sorted(self.entries.items()) if k not in own]
        out += [e for k, e in sorted(self.imported.items()) if k not in imp]
        return out

    @classmethod
    def from_findings(cls, findings: Iterable[Finding], previous: Baseline | None = None) -> Baseline:
        """A baseline of ``findings``; statuses already audited in ``previous`` are kept."""
        b = cls()
        for f in findings:
            old = previous.entries.get(f.key) if previous else None
            b.entries[f.key] = Entry(f.path, f.rule_id, f.fingerprint, old.status if old else "unaudited")
        if previous is not None:
            _, imp = previous.matched_keys(findings)
            b.imported = {k: v for k, v in previous.imported.items() if k in imp}
        return b

    def dumps(self) -> str:
        doc: dict[str, Any] = {
            "version": BASELINE_VERSION,
            "tool": "unleak",
            "entries": [
                {"path": e.path, "rule_id": e.rule_id, "fingerprint": e.fingerprint, "status": e.status}
                for e in sorted(self.entries.values())
            ],
        }
        if self.imported:
            doc["detect_secrets"] = [
                {"path": e.path, "hashed_secret": e.hashed_secret, "type": e.type, "status": e.status}
                for e in sorted(self.imported.values())
            ]
        return json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def _need(obj: dict[str, Any], key: str, where: str) -> str:
    val = obj.get(key)
    if not isinstance(val, str) or not val:
        raise ConfigError(f"{where}: '{key}' must be a non-empty string")
    return val


def load(path: Path) -> Baseline:
    """Read an unleak baseline, or a detect-secrets ``.secrets.baseline`` (imported transparently)."""
    try:
        raw = read_setting_text(path)
    except FileNotFoundError:
        raise ConfigError(f"baseline {path} does not exist; create it with `unleak baseline create`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"baseline {path} cannot be read: {exc}") from None
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"baseline {path} is not valid JSON (line {exc.lineno}: {exc.msg}); "
                          "fix it or recreate it with `unleak baseline create`") from None
    except RecursionError:
        raise ConfigError(f"baseline {path} is nested deeper than a baseline can be; recreate it with "
                          "`unleak baseline create`") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"baseline {path}: top level must be a JSON object")
    if "results" in doc and "plugins_used" in doc:
        return import_detect_secrets(doc, str(path))
    if doc.get("version") != BASELINE_VERSION:
        raise ConfigError(f"baseline {path}: unsupported 'version' {doc.get('version')!r} (expected 1)")
    b = Baseline()
    entries = doc.get("entries", [])
    if not isinstance(entries, list):
        raise ConfigError(f"baseline {path}: 'entries' must be a list")
    for i, e in enumerate(entries):
        where = f"baseline {path}: entries[{i}]"
        if not isinstance(e, dict):
            raise ConfigError(f"{where} must be an object")
        status = e.get("status", "unaudited")
        if status not in STATUSES:
            raise ConfigError(f"{where}: 'status' must be one of {', '.join(STATUSES)}")
        entry = Entry(_need(e, "path", where), _need(e, "rule_id", where), _need(e, "fingerprint", where), status)
        b.entries[entry.key] = entry
    for i, e in enumerate(doc.get("detect_secrets", []) or []):
        where = f"baseline {path}: detect_secrets[{i}]"
        if not isinstance(e, dict):
            raise ConfigError(f"{where} must be an object")
        ie = ImportedEntry(_need(e, "path", where), _need(e, "hashed_secret", where), str(e.get("type", "")),
                           str(e.get("status", "unaudited")))
        b.imported[(ie.path, ie.hashed_secret)] = ie
    return b


def import_detect_secrets(doc: dict[str, Any], where: str) -> Baseline:
    """detect-secrets' baseline: ``results`` maps filename to entries carrying ``hashed_secret`` (SHA-1)."""
    b = Baseline()
    results = doc.get("results")
    if not isinstance(results, dict):
        raise ConfigError(f"detect-secrets baseline {where}: 'results' must be an object")
    for filename, items in results.items():
        if not isinstance(items, list):
            raise ConfigError(f"detect-secrets baseline {where}: results[{filename!r}] must be a list")
        for i, it in enumerate(items):
            w = f"detect-secrets baseline {where}: results[{filename!r}][{i}]"
            if not isinstance(it, dict):
                raise ConfigError(f"{w} must be an object")
            status = "false-positive" if it.get("is_secret") is False else "unaudited"
            ie = ImportedEntry(str(it.get("filename", filename)), _need(it, "hashed_secret", w),
                               str(it.get("type", "")), status)
            b.imported[(ie.path, ie.hashed_secret)] = ie
    return b


def write(path: Path, baseline: Baseline) -> None:
    from scanner.fileio import atomic_write_text

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, baseline.dumps())
    except OSError as exc:
        raise ConfigError(f"cannot write baseline {path}: {exc.strerror or exc}") from None
