"""Environment tiers (dev, staging, prod) and the labels a human puts on vault entries: a run's tier is the highest
label among the references it resolves."""


from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Sequence
from pathlib import Path

from scanner.errors import ConfigError, UsageError
from unleak.userenv import data_dir, ensure_private_dir

TIERS = ("dev", "staging", "prod")
TIER_RANK = {t: i for i, t in enumerate(TIERS)}


def check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise UsageError(f"unknown tier {tier!r}: choose one of {', '.join(TIERS)}")
    return tier


def _tiers_path() -> Path:
    return data_dir() / "tiers.json"


class TierLabels:
    """The tier of each vault entry, by reference: metadata a human sets (``unleak secrets set --tier prod``),
    kept beside the vault and signed with unleak's integrity key. Never derived from a file or variable name: the
    agent writes those. An entry without a label is ``dev``; if the labels cannot be trusted (edited, rolled back,
    removed), every reference counts as ``prod``, the tier agents reach only when the policy says so."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or _tiers_path()

    def _load(self) -> tuple[dict[str, str], bool]:
        from unleak import integrity

        try:
            head = integrity.read_head("tiers")
            raw = json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else None
        except (OSError, ValueError, ConfigError):
            return {}, False
        if raw is None:
            return {}, head is None
        if not (isinstance(raw, dict) and isinstance(raw.get("labels"), dict) and integrity.record_valid("tiers", raw)
                and head is not None and head.get("digest") == raw.get("mac")):
            return {}, False
        labels = {k: v for k, v in raw["labels"].items() if isinstance(k, str) and v in TIERS}
        return labels, True

    def tier(self, reference: str) -> str:
        labels, trusted = self._load()
        if not trusted:
            return "prod"
        return labels.get(reference, "dev")

    def trusted(self) -> bool:
        return self._load()[1]

    def set(self, reference: str, tier: str) -> None:
        from scanner.fileio import atomic_write_text
        from unleak import integrity

        check_tier(tier)
        ensure_private_dir(self.path.parent)
        fd = os.open(self.path.with_name("tiers.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            labels, trusted = self._load()
            if not trusted and self.path.exists():
                raise ConfigError(f"{self.path} does not match what unleak last wrote; every secret counts as prod "
                                  "until you remove it and label the entries again")
            labels[reference] = tier
            doc = integrity.sign_record("tiers", {"labels": dict(sorted(labels.items()))})
            atomic_write_text(self.path, json.dumps(doc, indent=1, sort_keys=True) + "\n", mode=0o600)
            integrity.write_head("tiers", {"digest": doc["mac"]})
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def tier_of_references(references: Sequence[str], labels: TierLabels | None = None) -> str:
    """The tier of a run: the highest tier labelled on any of the vault entries it uses (``dev`` when none)."""
    labels = labels or TierLabels()
    best = "dev"
    for ref in references:
        t = labels.tier(ref)
        if TIER_RANK[t] > TIER_RANK[best]:
            best = t
    return best
