"""detect-secrets is loaded without ``requests``: it can never reach the network from unleak, and what it finds
does not change."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO_ROOT


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=REPO_ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_detect_secrets_cannot_reach_the_network_and_later_imports_get_the_real_requests() -> None:
    out = _run("""
        import base64, secrets, sys
        from scanner.detect_secrets import adapter
        # generated: a high-entropy string (64 characters: at 40, one draw in ~55 fell under detect-secrets' 4.5 bits)
        value = base64.b64encode(secrets.token_bytes(48)).decode()
        hits = list(adapter.scan_lines("app.py", f'blob = "{value}"'))
        print(len(hits) > 0, "requests" in sys.modules, "charset_normalizer" in sys.modules)
        from detect_secrets.plugins import base, slack
        for call in (lambda: base.requests.get("https://example.invalid"), lambda: slack.requests.post("x")):
            try:
                call()
            except Exception as exc:
                print(type(exc).__name__)
        import requests
        print(requests is not base.requests, hasattr(requests, "Session"))
    """)
    assert out.split("\n") == ["True False False", "_Offline", "_Offline", "True True"]


def test_a_requests_imported_before_is_left_alone() -> None:
    out = _run("""
        import requests
        from scanner.detect_secrets import adapter
        adapter.warm()
        from detect_secrets.plugins import base
        print(base.requests is requests)
    """)
    assert out == "True"
