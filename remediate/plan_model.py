"""The plan's data model: the secrets a fix moves (where they sit, what their history is), the file changes, the
manual steps, and the plan that holds them.

The plan holds values (it must, to store them) but nothing in it prints one: values live in fields excluded from
``repr`` and :meth:`Plan.to_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Place:
    """Where a planned secret sits. ``kind`` as in :class:`~remediate.codemods.sites.Site`."""

    path: str
    line: int
    kind: str
    env_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "line": self.line, "kind": self.kind}
        if self.env_key:
            d["env_key"] = self.env_key
        return d


@dataclass
class PlannedSecret:
    name: str
    reference: str
    value: str = field(repr=False)
    raws: set[str] = field(repr=False, default_factory=lambda: set())
    places: list[Place] = field(default_factory=lambda: [])
    rule_ids: list[str] = field(default_factory=lambda: [])
    preview: str = ""
    in_vault: bool = False  # the vault already holds this name with this value
    history: History | None = None  # None: not looked up (no git history)

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "reference": self.reference, "rule_ids": self.rule_ids, "preview": self.preview,
             "already_in_vault": self.in_vault, "places": [p.to_dict() for p in self.places]}
        if self.history is not None:
            d["history"] = self.history.to_dict()
        return d


@dataclass(frozen=True)
class History:
    """Whether a moved value was committed (moving it into a vault does not un-leak it) and where to revoke it."""

    committed: bool
    first_commit: str = ""  # short sha of the earliest commit holding it
    first_date: str = ""
    refs: tuple[str, ...] = ()  # branches, tags and remote refs whose history holds it
    pushed: bool = False
    revoke: str = ""  # the rule's revoke location

    def to_dict(self) -> dict[str, Any]:
        return {"committed": self.committed, "first_commit": self.first_commit, "first_date": self.first_date,
                "refs": list(self.refs), "pushed": self.pushed, "revoke": self.revoke}

    def describe(self) -> str:
        if not self.committed:
            return "not in git history"
        where = f" on {', '.join(self.refs)}" if self.refs else ""
        return (f"committed since {self.first_commit} ({self.first_date[:10]}){where}"
                + (", pushed" if self.pushed else "") + (f"; revoke: {self.revoke}" if self.revoke else ""))


@dataclass
class FileChange:
    path: str  # relative to the root, '/'-separated
    before: str | None = field(repr=False)  # None: the file does not exist yet
    after: str = field(repr=False)
    # Values (raw and runtime forms) that must be gone from the file once rewritten.
    removes: set[str] = field(repr=False, default_factory=lambda: set())
    # Secrets knowingly left in the file (manual steps): the post-write re-scan does not count them.
    keeps: set[str] = field(repr=False, default_factory=lambda: set())
    reference_file: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "created": self.before is None, "reference_file": self.reference_file}


@dataclass
class ManualStep:
    path: str
    line: int
    reason: str
    rule_id: str = ""
    preview: str = ""
    value: str = field(default="", repr=False)  # the secret left in place (never shown; see Plan.redactions)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "rule_id": self.rule_id, "preview": self.preview,
                "reason": self.reason}


@dataclass
class Plan:
    root: Path
    namespace: str
    scheme: str
    reference_file: str
    secrets: list[PlannedSecret] = field(default_factory=lambda: [])
    changes: list[FileChange] = field(default_factory=lambda: [])
    manual: list[ManualStep] = field(default_factory=lambda: [])
    notes: list[str] = field(default_factory=lambda: [])
    reference_entries: dict[str, str] = field(default_factory=lambda: {})  # variable -> reference (new ones)
    # Reference files of dotenv files other than the top-level .env (``.env.production.unleak``): path ->
    # variable -> reference.
    side_references: dict[str, dict[str, str]] = field(default_factory=lambda: {})
    # Findings below the confidence asked for, left where they are but named (path, line, rule id, confidence).
    left_alone: list[tuple[str, int, str, str]] = field(default_factory=lambda: [])
    # Every other secret text seen (manual steps, findings left alone) -> its label: redacted in the patch too.
    hidden: dict[str, str] = field(repr=False, default_factory=lambda: {})

    @property
    def empty(self) -> bool:
        return not self.changes and not self.secrets

    def redactions(self) -> dict[str, str]:
        """Every secret text (raw and runtime forms) -> the label shown instead of it."""
        from scanner.forms import encoded_forms

        out: dict[str, str] = dict(self.hidden)
        for m in self.manual:
            if m.value:
                out.setdefault(m.value, f"[REDACTED:{m.rule_id or 'secret'}]")
        for s in self.secrets:
            for form in {s.value, *s.raws, *encoded_forms(s.value)}:
                if form:
                    out[form] = f"[REDACTED:{s.name}]"
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "namespace": self.namespace, "vault": self.scheme,
                "reference_file": self.reference_file,
                "secrets": [s.to_dict() for s in self.secrets],
                "files": [c.to_dict() for c in self.changes],
                "reference_entries": dict(self.reference_entries),
                "manual": [m.to_dict() for m in self.manual], "notes": list(self.notes),
                "left_alone": [{"path": p, "line": ln, "rule_id": r, "confidence": c}
                               for p, ln, r, c in self.left_alone]}
