"""Proof that a human approves a run, not the agent that asked for it.

The approval page can be loaded by any local process that learns its link, the agent's included, so clicking a
button on it proves nothing. Instead the page shows a per-request code, and approving means typing that code back
in ``unleak approve ID`` in the human's own terminal, which then asks y/N with the full request on screen. The
code reaches no MCP answer; what is stored is a salted scrypt digest (an agent that reads unleak's state files
gets nothing it can type back), and five wrong codes end the request.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

from scanner.errors import PolicyError, UsageError
from unleak.userenv import ensure_private_dir

#: no 0/O, 1/I/L: the human reads it off a page and types it
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10  # about 50 bits: not guessable in MAX_TRIES, not worth brute-forcing a digest of
MAX_TRIES = 5
_ID = re.compile(r"[a-z]-[a-z0-9]{1,32}")


def _path(store_dir: Path, request_id: str) -> Path:
    if not _ID.fullmatch(request_id):
        raise UsageError("not a request id; list pending ones with `unleak grants --pending`")
    return store_dir / "presence" / f"{request_id}.json"


def _digest(code: str, salt: bytes) -> bytes:
    return hashlib.scrypt(normalise(code).encode("ascii"), salt=salt, n=1 << 14, r=8, p=1, dklen=32)


def normalise(code: str) -> str:
    """What the human typed, without spaces or dashes, upper-cased."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _write(path: Path, data: dict[str, Any]) -> None:
    from scanner.fileio import write_state_file

    ensure_private_dir(path.parent)
    write_state_file(path, json.dumps(data).encode("utf-8"))


def issue(store_dir: Path, request_id: str, page_url: str, about: dict[str, Any] | None = None) -> str:
    """A new code for ``request_id`` (replacing any earlier one), formatted ``ABCDE-FGHJK`` for the page.
    ``about`` describes a request that lives only in the server's memory (a secret entry), for the terminal."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    salt = os.urandom(16)
    _write(_path(store_dir, request_id), {"salt": salt.hex(), "digest": _digest(code, salt).hex(), "tries": 0,
                                          "page": page_url, "about": about})
    return f"{code[:5]}-{code[5:]}"


def about(store_dir: Path, request_id: str) -> dict[str, Any] | None:
    """What :func:`issue` was told about ``request_id``."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, UsageError):
        found = json.loads(_path(store_dir, request_id).read_text(encoding="utf-8"))["about"]
        return dict(found) if isinstance(found, dict) else None
    return None


def confirm(store_dir: Path, request_id: str) -> None:
    """Mark ``request_id`` as confirmed by the human (after :func:`verify` and their y/N), for the server that
    holds the request to act on."""
    _write(_path(store_dir, request_id), {"confirmed": True})


def confirmed(store_dir: Path, request_id: str) -> bool:
    with contextlib.suppress(OSError, ValueError, UsageError):
        return json.loads(_path(store_dir, request_id).read_text(encoding="utf-8")).get("confirmed") is True
    return False


def discard(store_dir: Path, request_id: str) -> None:
    with contextlib.suppress(OSError, UsageError):
        _path(store_dir, request_id).unlink(missing_ok=True)


def live(store_dir: Path, request_id: str) -> bool:
    """Whether ``request_id`` has a code that can still be typed."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, UsageError):
        return int(json.loads(_path(store_dir, request_id).read_text(encoding="utf-8"))["tries"]) < MAX_TRIES
    return False


def page_url(store_dir: Path, request_id: str) -> str | None:
    """The page that shows the code of ``request_id``, if one was issued."""
    with contextlib.suppress(OSError, ValueError, UsageError):
        return str(json.loads(_path(store_dir, request_id).read_text(encoding="utf-8"))["page"])
    return None


def verify(store_dir: Path, request_id: str, typed: str) -> None:
    """Accept the code typed for ``request_id`` (it is then used up) or raise :class:`PolicyError`."""
    path = _path(store_dir, request_id)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        salt, digest, tries = bytes.fromhex(data["salt"]), bytes.fromhex(data["digest"]), int(data["tries"])
    except (OSError, ValueError, KeyError, TypeError):
        raise PolicyError(f"request {request_id} has no approval page with a code (its server may have "
                          "stopped); the agent must ask again") from None
    if tries >= MAX_TRIES:
        raise PolicyError(f"too many wrong codes for request {request_id}; the agent must ask again")
    if not hmac.compare_digest(_digest(typed, salt), digest):
        data["tries"] = tries + 1
        _write(path, data)
        left = MAX_TRIES - tries - 1
        raise PolicyError(f"wrong code for request {request_id} ({left} tries left); type the code shown on its "
                          "approval page")
    path.unlink(missing_ok=True)
