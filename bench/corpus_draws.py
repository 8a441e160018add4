"""The generated corpus, drawn again and again: how often a fresh random value is missed or misreported.

    python bench/corpus_draws.py 500

``tests/scanner/test_corpus.py`` draws every secret fresh from ``tests.fakes``, so a filter that drops a real-shaped
value one time in a thousand shows as a test that fails one run in a thousand. This runs the test's own scan (in
process, a fresh temporary directory per draw) N times and prints, for each draw that differs from the corpus's
expectation, the place, the rule and the filter that dropped the candidate there: never a value.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scanner.api import ScanRequest, scan  # noqa: E402
from tests.scanner.test_corpus import _expected, _write, corpus  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("draws", type=int)
    n = ap.parse_args().draws
    bad = 0
    for i in range(n):
        cases = corpus()
        with tempfile.TemporaryDirectory() as d:
            _write(Path(d), cases)
            res = scan(ScanRequest(root=Path(d), explain=True))
        got = {(x.path, x.line, x.rule_id) for x in res.findings}
        want = _expected(cases)
        if got == want:
            continue
        bad += 1
        missed, extra = sorted(want - got), sorted(got - want)
        places = {(p, ln) for p, ln, _ in missed}
        why = sorted({f"{e.rule_id} {e.filter}" for e in res.explanations if (e.path, e.line) in places})
        print(f"draw {i}: missed {missed} extra {extra} dropped by {why}", flush=True)
    print(f"{bad} of {n} draws differ from the expectation")


if __name__ == "__main__":
    main()
