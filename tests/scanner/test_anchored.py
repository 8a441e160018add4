"""Trying a rule's pattern only just before its keywords finds exactly what searching every position finds."""

from __future__ import annotations

import random

import pytest

from scanner import anchored
from scanner.chunk import Chunk
from scanner.engine import Engine
from tests import fakes

NAMES = ["password", "db_password", "$password", "@token", "--password", "-p", "client_secret", "myClientSecret",
         "x.api_key", "API-KEY", "secret_key_base", "auth", "authToken", "bearer", "paſsword", "pwd", "PASS",
         "passphrase", "credentials", "a" * 39 + "_token", "a" * 41 + "_token", "key", "$key", "my_key",
         "hmac_key", "fernet", "jwt_secret", "aes", "token_password_secret", "passenger", "keyboard",
         "@$password", "a$token", "@@secret", "x.y-z_secret.token", "K_token"]
OPS = ["=", " = ", ": ", ":=", " => ", "=", ":", "::", " == ", "="]
GLUE = [" ", "; ", ", ", " # ", "\t", " && ", "", "(", "{'", '"']


def _line(rnd: random.Random) -> str:
    parts = []
    for _ in range(rnd.randint(1, 4)):
        name = rnd.choice(NAMES)
        value = rnd.choice([fakes._rand(fakes.ALNUM, rnd.randint(3, 40)), "changeme", f"b'{fakes.url_password(20)}'",
                            f'"{fakes.url_password(rnd.randint(4, 30))}"', "os.environ['X'] or 'fallbackvalue1'",
                            f"{rnd.choice(NAMES)}={fakes.generated_key()}", "${X}", ""])
        parts.append(rnd.choice(GLUE) + name + rnd.choice(OPS) + value)
    return "".join(parts)


def _texts(seed: int) -> list[str]:
    rnd = random.Random(seed)
    return ["\n".join(_line(rnd) for _ in range(rnd.randint(1, 12))) for _ in range(150)]


@pytest.mark.parametrize("seed", range(4))
def test_anchored_candidates_are_the_searched_candidates(seed: int) -> None:
    fast = Engine()
    assert set(fast._reach) >= {"UL900", "UL901", "UL902", "UL903", "UL904", "UL905"}
    reference = Engine()
    reference._reach = {}
    total = 0
    for i, text in enumerate(_texts(seed)):
        chunk = Chunk(path=["app.py", ".env", "config.yaml", "a.js"][i % 4], text=text, source="file")
        got = list(fast._candidates(chunk))
        assert got == list(reference._candidates(chunk)), text
        total += sum(c.rule_id in fast._reach for c in got)
    assert total > 300  # the texts exercise the anchored rules


@pytest.mark.parametrize("rid", ["UL900", "UL901", "UL902", "UL903", "UL904", "UL905"])
def test_matches_are_finditer_over_any_window(rid: str) -> None:
    """Against ``finditer`` directly, in windows that cut through names and values."""
    engine = Engine()
    rule = engine.rules[rid]
    rnd = random.Random(rid)
    for text in _texts(len(rid)):
        low = text.lower().replace("\u017f", "s")
        ends = sorted({i + len(k) - 1 for k in rule.keywords for i in range(len(low)) if low.startswith(k, i)})
        for _ in range(3):
            s = rnd.randint(0, len(text))
            e = rnd.randint(s, len(text))
            inside = [h for h in ends if s <= h < e]
            want = [m.span() for m in rule.regex.finditer(text, s, e)]
            assert [m.span() for m in anchored.matches(rule.regex, text, s, e, inside, engine._reach[rid])] == want


def _expand(alternation: str) -> list[str]:
    """The literal words of a ``(?:a|b[_.-]?c|d(?:or)?e|fs?|g(?![a-z]))`` alternation."""
    body = alternation[3:-1]
    words: list[str] = []
    for alt in body.split("|"):
        alt = alt.replace("(?![a-z])", "")
        forms = [""]
        i = 0
        while i < len(alt):
            if alt.startswith("[_.-]?", i):
                forms = [f + sep for f in forms for sep in ("", "_", ".", "-")]
                i += 6
            elif alt.startswith("(?:or)?", i):
                forms = [f + x for f in forms for x in ("", "or")]
                i += 7
            elif alt[i] == "?":
                forms = forms + [f[:-1] for f in forms]
                i += 1
            else:
                forms = [f + alt[i] for f in forms]
                i += 1
        words += forms
    return words


@pytest.mark.parametrize(("rid", "word"), [("UL900", "_WORD"), ("UL901", "_WORD"), ("UL902", "_BYTES_WORD")])
def test_every_name_word_holds_a_keyword_near_its_start(rid: str, word: str) -> None:
    """What lets the engine try these patterns only near keyword hits: each word the name can hold contains one of
    the rule's keywords, at most 7 characters in (``client_secret``), as ``starts_near`` assumes."""
    from scanner.rules import generic

    rule = Engine().rules[rid]
    words = _expand(getattr(generic, word))
    assert len(words) > 40 and "client_secret" in words and "passphrase" in words
    for w in words:
        at = [w.find(k) for k in rule.keywords if k in w]
        assert at and min(at) <= 7, (rid, w)
    assert rule.starts_near >= 2 * (rid != "UL902") + 40 + 7


QUOTES = ("'", '"')


def test_bytes_literal_rule_finds_raw_bytes_literals_too() -> None:
    """Every match of UL902 holds one of its ``requires`` (a window without one is skipped): ``br"…"`` included,
    which ``b'``/``b"`` alone missed."""
    engine = Engine()
    rule = engine.rules["UL902"]
    rnd = random.Random(902)
    names = ["HMAC_KEY", "secret_key", "self._fernet_token", "AES-KEY", "jwt_secret", "apiKey", "client_secret"]
    found = 0
    for _ in range(300):
        value = "".join(rnd.choice("abcdefghijkLMNOP0123456789+/") for _ in range(rnd.randint(8, 40)))
        prefix = rnd.choice(["b", "B", "br", "bR", "Br", "BR"])
        quote = rnd.choice(QUOTES)
        line = f"{rnd.choice(names)}{rnd.choice(['', ': bytes ', ': Final[bytes] '])}= {prefix}{quote}{value}{quote}"
        for m in rule.regex.finditer(line):
            found += 1
            assert any(k in m.group(0) for k in rule.requires), line
    assert found > 150
    key = "".join(rnd.choice("abcdefghijkLMNOPQRS0123456789") for _ in range(24))
    literal = f'SIGNING_KEY = br"{key}"\n'
    assert [f.rule_id for f in engine.scan_chunk(Chunk(path="app.py", text=literal, source="file"))] == ["UL902"]
