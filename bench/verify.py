"""`unleak scan --verify` against a local fake of the providers: many secrets, one time budget, per-host limits.

    python bench/verify.py [--secrets 500] [--latency 0.05] [--budget 120]

Generates a repository holding N distinct fake credentials spread over every provider with a verifier (half of them
"live" in the fake), starts the fake provider server of the test suite on 127.0.0.1 (each answer delayed by
``--latency`` seconds, like a real round trip), runs ``unleak scan --verify --format json`` through the loopback
override and prints: wall time, verdict counts (every secret must get valid/invalid — none unknown — within the
budget), and, per provider host, the most requests in flight at once (limit 4) and the highest request rate over any
one-second window (limit 10/s). No network beyond loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import fakes  # noqa: E402
from tests.scanner.fake_providers import FakeProviders, serve  # noqa: E402

GENERATORS = [fakes.github_pat, fakes.gitlab_pat, fakes.slack_bot_token, fakes.stripe_live_key, fakes.openai_key,
              fakes.anthropic_key, fakes.huggingface_token, fakes.google_api_key, fakes.sendgrid_key,
              fakes.mailchimp_key, fakes.npm_token]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--secrets", type=int, default=500)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--budget", type=float, default=120.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="unleak-verify-bench-") as tmp_s:
        tmp = Path(tmp_s)
        state = FakeProviders(delay=args.latency)
        srv, url, ca = serve(tmp, state)
        repo = tmp / "repo"
        repo.mkdir()
        lines = []
        for i in range(args.secrets):
            value = GENERATORS[i % len(GENERATORS)]()
            if i % 2 == 0:
                state.valid.add(value)
            lines.append(f"CRED_{i}={value}\n")
        for i in range(0, len(lines), 50):  # 50 a file, like a repository with many config files
            (repo / f"conf{i // 50:03d}.env").write_text("".join(lines[i:i + 50]))
        git_env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
                   "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}
        for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "bench"]):
            subprocess.run(["git", *cmd], cwd=repo, check=True, env=git_env)
        env = {**os.environ, "UNLEAK_VERIFY_OVERRIDE": f"*={url}", "UNLEAK_VERIFY_CA_FILE": str(ca),
               "PYTHONPATH": str(ROOT), "HOME": str(tmp), "XDG_STATE_HOME": str(tmp / "state")}
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "unleak", "scan", "--verify", "--verify-timeout", str(args.budget),
                               "--format", "json"], cwd=repo, env=env, capture_output=True, text=True)
        wall = time.monotonic() - t0
        srv.shutdown()
        doc = json.loads(proc.stdout)
        verdicts = Counter(f.get("verified", {}).get("status", "none") for f in doc["findings"])
        reasons = Counter((f["rule_id"], f["verified"].get("reason", "")) for f in doc["findings"]
                          if f.get("verified", {}).get("status") != "valid" and "rejected" not in
                          f.get("verified", {}).get("reason", "rejected"))
        by_host: dict[str, list[float]] = defaultdict(list)
        for host, at in state.stamps:
            by_host[host].append(at)
        print(f"{args.secrets} distinct secrets, {len(doc['findings'])} findings, {len(state.hits)} requests, "
              f"latency {args.latency * 1000:.0f} ms, budget {args.budget:.0f} s")
        print(f"wall {wall:.2f} s (scan + verification), verdicts: {dict(verdicts)}")
        for (rule, reason), n in sorted(reasons.items()):
            print(f"  not answered: {rule} {reason or '(no verdict)'} ×{n}")
        print(f"{'host':<36} {'requests':>8} {'max in flight':>14} {'max per 1 s':>12}")
        worst_rate = 0
        for host, stamps in sorted(by_host.items()):
            stamps.sort()
            rate = max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)
            worst_rate = max(worst_rate, rate)
            print(f"{host:<36} {len(stamps):>8} {state.max_inflight.get(host, 0):>14} {rate:>12}")
        ok = (verdicts.get("unknown", 0) == 0 and len(state.hits) == args.secrets and wall < args.budget
              and max(state.max_inflight.values()) <= 4 and worst_rate <= 11)  # 10/s, +1 for a window edge
        print("OK" if ok else "FAILED: see above")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
