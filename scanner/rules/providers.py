"""Provider token formats: fixed prefixes, lengths and checksums make these high confidence."""

from __future__ import annotations

from scanner.finding import Confidence
from scanner.rules import Rule, register
from scanner.rules._util import github_checksum_ok

H = Confidence.HIGH

register(
    Rule(
        id="UL001",
        title="GitHub token",
        confidence=H,
        pattern=r"\b(?P<secret>gh[pousr]_[A-Za-z0-9]{36})\b",
        keywords=("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        validate=github_checksum_ok,
        preview_prefix="gh*_",
        revoke="https://github.com/settings/tokens",
        family="github",
        description="Classic personal access, OAuth, user-to-server, server-to-server and refresh tokens "
        "(CRC32 checked)",
    ),
    Rule(
        id="UL010",
        title="AWS access key id",
        confidence=H,
        pattern=r"\b(?P<secret>(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
        keywords=("akia", "asia", "abia", "acca"),
        preview_prefix="AKIA",
        revoke="https://console.aws.amazon.com/iam/home#/security_credentials",
        family="aws",
        description="Long-term (AKIA) and temporary (ASIA) access key ids",
    ),
    Rule(
        id="UL020",
        title="Stripe secret key",
        confidence=H,
        pattern=r"\b(?P<secret>(?:sk|rk)_live_[A-Za-z0-9]{20,247})\b",
        keywords=("sk_live_", "rk_live_"),
        preview_prefix="sk_live_",
        revoke="https://dashboard.stripe.com/apikeys",
        family="stripe",
        description="Live secret and restricted keys",
    ),
    Rule(
        id="UL030",
        title="Slack token",
        confidence=H,
        pattern=r"\b(?P<secret>xox[baprs]-[0-9]{8,13}-[0-9]{8,13}(?:-[0-9]{8,13})?-[A-Za-z0-9]{24,34})\b",
        keywords=("xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"),
        preview_prefix="xox*-",
        revoke="https://api.slack.com/apps",
        family="slack",
        description="Bot, user and app tokens",
    ),
)
