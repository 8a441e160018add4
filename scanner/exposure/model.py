"""The exposure records: one :class:`Exposure` per distinct secret, the rotation checklist, the report that holds
them, and what callers do with a report (choose secrets by fingerprint, attach verification verdicts). Never a
value but in :attr:`Exposure.secret`, which is redacted and left out of every dict."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from scanner.errors import UsageError
from scanner.finding import CommitInfo, Confidence, Finding, Secret


@dataclass(frozen=True)
class Exposure:
    """One distinct secret (by fingerprint) and everything known about where it is exposed. Never the value."""

    fingerprint: str
    rule_id: str
    title: str
    preview: str
    paths: tuple[str, ...]  # paths where it was added
    first: CommitInfo  # earliest commit whose tree holds it
    last: CommitInfo  # latest commit whose tree holds it
    commits: int  # how many commits' trees hold it
    in_head: bool
    branches: tuple[str, ...]  # local branches whose history holds it
    tags: tuple[str, ...]
    remote_refs: tuple[str, ...]  # remote-tracking refs whose history holds it: it was pushed
    other_refs: tuple[str, ...]  # stash, notes, pull-request refs ...
    tips: tuple[str, ...]  # refs whose *current* tree still holds it
    agent_logs: tuple[str, ...]  # transcript / history files where it was seen
    secret: Secret = field(default_factory=lambda: Secret(""), compare=False, repr=False)

    @property
    def pushed(self) -> bool:
        return bool(self.remote_refs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "rule_id": self.rule_id, "title": self.title, "preview": self.preview,
            "paths": list(self.paths), "first_commit": self.first.to_dict(), "last_commit": self.last.to_dict(),
            "commits": self.commits, "in_head": self.in_head, "branches": list(self.branches),
            "tags": list(self.tags), "pushed": self.pushed, "remote_refs": list(self.remote_refs),
            "other_refs": list(self.other_refs), "tips": list(self.tips), "agent_logs": list(self.agent_logs),
        }


@dataclass(frozen=True)
class RotationItem:
    rule_id: str
    title: str
    revoke: str  # URL or console path; "" when the rule does not say
    fingerprints: tuple[str, ...]
    previews: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "title": self.title, "revoke": self.revoke,
                "fingerprints": list(self.fingerprints), "previews": list(self.previews)}


@dataclass
class ExposureReport:
    exposures: list[Exposure] = field(default_factory=list)
    rotation: list[RotationItem] = field(default_factory=list)
    commits_scanned: int = 0
    notes: list[str] = field(default_factory=list)
    agent_logs_scanned: bool = False
    findings: int = 0  # the history scan's count: places a secret was added (commit, path, line)
    skipped: int = 0  # objects the history scan could not read (scanner.git), see notes
    # `exposure --verify`: fingerprint → scanner.verify.Verification (typed loosely: no verify import here)
    verifications: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"exposures": [self._exposure_dict(e) for e in self.exposures],
                "rotation": [r.to_dict() for r in self.rotation],
                "commits_scanned": self.commits_scanned, "agent_logs_scanned": self.agent_logs_scanned,
                "findings": self.findings, "skipped": self.skipped, "notes": list(self.notes)}

    def _exposure_dict(self, e: Exposure) -> dict[str, Any]:
        d = e.to_dict()
        if e.fingerprint in self.verifications:
            d["verified"] = self.verifications[e.fingerprint].to_dict()
        return d

    def verdict(self, fp: str) -> str:
        v = self.verifications.get(fp)
        return "" if v is None else str(v.short())

    def live(self, fps: Iterable[str]) -> int:
        return sum(1 for fp in fps if fp in self.verifications and self.verifications[fp].status.value == "valid")


def as_findings(report: ExposureReport) -> list[Finding]:
    """One finding per exposed secret (its first path and commit), for verification: it carries the value."""
    return [Finding(rule_id=e.rule_id, title=e.title, confidence=Confidence.LOW, path=e.paths[0] if e.paths else "",
                    line=0, column=1, end_column=1, fingerprint=e.fingerprint, preview=e.preview, source="commit",
                    commit=e.first, secret=e.secret) for e in report.exposures]


def apply_verification(report: ExposureReport, verdicts: dict[str, Any]) -> None:
    """Attach verdicts and put live credentials first: in the list, and in the rotation checklist (a rule with a
    live secret before one whose secrets are all dead)."""
    from scanner.verify.model import rank

    report.verifications = dict(verdicts)
    report.exposures.sort(key=lambda e: rank(verdicts.get(e.fingerprint)))
    report.rotation.sort(key=lambda r: min((rank(verdicts.get(fp)) for fp in r.fingerprints), default=3))



def select(report: ExposureReport, prefixes: Iterable[str]) -> list[Exposure]:
    """Exposures chosen by fingerprint (or a unique prefix of at least 6 characters); all when none given."""
    wanted = list(prefixes)
    if not wanted:
        return list(report.exposures)
    chosen: dict[str, Exposure] = {}
    for p in wanted:
        if len(p) < 6:
            raise UsageError(f"fingerprint {p!r} is too short; give at least 6 characters (see `unleak exposure`)")
        hits = [e for e in report.exposures if e.fingerprint.startswith(p)]
        if len(hits) != 1:
            what = "no secret in history" if not hits else f"{len(hits)} secrets"
            raise UsageError(f"fingerprint {p!r} matches {what}; run `unleak exposure` to list fingerprints")
        chosen[hits[0].fingerprint] = hits[0]
    return list(chosen.values())
