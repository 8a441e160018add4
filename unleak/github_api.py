"""GitHub's REST API as the Action and the bot use it: one JSON request with the documented headers.

The token travels in the Authorization header only; errors name the API's address, never the token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from scanner.errors import UnleakError


def request_json(method: str, url: str, token: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "unleak-action",
        **({"Content-Type": "application/json"} if data is not None else {}),
    })
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read() or b"null")
        except (json.JSONDecodeError, ValueError):
            detail = None
        return exc.code, detail
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UnleakError(f"cannot reach the GitHub API at {url.split('/repos/')[0]}: {reason}") from None
