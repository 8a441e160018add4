"""The output masker on its own: every encoded form, every split point, overlaps, multi-line values, prompts.

The expected encodings are computed here with the standard library independently of unleak.masking, so a form the
masker forgets to generate makes a test fail.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import random
import re
import secrets
import subprocess
import urllib.parse

import pytest

from tests.fakes import github_pat, password, stripe_live_key
from unleak.masking import MIN_MASK_LENGTH, Masker, mask_for, names_too_short


def fake_pem() -> str:
    """A multi-line value shaped like a PEM private key (random bytes; clearly labelled fake)."""
    body = base64.b64encode(os.urandom(300)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN FAKE TEST KEY-----\n" + "\n".join(lines) + "\n-----END FAKE TEST KEY-----\n"


def leak_forms(value: str) -> dict[str, str]:
    """Every form of ``value`` a careless program might print, by a label for failure messages."""
    raw = value.encode()
    forms = {
        "raw": value,
        "b64": base64.b64encode(raw).decode(),
        "b64-nopad": base64.b64encode(raw).decode().rstrip("="),
        "b64url": base64.urlsafe_b64encode(raw).decode(),
        "b64url-nopad": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": binascii.hexlify(raw).decode(),
        "HEX": binascii.hexlify(raw).decode().upper(),
        "quote": urllib.parse.quote(value, safe=""),
        "quote-slash": urllib.parse.quote(value),
        "quote_plus": urllib.parse.quote_plus(value),
        "json": json.dumps(value)[1:-1],
        "json-utf8": json.dumps(value, ensure_ascii=False)[1:-1],
        "json-upper-u": re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), json.dumps(value)[1:-1]),
        "json-slash": json.dumps(value)[1:-1].replace("/", "\\/"),
        "encodeURIComponent": urllib.parse.quote(value, safe="-_.!~*'()"),
    }
    return forms


def secret_fragments(value: str) -> list[str]:
    """What must not appear in masked output: each form, and for multi-line values each substantial line."""
    out = [f for f in leak_forms(value).values() if "\n" not in f]
    # PEM armour ("-----BEGIN ... KEY-----") is the same in every key of its kind: not a fragment of the secret.
    out += [line for line in value.splitlines() if len(line) >= MIN_MASK_LENGTH and not line.startswith("-----")]
    return out


VALUES = {
    "TOKEN": github_pat,
    "STRIPE": stripe_live_key,
    "PASSWORD": lambda: password(20) + "/é ü",  # slash, space, non-ASCII: every encoder differs
    "PEM": fake_pem,
}


@pytest.mark.parametrize("kind", sorted(VALUES))
@pytest.mark.parametrize("form", sorted(leak_forms("x" * 8)))
def test_each_encoded_form_is_masked(kind: str, form: str) -> None:
    value = VALUES[kind]()
    printed = leak_forms(value)[form]
    masker = Masker({kind: value})
    out = masker.mask_all(f"before {printed} after\n".encode())
    for fragment in secret_fragments(value):
        assert fragment.encode() not in out, (kind, form)
    assert mask_for(kind).encode() in out
    assert out.startswith(b"before ") and out.endswith(b" after\n")


@pytest.mark.parametrize("prefix_len", [0, 1, 2, 3, 4, 5])
def test_base64_of_value_inside_longer_data_is_masked_at_every_alignment(prefix_len: int) -> None:
    value = github_pat()
    blob = base64.b64encode(b"k" * prefix_len + value.encode() + b"|tail-data").decode()
    out = Masker({"TOKEN": value}).mask_all(blob.encode() + b"\n")
    assert b"<unleak:TOKEN>" in out
    # The characters of the blob that are made only of the value's bits must all be gone.
    n = len(value)
    value_chars = blob[-(-8 * prefix_len // 6) : (8 * (prefix_len + n)) // 6]
    assert len(value_chars) > 40
    for i in range(len(value_chars) - 8):
        assert value_chars[i : i + 8].encode() not in out, i


@pytest.mark.parametrize("kind", ["PEM", "TOKEN"])
def test_base64_cli_output_wrapped_at_76_columns_is_masked(kind: str) -> None:
    """`base64 < key.pem` (coreutils wraps at 76 columns) is a common way to leak a key into a log."""
    value = VALUES[kind]()
    wrapped = subprocess.run(["base64"], input=value.encode(), capture_output=True, check=True).stdout
    out = Masker({kind: value}).mask_all(wrapped)
    for line in wrapped.splitlines():
        if len(line) >= 16:
            assert line not in out
    assert b"<unleak:" + kind.encode() + b">" in out


def test_value_split_at_every_position_is_masked() -> None:
    value = github_pat()
    data = f"token={value};\n".encode()
    expected = b"token=<unleak:TOKEN>;\n"
    for cut in range(len(data) + 1):
        masker = Masker({"TOKEN": value})
        out = masker.feed(data[:cut]) + masker.flush_idle() + masker.feed(data[cut:]) + masker.close()
        assert out == expected, cut


@pytest.mark.parametrize("seed", range(20))
def test_random_chunking_of_mixed_output(seed: int) -> None:
    rng = random.Random(seed)
    vals = {name: make() for name, make in VALUES.items()}
    parts: list[str] = []
    for _ in range(40):
        name = rng.choice(sorted(vals))
        form = rng.choice(sorted(leak_forms(vals[name])))
        parts.append(rng.choice(["", "x", "line\n", "==", "%", " "]) + leak_forms(vals[name])[form])
    data = "".join(parts).encode()
    masker = Masker(vals)
    out = bytearray()
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 50)
        out += masker.feed(data[pos : pos + step])
        if rng.random() < 0.3:
            out += masker.flush_idle()
        pos += step
    out += masker.close()
    for name, value in vals.items():
        for fragment in secret_fragments(value):
            assert fragment.encode() not in out, name


def test_multiline_value_written_line_by_line() -> None:
    pem = fake_pem()
    masker = Masker({"KEY": pem})
    out = b"".join(masker.feed(line.encode() + b"\n") for line in pem.splitlines()) + masker.close()
    body = [line for line in pem.splitlines() if not line.startswith("-----")]  # the armour is not secret
    for line in body:
        assert line.encode() not in out
    assert out.count(b"<unleak:KEY>") == len(body)


def test_line_buffered_output_is_not_delayed() -> None:
    value = github_pat()
    masker = Masker({"TOKEN": value})
    # A complete line comes out at once, nothing held, even though it is shorter than the longest pattern.
    assert masker.feed(b"ok\n") == b"ok\n"
    assert masker.pending == 0


def test_prompt_without_newline_appears_on_idle_flush_but_half_a_value_stays_held() -> None:
    value = github_pat()
    masker = Masker({"TOKEN": value})
    held = masker.feed(b"Password: ")
    assert held + masker.flush_idle() == b"Password: "
    half = value[: len(value) // 2].encode()
    assert masker.feed(half) == b""
    assert masker.flush_idle() == b""  # it could still become the value
    assert masker.pending == len(half)
    rest = masker.feed(value[len(value) // 2 :].encode() + b" done") + masker.flush_idle()
    assert rest == b"<unleak:TOKEN> done"


def test_half_a_value_at_end_of_stream_is_masked() -> None:
    value = github_pat()
    masker = Masker({"TOKEN": value})
    out = masker.feed(b"partial: " + value[:20].encode()) + masker.close()
    assert value[:20].encode() not in out
    assert out.startswith(b"partial: ")


def test_overlapping_values_leave_no_fragment() -> None:
    a = secrets.token_hex(8)
    b = a[6:] + secrets.token_hex(8)  # b starts inside a
    out = Masker({"A": a, "B": b}).mask_all(f"[{a}{b[len(a) - 6 :]}]\n".encode())
    assert a.encode() not in out and b.encode() not in out
    assert out.startswith(b"[<unleak:") and out.endswith(b">]\n")


@pytest.mark.parametrize("prefix", [b"", b"x ", b"token="])
def test_a_value_at_the_very_end_is_masked_by_name(prefix: bytes) -> None:
    value = github_pat()
    masker = Masker({"TOKEN": value, "KEY": fake_pem()})
    assert masker.mask_all(prefix + value.encode()) == prefix + b"<unleak:TOKEN>"
    cut = prefix + value.encode()[:10]  # shorter than a window: only the end-of-stream rule can catch it
    assert Masker({"TOKEN": value}).mask_all(cut) == prefix + b"<unleak:partial>"


def test_short_values_are_not_masked_and_are_named() -> None:
    masker = Masker({"PIN": "123", "TOKEN": github_pat()})
    assert masker.skipped == ("PIN",)
    assert names_too_short({"PIN": "123", "OK": "abcd"}) == ("PIN",)
    assert masker.mask_all(b"code 123\n") == b"code 123\n"


@pytest.mark.parametrize("kind", ["empty", "newline", "random", "crlf-text"])
def test_output_without_values_is_unchanged(kind: str) -> None:
    data = {"empty": b"", "newline": b"\n", "random": os.urandom(4096), "crlf-text": b"no secrets\r\nat all"}[kind]
    masker = Masker({"TOKEN": github_pat()})
    out = bytearray()
    for i in range(0, len(data), 7):
        out += masker.feed(data[i : i + 7])
    out += masker.close()
    assert bytes(out) == data


def test_no_secrets_passes_bytes_through() -> None:
    masker = Masker({})
    assert masker.feed(b"abc") == b"abc"
    assert masker.close() == b""


def test_repr_shows_names_only() -> None:
    value = github_pat()
    assert value not in repr(Masker({"TOKEN": value}))


# ------------------------------------------------------------------------------------- values cut, wrapped, split


def _no_window_left(value: str, out: bytes, k: int = 12) -> None:
    """No run of ``k`` characters of ``value`` survives in ``out``."""
    for i in range(len(value) - k + 1):
        assert value[i : i + k].encode() not in out, i


def test_a_value_truncated_by_reprlib_keeps_no_readable_run() -> None:
    import reprlib

    value = github_pat()
    printed = reprlib.repr(value)  # "'ghp_aBcDeFgH...XyZ0123456789'": 25 of 40 characters in clear
    assert "..." in printed and len(printed.replace("...", "").strip("'")) >= 24
    out = Masker({"TOKEN": value}).mask_all(f"config={printed}\n".encode())
    _no_window_left(value, out)
    assert out.count(b"<unleak:TOKEN>") == 2 and b"..." in out


@pytest.mark.parametrize("at", [12, 20, 28])
def test_a_value_wrapped_across_two_lines_is_masked_on_both(at: int) -> None:
    value = github_pat()  # 40 characters: both parts are at least 12 long
    out = Masker({"TOKEN": value}).mask_all(f"key: {value[:at]}\n     {value[at:]}\n".encode())
    _no_window_left(value, out)
    assert out.count(b"<unleak:TOKEN>") == 2


def test_each_line_of_a_multi_line_key_is_masked_in_every_encoding() -> None:
    key = fake_pem()
    lines = [ln for ln in key.splitlines() if not ln.startswith("-----")]
    printed = "\n".join(
        f"{i} {enc}" for i, line in enumerate(lines) for enc in (
            base64.b64encode(line.encode()).decode(), line.encode().hex(), json.dumps(line)[1:-1]))
    out = Masker({"KEY": key}).mask_all(printed.encode() + b"\n")
    for line in lines:
        for enc in (base64.b64encode(line.encode()).decode(), line.encode().hex()):
            assert enc.encode() not in out
        if len(line) >= 20:
            _no_window_left(line, out)
    # The armour is the same in every key of its kind: it is not masked.
    armour = key.splitlines()[0].encode() + b"\n"
    assert armour.startswith(b"-----BEGIN") and Masker({"KEY": key}).mask_all(armour) == armour


def test_windows_mask_only_values_of_twenty_characters_or_more() -> None:
    from unleak.masking import windows

    short = "abcdefghijklmnopqrs"  # 19
    assert windows(short) == set()
    assert Masker({"S": short}).mask_all(b"x abcdefghijklm y\n") == b"x abcdefghijklm y\n"
    value = "abcdefghijklmnopqrst"  # 20
    assert len(windows(value)) == 9
    assert Masker({"V": value}).mask_all(b"x cdefghijklmn y\n") == b"x <unleak:V> y\n"
