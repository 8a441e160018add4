"""Score ``unleak scan`` on Plazmaz/leaky-repo with the repository's own answer key.

    python bench/leaky_repo.py CLONE [--min-confidence unlikely]

leaky-repo keeps its key in ``.leaky-meta/secrets.csv``: per file, how many lines are a "risk" (a secret) and how many
are "informative" (a user name, a host). The key counts lines, not places, so a file scores the distinct lines unleak
reports there, up to its risk count (96 in all). A reported line is "outside the key" when its file is not in the key,
or when the file has more reported lines than risk and informative lines together.

Prints the score, the files where unleak finds fewer lines than the key's risk count, and anything outside the key.
Not part of the test suite: the clone is a ``git clone`` of the ``fetch``ed mirror.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path


def answer_key(clone: Path) -> dict[str, tuple[int, int]]:
    """File -> (risk lines, informative lines), from the key's rows (comments and blank lines skipped)."""
    key: dict[str, tuple[int, int]] = {}
    with (clone / ".leaky-meta" / "secrets.csv").open(newline="") as fh:
        for row in csv.reader(fh):
            if not row or row[0].startswith("#") or len(row) < 3:
                continue
            key[row[0].strip()] = (int(row[1]), int(row[2]))
    return key


def reported_lines(clone: Path, min_confidence: str) -> dict[str, set[int]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "leaky.json"
        tier = ["--min-confidence", min_confidence] if min_confidence else []
        subprocess.run([sys.executable, "-m", "unleak", "scan", ".", "--format", "json", "--no-baseline", "--exit-zero",
                        "--output", str(out), *tier], cwd=clone, check=True, capture_output=True)
        findings = json.loads(out.read_text())["findings"]
    lines: dict[str, set[int]] = defaultdict(set)
    for f in findings:
        lines[f["path"].split("!/", 1)[0]].add(int(f["line"]))
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clone", type=Path)
    ap.add_argument("--min-confidence", default="")
    args = ap.parse_args()
    key = answer_key(args.clone)
    lines = reported_lines(args.clone, args.min_confidence)
    total = sum(risk for risk, _ in key.values())
    score = sum(min(len(lines.get(path, ())), risk) for path, (risk, _) in key.items())
    print(f"leaky-repo: {score}/{total} risk lines" + (f" (--min-confidence {args.min_confidence})"
                                                       if args.min_confidence else ""))
    for path, (risk, _) in sorted(key.items()):
        got = len(lines.get(path, ()))
        if got < risk:
            print(f"  short: {path}: {got} of {risk}")
    outside = [(path, len(found)) for path, found in sorted(lines.items()) if path not in key]
    outside += [(path, len(found) - sum(key[path])) for path, found in sorted(lines.items())
                if path in key and len(found) > sum(key[path])]
    print(f"outside the key: {sum(n for _, n in outside)} line(s)")
    for path, n in outside:
        print(f"  outside: {path}: {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
