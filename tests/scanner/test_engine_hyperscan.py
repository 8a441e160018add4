"""The hyperscan prefilter finds exactly what the automaton finds: same candidates, same order, same findings."""

from __future__ import annotations

import random

import pytest

from scanner.chunk import Chunk
from scanner.engine import Engine, EngineOptions
from scanner.keyscan import ascii_lower, hs_literal
from scanner.rules import custom_rule
from tests import fakes
from tests.scanner.test_engine_gates import _samples

pytest.importorskip("hyperscan")

NOISE = ["import os", "def f(x):", "    return x", "value = compute(a, b)", "# comment", "", "x = {'a': 1}",
         "url = 'https://example.org/path?q=1'", "print('hello world')", "ip = '10.0.0.1'", "\t}"]


def _chunks(seed: int) -> list[Chunk]:
    rnd = random.Random(seed)
    engine = Engine()
    keywords = [kw for kw, _ in engine._auto.items()]
    lines = _samples(rnd) + NOISE
    out = []
    for _ in range(120):
        body = []
        for _ in range(rnd.randint(1, 40)):
            pick = rnd.random()
            if pick < 0.3:
                kw = rnd.choice(keywords)
                body.append(f"{rnd.choice(['', 'my_', 'X.'])}{rnd.choice([kw, kw.upper(), kw.title()])}"
                            f"{rnd.choice([' = ', ': ', '='])}'{fakes._rand(fakes.ALNUM, rnd.randint(4, 50))}'")
            elif pick < 0.6:
                body.append(rnd.choice(lines))
            else:
                body.append(rnd.choice(NOISE))
        path = rnd.choice(["app.py", "config/settings.yaml", ".env", "docs/notes.md", ".pgpass", "x.tfstate",
                           "config/credentials/prod.yml.enc", ".s3cfg", "nb.ipynb"])
        out.append(Chunk(path=path, text="\n".join(body), source="commit"))
    long_line = " ".join(rnd.choice(lines) for _ in range(3000))  # one 10^5-character line
    out.append(Chunk(path="bundle.min.js", text=long_line, source="commit"))
    return out


def _key(engine: Engine, chunk: Chunk) -> list[tuple[str, int, int, str]]:
    return [(c.rule_id, c.start, c.end, c.value) for c in engine._candidates(chunk)]


@pytest.mark.parametrize("seed", range(2))
def test_same_candidates_in_the_same_order_and_same_findings(seed: int) -> None:
    plain, fast = Engine(), Engine(EngineOptions(hyperscan=True))
    assert fast.accelerator() is not None and plain.accelerator() is None
    chunks = _chunks(seed)
    assert sum(not c.text.isascii() for c in chunks) > 5  # the proxy scan of non-ASCII text is exercised too
    total = 0
    for chunk in chunks:
        want = _key(plain, chunk)
        assert _key(fast, chunk) == want, chunk.path
        assert fast.scan_chunk(chunk) == plain.scan_chunk(chunk)
        total += len(want)
    assert total > 200


def test_keywords_with_regex_characters_match_literally() -> None:
    assert hs_literal("a.b-c") == rb"a\x2eb\x2dc"
    rule = custom_rule("cfg", {"id": "odd-kw", "regex": r"(?P<secret>Z[0-9]{6})", "keywords": ["k.e*y+", "ñu"]})
    plain = Engine(EngineOptions(extra_rules=(rule,)))
    fast = Engine(EngineOptions(extra_rules=(rule,), hyperscan=True))
    for text in ("k.e*y+ Z123456", "kxexy+ Z123456", "K.E*Y+=Z654321", "ñu Z111111", "nu Z111111"):
        chunk = Chunk(path="a.txt", text=text, source="commit")
        assert _key(fast, chunk) == _key(plain, chunk)
    assert [c.value for c in fast._candidates(Chunk(path="a", text="K.E*Y+=Z654321", source="x"))] == ["Z654321"]
    assert not list(fast._candidates(Chunk(path="a", text="kxexy+ Z123456", source="x")))


def test_without_hyperscan_the_automaton_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "hyperscan", None)  # import fails
    engine = Engine(EngineOptions(hyperscan=True))
    assert engine.accelerator() is None
    chunk = Chunk(path="a.py", text=f"TOKEN = '{fakes.github_pat()}'", source="commit")
    assert [f.rule_id for f in engine.scan_chunk(chunk)] == ["UL001"]



def test_non_ascii_text_is_scanned_by_hyperscan_with_the_automatons_hits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Non-ASCII text goes through hyperscan as its ASCII proxy (each other character a '?'); a keyword holding a
    non-ASCII character or a '?' is checked against the text, and 'İ', 'ı', 'ſ' and the Kelvin sign still fold."""
    plain, fast = Engine(), Engine(EngineOptions(hyperscan=True))
    assert fast.accelerator() is not None
    token = fakes._rand(fakes.ALNUM, 40)
    texts = [
        f"CONTRASEÑA = '{fakes.password()}'  # é",
        f"Contraseña: {fakes.password()} ContraseNa: {fakes.password()}",
        f"paſſword = '{fakes.password()}' ı",
        f"api_\u212aey = '{token}'  # ü",
        f"PASSWORD = '{fakes.password()}'  # İ",
        # 'é' where the keyword has '?': the proxy holds a '?' there, the text does not
        f"https://oapi.dingtalk.com/robot/sendéaccess_token={fakes._rand(fakes.HEX, 64)}",
        f"https://oapi.dingtalk.com/robot/send?access_token={fakes._rand(fakes.HEX, 64)} ü",
        f"контраseña password='{fakes.password()}' 密码",
    ]
    calls: list[int] = []
    real_iter = fast._auto.iter
    monkeypatch.setattr(fast, "_auto", type("A", (), {"iter": lambda self, t: calls.append(1) or real_iter(t)})())
    total = 0
    for text in texts:
        chunk = Chunk(path="app.py", text=text, source="commit")
        want = _key(plain, chunk)
        assert _key(fast, chunk) == want, text
        assert fast._hs.scan_unicode(text)[0] == list(plain._auto.iter(ascii_lower(text)))  # type: ignore[union-attr]
        total += len(want)
    assert not calls  # the automaton never ran
    assert total >= 6
    # UL543 (DingTalk webhook) is keyed on its URL up to the token, '?' included
    dingtalk = [[rid for rid, *_ in _key(fast, Chunk(path="a.py", text=t, source="commit"))] for t in texts[5:7]]
    assert "UL543" not in dingtalk[0] and "UL543" in dingtalk[1]
