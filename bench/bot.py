"""What the remediation bot adds to an Action run: time and requests per mode, on the sample repository of
tests/integrations/test_bot.py (a pull request adding a Stripe and an OpenAI key; a CI workflow).

Runs the composite action as the runner does (bash steps, GITHUB_* variables, event file) against the FAKE GitHub
API (tests/fakes_github.py) and a bare repository to push to; nothing leaves the machine.

    python bench/bot.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes_github import SECRETS_TOKEN, FakeGitHub, serve
from tests.integrations.test_action_events import git
from tests.integrations.test_bot import PR, REPOSITORY, make_hub, pr_event, push_event, run

MODES = [("off", "pull_request"), ("suggest", "pull_request"), ("commit", "pull_request"),
         ("off", "push"), ("pull-request", "push")]


def once(mode: str, event: str, tmp: Path) -> tuple[float, list[str], str]:
    (tmp / "hub").mkdir(parents=True)
    hub = make_hub(tmp / "hub")
    if event == "push":
        git(hub.path, "update-ref", "refs/heads/main", hub.merge)
    ev = pr_event(hub) if event == "pull_request" else push_event(hub, hub.merge)
    with serve(FakeGitHub(REPOSITORY, pr_number=PR, head=hub.head)) as api:
        t0 = time.perf_counter()
        r = run(hub, ev, tmp / "run", api, remediate=mode, **{"secrets-token": SECRETS_TOKEN})
        took = time.perf_counter() - t0
        calls = [f"{q['method']} {q['path'].split('?')[0]}" for q in api.requests]
    outcome = next((ln.split("::", 2)[2] for ln in r.stdout.splitlines() if "remediate:" in ln), "")
    return took, calls, outcome


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    base: dict[str, float] = {}
    print("| event | remediate | median s | added vs off | requests | outcome |")
    print("|---|---|---|---|---|---|")
    for mode, event in MODES:
        times: list[float] = []
        calls: list[str] = []
        outcome = ""
        for i in range(args.runs):
            with tempfile.TemporaryDirectory() as d:
                took, calls, outcome = once(mode, event, Path(d) / str(i))
                times.append(took)
        med = statistics.median(times)
        if mode == "off":
            base[event] = med
        added = f"{med - base[event]:+.2f} s" if event in base and mode != "off" else "—"
        summary = ", ".join(f"{c} ×{calls.count(c)}" if calls.count(c) > 1 else c for c in dict.fromkeys(calls))
        print(f"| {event} | {mode} | {med:.2f} | {added} | {len(calls)}: {summary or '—'} | {outcome[:160]} |")


if __name__ == "__main__":
    main()
