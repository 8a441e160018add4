"""Generators of clearly fake secrets in real formats. Values are random at test time, so no literal secret lives
in the repository; names say *fake* so nobody mistakes them for credentials."""

from __future__ import annotations

import base64
import secrets
import string
import zlib

ALNUM = string.ascii_letters + string.digits
_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _base62(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _B62[r] + out
    return out.rjust(width, "0")


def github_pat(prefix: str = "ghp_") -> str:
    """A GitHub token shape: 30 random base62 characters then a 6-character base62 CRC32 of them."""
    body = _rand(ALNUM, 30)
    return prefix + body + _base62(zlib.crc32(body.encode()) & 0xFFFFFFFF, 6)


def aws_access_key_id() -> str:
    return "AKIA" + _rand(string.ascii_uppercase + "234567", 16)


def aws_secret_key() -> str:
    return _rand(ALNUM + "/+", 40)


def stripe_live_key() -> str:
    return "sk_live_" + _rand(ALNUM, 24)


def slack_bot_token() -> str:
    return f"xoxb-{_rand(string.digits, 11)}-{_rand(string.digits, 12)}-{_rand(ALNUM, 24)}"


def password(n: int = 18) -> str:
    return _rand(ALNUM + "!#%&*+-.", n)


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()
