"""What a verification says about one secret: tri-state, never guessed, never the value."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    VALID = "valid"  # the provider accepted the credential
    INVALID = "invalid"  # the provider said it does not know it (revoked, expired, mistyped, fake)
    UNKNOWN = "unknown"  # no answer that says either: network error, rate limit, unexpected answer, no verifier

    @property
    def rank(self) -> int:
        """Sort order for `--verified-first` and the rotation checklist: live credentials first."""
        return {"valid": 0, "unknown": 1, "invalid": 2}[self.value]


@dataclass(frozen=True)
class Verification:
    status: Status
    provider: str = ""
    reason: str = ""  # why unknown or invalid, in words unleak chose (never text from the answer body)
    account: str = ""  # the key owner's login, id or account name, where the provider says it
    scopes: tuple[str, ...] = ()
    expires: str = ""
    cached: bool = field(default=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"status": self.status.value, "provider": self.provider}
        for key in ("reason", "account", "expires"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        if self.scopes:
            d["scopes"] = list(self.scopes)
        if self.cached:
            d["cached"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verification:
        return cls(status=Status(d["status"]), provider=str(d.get("provider", "")), reason=str(d.get("reason", "")),
                   account=str(d.get("account", "")), scopes=tuple(str(s) for s in d.get("scopes", ())),
                   expires=str(d.get("expires", "")))

    def short(self) -> str:
        """One column for the text report: ``valid (octocat; repo, gist)``."""
        extra = [x for x in (self.account, ", ".join(self.scopes), f"expires {self.expires}" if self.expires else "",
                             self.reason) if x]
        return f"{self.status.value} ({'; '.join(extra)})" if extra else self.status.value


def rank(verdict: Verification | None) -> int:
    """Report order: live credentials first, then unknown, then invalid, then secrets no verifier checked."""
    return verdict.status.rank if verdict is not None else 3


def unknown(provider: str, reason: str) -> Verification:
    return Verification(Status.UNKNOWN, provider, reason)
