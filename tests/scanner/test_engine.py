"""Engine performance paths keep results: overlap resolution in O(log n), gated views mapped back to offsets."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from scanner.chunk import Chunk
from scanner.engine import Engine, EngineOptions
from scanner.result import Explanation
from tests import fakes


def _fastest(text: str, path: str, runs: int = 2) -> tuple[float, list]:
    best, found = float("inf"), []
    for _ in range(runs):
        t0 = time.process_time()  # CPU time of this process: other load on the machine does not count
        found = Engine().scan_chunk(Chunk(path=path, text=text))
        best = min(best, time.process_time() - t0)
    return best, found


def _growth(make: Callable[[int], str], path: str, n: int) -> tuple[float, list]:
    """CPU-time ratio of scanning 4n candidates to n: about 4 when linear, 16 when quadratic."""
    small, _ = _fastest(make(n // 4), path)
    large, found = _fastest(make(n), path)
    return large / max(small, 1e-3), found


def test_many_candidates_in_one_chunk_stay_linear_and_unique() -> None:
    # A notebook-like chunk with thousands of secrets; the old pairwise overlap check was quadratic here.
    tokens = [fakes.github_pat() for _ in range(3000)]
    ratio, found = _growth(lambda k: "\n".join(f'"api_token": "{t}",' for t in tokens[:k]), "nb.ipynb", 3000)
    # One finding per token: the provider rule wins over the generic one on the same span.
    assert sorted(f.line for f in found) == list(range(1, 3001))
    assert {f.rule_id for f in found} == {"UL001"}
    assert ratio < 9, ratio


def test_many_candidates_on_one_long_line_stay_linear() -> None:
    # A minified bundle: filters used to get the whole line per candidate (40 s for 1,500 candidates).
    tokens = [fakes.github_pat() for _ in range(2000)]
    ratio, found = _growth(lambda k: "var a=1;" + ";".join(f'k{i}="{t}"' for i, t in enumerate(tokens[:k])) + ";",
                           "bundle.min.js", 2000)
    assert len(found) == 2000 and {f.rule_id for f in found} == {"UL001"}
    assert ratio < 9, ratio


def test_filters_see_the_line_within_1024_characters_of_the_candidate() -> None:
    token = fakes.github_pat()
    near = f"x = 1  # pragma: allowlist secret{' ' * 500}T = '{token}'"
    far = f"x = 1  # pragma: allowlist secret{' ' * 3000}T = '{token}'"
    engine = Engine()
    assert engine.scan_chunk(Chunk(path="a.py", text=near)) == []
    assert [f.rule_id for f in engine.scan_chunk(Chunk(path="a.py", text=far))] == ["UL001"]


def test_gated_detectors_report_original_offsets() -> None:
    blob = fakes.entropy_blob()
    lines = ["def f():", "    return 1", f'VALUE = "{blob}"', "x = 2", f'OTHER = "{fakes._rand(fakes.HEX, 40)}"']
    chunk = Chunk(path="m.py", text="\n".join(lines), line_numbers=(10, 11, 12, 40, 41))
    on = Engine(EngineOptions(gates=True)).scan_chunk(chunk)
    off = Engine(EngineOptions(gates=False)).scan_chunk(chunk)
    assert on == off
    assert any(f.line == 12 and f.column == lines[2].index(blob) + 1 for f in on)


def test_detect_secrets_hit_repr_hides_the_value() -> None:
    from scanner.detect_secrets.adapter import DSHit

    value = fakes._rand(fakes.B64, 40)
    hit = DSHit(0, 4, value, "Base64 High Entropy String")
    assert value not in repr(hit) and value not in str(hit)


def _three_kinds_of_detect_secrets_hits() -> Chunk:
    """A keyword hit (UL951), a base64 entropy hit (UL950) and an IBM Cloud IAM key (UL952)."""
    b64 = fakes.entropy_blob()
    iam = fakes._rand("abcdefghijklmnopqrstuvwxyz0123456789_-", 44)
    return Chunk(path="app/settings.cfg",
                 text=f'db_password = "{fakes.password()}"\nblob = "{b64}"\nibm_cloud_iam_key = "{iam}"\n')


def test_detect_secrets_runs_once_per_chunk_for_its_three_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner.detect_secrets import adapter

    calls: list[str] = []
    real = adapter.scan_lines

    def counting(path: str, text: str, select: bool = True, only: frozenset[int] | None = None
                 ) -> Iterator[adapter.DSHit]:
        calls.append(path)
        return real(path, text, select, only)

    monkeypatch.setattr(adapter, "scan_lines", counting)
    explain: list[Explanation] = []
    found = Engine(EngineOptions(explain=True)).scan_chunk(_three_kinds_of_detect_secrets_hits(), explain)
    ids = {f.rule_id for f in found} | {e.rule_id for e in explain}
    assert {"UL950", "UL951", "UL952"} <= ids
    assert calls == ["app/settings.cfg"]


@pytest.mark.parametrize("keep", ["UL950", "UL951", "UL952"])
def test_each_detect_secrets_rule_can_be_disabled_on_its_own(keep: str) -> None:
    chunk = _three_kinds_of_detect_secrets_hits()
    others = {"UL950", "UL951", "UL952"} - {keep}
    # The provider and generic rules that win these spans are off too, so every candidate left is reported.
    engine = Engine(EngineOptions(disabled=frozenset(others | {"UL900", "UL905", "UL368"}), explain=True))
    explain: list[Explanation] = []
    found = engine.scan_chunk(chunk, explain)
    assert {f.rule_id for f in found} | {e.rule_id for e in explain} == {keep}
