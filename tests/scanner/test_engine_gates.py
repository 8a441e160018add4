"""The detect-secrets gate is a superset of detect-secrets: every line on which the adapter reports something is a
line the gate opens. Checked against the installed detect-secrets, line by line, on generated secrets of every
plugin's format (in several cases and Unicode case folds) and on ordinary code."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from scanner.chunk import Chunk
from scanner.detect_secrets import DETECT_SECRETS_VERSION
from scanner.detect_secrets import adapter as ds
from scanner.detect_secrets.gates import gates
from scanner.engine import Engine, EngineOptions
from scanner.keyscan import ascii_lower
from tests import fakes

# The plugins the supersets in scanner/detect_secrets/gates.py were derived from. A detect-secrets upgrade that adds
# or changes plugins must fail here (the gate then stays open: see scanner.detect_secrets.gates.gates()).
KNOWN_PLUGINS = {
    "ArtifactoryDetector", "AWSKeyDetector", "AzureStorageKeyDetector", "BasicAuthDetector", "CloudantDetector",
    "DiscordBotTokenDetector", "GitHubTokenDetector", "GitLabTokenDetector", "Base64HighEntropyString",
    "HexHighEntropyString", "IbmCloudIamDetector", "IbmCosHmacDetector", "IPPublicDetector", "JwtTokenDetector",
    "KeywordDetector", "MailchimpDetector", "NpmDetector", "OpenAIDetector", "PrivateKeyDetector",
    "PypiTokenDetector", "SendGridDetector", "SlackDetector", "SoftlayerDetector", "SquareOAuthDetector",
    "StripeDetector", "TelegramBotTokenDetector", "TwilioKeyDetector",
}


def test_installed_detect_secrets_is_the_one_the_gate_was_derived_from() -> None:
    from importlib import metadata

    assert metadata.version("detect-secrets") == DETECT_SECRETS_VERSION
    ds._configure()
    from detect_secrets.settings import get_plugins

    assert {type(p).__name__ for p in get_plugins()} == KNOWN_PLUGINS


def _samples(rnd: random.Random) -> list[str]:
    r = fakes._rand
    hexs, b64, alnum, low = fakes.HEX, fakes.B64, fakes.ALNUM, "abcdefghijklmnopqrstuvwxyz0123456789"
    values = [
        f"AKC{r(alnum, 12)}", f"AP6{r(alnum, 10)}", fakes.aws_access_key_id(),
        f"aws_secret_key = '{r(b64, 40)}'", f"AccountKey={r(b64, 86)}==",
        f"https://user:{fakes.url_password()}@host.example/path",
        f"cloudant_password='{r(hexs, 64)}'", f"cl_key: {r('abcdefghij', 24)}",
        f"https://acct:{r(hexs, 64)}@acct.cloudant.com",
        fakes.discord_bot_token(), fakes.github_pat(), f"glpat-{r(alnum, 20)}",
        f"'{r(b64, 30)}'", f'"{r(hexs, 16)}"', f"ibm_cloud_iam_api_key = '{r(alnum + '_-', 44)}'",
        f"ibm_cos_hmac_secret_access_key = {r(hexs, 48)}",
        f"server {rnd.randint(11, 99)}.{rnd.randint(1, 200)}.{rnd.randint(1, 200)}.{rnd.randint(1, 200)}:8080",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
        f"password = '{fakes.password()}'", f"db_pass: {fakes.password()}", f'api_key => "{fakes.password()}"',
        f"{r(low, 32)}-us12", f"//registry.npmjs.org/:_authToken={r(hexs, 8)}-{r(hexs, 4)}-{r(hexs, 4)}-"
        f"{r(hexs, 4)}-{r(hexs, 12)}", f"sk-{r(alnum, 20)}T3BlbkFJ{r(alnum, 20)}",
        "-----BEGIN RSA PRIVATE KEY-----", f"pypi-AgEIcHlwaS5vcmc{r(alnum, 70)}", fakes.sendgrid_key(),
        fakes.slack_bot_token(), f"https://hooks.slack.com/services/T{r(alnum, 8)}/B{r(alnum, 8)}/{r(alnum, 24)}",
        f"softlayer_api_key = {r(low, 64)}", f"sq0csp-{r(alnum, 43)}", fakes.stripe_live_key(),
        fakes.telegram_bot_token(), fakes.twilio_api_key(), f"AC{r('0123456789abcdef', 32)}",
        f"secret_token = '{fakes.password(24)}'", f"contraseña = '{fakes.password()}'",
    ]
    out = []
    for v in values:
        out += [v, v.upper(), v.lower(), v.swapcase(), f"  x = {v}  # trailing", v.replace("s", "ſ"),
                v.replace("i", "ı").replace("k", "\u212a")]
    out += ["for key, value in mapping.items():", "import os", "return self._token_cache.get(name)",
            "version = '1.2.3'", "see https://example.org/a/b?c=d", "", "pass"]
    return out


@pytest.mark.parametrize("seed", range(3))
def test_every_line_detect_secrets_reports_is_opened_by_the_gate(seed: int) -> None:
    gate = gates()["detect-secrets"]
    rnd = random.Random(seed)
    lines = _samples(rnd)
    rnd.shuffle(lines)
    for path in ("settings.py", "config.yaml", "app.js", ".env", "notes.txt"):
        text = "\n".join(lines)
        hits = list(ds.scan_lines(path, text))
        assert hits, "the sample must trigger detect-secrets, or the check proves nothing"
        folded = text.lower() if text.isascii() else ascii_lower(text)
        literal_lines = set()
        for lit in gate.literals:
            i = folded.find(lit)
            while i >= 0:
                literal_lines.add(text.rfind("\n", 0, i) + 1)
                i = folded.find(lit, i + 1)
        opened = gate.open_lines(text, folded, literal_lines)
        if opened is None:  # the whole chunk goes to detect-secrets: trivially a superset
            continue
        starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        missed = [lines_i for lines_i in {h.line_index for h in hits} if starts[lines_i] not in opened]
        assert not missed, [text.split("\n")[i] for i in missed][:3]


def _literal_lines(gate: object, text: str, folded: str) -> set[int]:
    out = set()
    for lit in gate.literals:  # type: ignore[attr-defined]
        i = folded.find(lit)
        while i >= 0:
            out.add(text.rfind("\n", 0, i) + 1)
            i = folded.find(lit, i + 1)
    return out


def test_each_reported_line_alone_opens_the_gate() -> None:
    # Lines one at a time take the gate's small-text path (one alternation instead of the separate patterns).
    gate = gates()["detect-secrets"]
    checked = 0
    for line in _samples(random.Random(5)):
        if not list(ds.scan_lines("settings.py", line)) and not list(ds.scan_lines("config.yaml", line)):
            continue
        checked += 1
        folded = line.lower() if line.isascii() else ascii_lower(line)
        opened = gate.open_lines(line, folded, _literal_lines(gate, line, folded))
        assert opened is None or 0 in opened, line
    assert checked > 50


def test_gated_engine_finds_what_the_ungated_engine_finds_on_the_samples() -> None:
    rnd = random.Random(11)
    text = "\n".join(_samples(rnd))
    for path in ("settings.py", "config.yaml"):
        chunk = Chunk(path=path, text=text)
        assert Engine(EngineOptions(gates=True)).scan_chunk(chunk) == Engine(EngineOptions(gates=False)).scan_chunk(
            chunk)


def test_a_closed_gate_never_imports_detect_secrets() -> None:
    code = ("import sys\nfrom pathlib import Path\nfrom scanner.api import ScanRequest, scan\n"
            "scan(ScanRequest(root=Path('.'), modes=(), text='def f(x):\\n    return x + 1\\n', text_path='a.py'))\n"
            "print('detect_secrets' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_fold_keeps_offsets_and_folds_what_regexes_fold() -> None:
    text = "İ ı ſ K Ab"
    folded = ascii_lower(text)
    assert len(folded) == len(text)
    assert folded == "i i s k ab"


@pytest.mark.parametrize("seed", range(3))
def test_each_plugin_reports_only_on_lines_with_its_anchor(seed: int) -> None:
    # The raw plugin output, before any filter: a plugin whose anchor a line lacks is never run there.
    from detect_secrets.settings import get_plugins
    from detect_secrets.util.code_snippet import get_code_snippet

    from scanner.detect_secrets.gates import plugin_anchors

    ds._configure()
    anchors = plugin_anchors()
    assert set(anchors) == KNOWN_PLUGINS
    lines = _samples(random.Random(seed))
    reported = 0
    for path in ("settings.py", "config.yaml", "app.js", ".env"):
        for i, line in enumerate(lines):
            snippet = get_code_snippet(lines=lines, line_number=i + 1)
            for plugin in get_plugins():
                if plugin.analyze_line(filename=path, line=line, line_number=i + 1, context=snippet):
                    reported += 1
                    assert anchors[type(plugin).__name__].search(line), (type(plugin).__name__, line)
    assert reported > 200


@pytest.mark.parametrize("path", ["settings.py", "config.yaml", "app.js", ".env", "notes.txt", "main.go"])
def test_selected_plugins_report_what_all_plugins_report(path: str) -> None:
    rnd = random.Random(path)
    lines = _samples(rnd)
    rnd.shuffle(lines)
    text = "\n".join(lines)
    full = list(ds.scan_lines(path, text, select=False))
    assert len(full) > 30
    assert list(ds.scan_lines(path, text)) == full


@pytest.mark.parametrize("ascii_only", [True, False])
@pytest.mark.parametrize("hyperscan", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_anchors_found_per_chunk_are_the_anchors_found_per_line(seed: int, hyperscan: bool, ascii_only: bool,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter finds every plugin's anchor in one pass over the joined lines (hyperscan, or one regex per
    anchor); that must give exactly the lines a search of each line gives: no anchor may match across a line break
    (a line ending ``key =`` above a line starting with a 64-hex value; digits before a line break and ``:`` after
    it), and hyperscan's forward forms and case folding must agree with the regexes."""
    from scanner.detect_secrets import adapter
    from scanner.detect_secrets.gates import plugin_anchors

    if hyperscan:
        pytest.importorskip("hyperscan")
        assert adapter._anchor_db() is not None
    else:
        monkeypatch.setattr(adapter, "_HS", False)
    rnd = random.Random(seed)
    lines = _samples(rnd)
    lines += ["password =", "a" * 64 + "'", "12345678", ":" + "b" * 35, "https://user", ":pw@host/", "1.2", ".3.4",
              "AKIA", "0123456789ABCDEF", "", "   ", "eyJ", "Api-Key", "x" * 32 + "-us", "1", "PRIVATE KEY"]
    lines += _keyword_lines(rnd, 1500)
    # Non-ASCII lines among them (hyperscan takes the ASCII lines, the regexes the others), and a chunk of ASCII
    # lines only (hyperscan takes them all).
    if ascii_only:
        lines = [line for line in lines if line.isascii()]
    else:
        lines += ["пароль = 'Zx81Qw_pLm0a9'", "token: ghp_" + "é" * 36, "key = ключ" + "7" * 32, "# 注释 secret"]
    assert any(not line.isascii() for line in lines) != ascii_only
    rnd.shuffle(lines)
    anchors = plugin_anchors()
    got = adapter._anchored_lines(lines, anchors)
    assert set(got) == set(anchors)
    for plugin, anchor in anchors.items():
        assert got[plugin] == {i for i, line in enumerate(lines) if anchor.search(line)}, plugin


def test_lines_judged_before_are_judged_alike_in_other_file_types_and_next_to_an_allowlist_pragma() -> None:
    """The adapter remembers what detect-secrets said about a line per file type; the same lines must still give
    detect-secrets' own answer in a file of another type (the keyword plugin's regexes differ), and below a
    ``pragma: allowlist nextline secret`` comment (the only filter that reads the previous line)."""
    from scanner.detect_secrets import adapter

    adapter._MEMO.clear()
    lines = ['password = "Xk9-v2LmQpR7tZw4"', 'api_key: "a8f3Kd92LmQp0Zx7Vb6N"', "secret=hunter2hunter2x",
             'token = "ghp_notarealtokenbutlongenough00000"']
    for path in ("app.py", "config.yaml", "app.js", ".env", "app.py"):
        text = "\n".join(lines)
        assert list(ds.scan_lines(path, text)) == list(ds.scan_lines(path, text, select=False))
    assert adapter._MEMO  # judged lines were remembered
    allowed = "\n".join(["# pragma: allowlist nextline secret", *lines])
    assert list(ds.scan_lines("app.py", allowed)) == list(ds.scan_lines("app.py", allowed, select=False))
    assert len(list(ds.scan_lines("app.py", allowed))) < len(list(ds.scan_lines("app.py", "\n".join(lines))))


@pytest.mark.parametrize("seed", range(3))
def test_line_filters_answer_as_detect_secrets_does(seed: int) -> None:
    """The adapter answers detect-secrets' line filters itself (its indirect-reference regex is quadratic); on
    every line it must say what detect-secrets says: calls and subscripts after any assignment or comparison
    operator, near misses (no operator, no closing bracket, a vertical tab in between), long lines, allowlist
    pragmas."""
    from detect_secrets.core.scan import _is_filtered_out
    from detect_secrets.util.code_snippet import get_code_snippet

    from scanner.detect_secrets import adapter

    adapter._configure()
    rnd = random.Random(seed)
    lines = _samples(rnd)
    lines += ["secret = get_secret_key()", "secret = request.headers['apikey']", "if token == os.environ['T']:",
              "x := f(y)", "a !== b[c]", "key: value(", "key value()", "password = abc)", "p = a\vb()",
              "p = a(\v)", "token=foo.bar-baz[0]", "t === x(1, 2)", "==f()", "secret: x" + " " * 990 + "y()",
              "secret = 'x' # pragma: allowlist secret", "a = b(" + "c" * 2000 + ")", "\u00e9 = \u00e9(x)",
              "pwd=:=:=:=f()", "k :  g[ ]"]
    for _ in range(300):
        lines.append("".join(rnd.choice("ab_.-=!:() []\v\t$x1") for _ in range(rnd.randint(0, 30))))
    for path in ("app.py", "config.yaml"):
        for i, line in enumerate(lines):
            snippet = get_code_snippet(lines=lines, line_number=i + 1)
            want = _is_filtered_out(required_filter_parameters=["line"], filename=path, line=line, context=snippet)
            assert adapter._line_filtered(path, line, snippet) == want, repr(line)


@pytest.mark.parametrize("seed", range(3))
def test_only_the_opened_lines_are_judged_as_in_a_blanked_copy(seed: int) -> None:
    """A gate names the lines it opened (their offsets) instead of blanking the others: detect-secrets must say
    on those lines what it says on a copy with every other line emptied, and place each hit on its line."""
    rnd = random.Random(seed)
    lines = [*_samples(rnd), "", "x = 1", "# pragma: allowlist nextline secret"]
    rnd.shuffle(lines)
    text = "\n".join(lines[:150])
    starts = [0]
    for line in text.split("\n")[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    for _ in range(5):
        only = frozenset(rnd.sample(starts, rnd.randint(1, len(starts))))
        blanked = "\n".join(line if st in only else "" for st, line in zip(starts, text.split("\n"), strict=True))
        got = list(ds.scan_lines("app.py", text, only=only))
        want = list(ds.scan_lines("app.py", blanked))
        assert [(h.line_index, h.column, h.value, h.type) for h in got] == \
            [(h.line_index, h.column, h.value, h.type) for h in want]
        assert all(text[h.line_start + h.column:].startswith(h.value) for h in got)
        assert len(got) > 0


def test_a_pragma_on_the_line_itself_is_judged_per_file_not_from_the_memo() -> None:
    """detect-secrets reads comment styles by extension (`.yaml` only `#`; `.yml` every style) while its file type
    is the same for both: a line with a pragma must not take its verdict from the memo."""
    from scanner.detect_secrets import adapter

    adapter._MEMO.clear()
    line = 'password: "Xk9-v2LmQpR7tZw4q8" // pragma: whitelist secret'
    for path in ("a.yaml", "b.yml", "c.yaml", "d.yml"):
        assert list(ds.scan_lines(path, line)) == list(ds.scan_lines(path, line, select=False)), path


def _keyword_lines(rnd: random.Random, n: int) -> list[str]:
    """Lines built from the pieces of detect-secrets' keyword regexes, each piece sometimes left out or swapped:
    denylist names with affixes, closers, brackets, every operator, quotes, values, white space of every kind a
    Python regex counts (the \\x1c-\\x1f separators and no-break space included), and the line endings that decide
    the quote-and-semicolon form."""
    names = ["password", "PASSWD", "db_pass", "api_key", "apikey", "Secret", "private_key", "pwd", "contraseña",
             "client_key", "key_pass", "auth_key", "my_password_hash", "SECRET_TOKEN", "paſſword"]
    closers = ["", "", "'", '"', "]", "']", '"]', "[0]", "[]", "[12]"]
    spaces = ["", "", " ", "  ", "\t", "\x1c", "\x1f", "\xa0", "\x0b", "\r", "\x0c"]
    ops = [":", ":=", "=", "==", "===", "!=", "!==", "=>", ">", "!", "(", ".assign(", "xassign(", " ", "->", "<-"]
    quotes = ["", "", "'", '"', "`", "@\"", "@"]
    values = ["hunter2value", "s3cr3t", "x", "_abc", "-abc", "abc,", "a b c", "", "9f8e7d", "ab'cd", "ñandú"]
    tails = ["", ";", ", 17);", ")", " # note", ";;", " ;"]
    out = []
    for _ in range(n):
        name = rnd.choice(names)
        if rnd.random() < 0.3:
            name = rnd.choice(["my_", "x", "get", "_"]) + name
        q = rnd.choice(quotes)
        close_q = q.lstrip("@") if rnd.random() < 0.9 else rnd.choice(["'", '"', "`", ""])
        if rnd.random() < 0.15:  # the comparison written the other way round
            line = f"{q}{rnd.choice(values)}{close_q}{rnd.choice(spaces)}{rnd.choice(['==', '!=', '===', '!=='])}" \
                   f"{rnd.choice(spaces)}{name}"
        else:
            nonspace = rnd.choice(["", "", ".value", "Field", "(x)"])
            line = (f"{name}{nonspace if rnd.random() < 0.2 else ''}{rnd.choice(closers)}{rnd.choice(spaces)}"
                    f"{rnd.choice(ops)}{rnd.choice(spaces)}{q}{rnd.choice(values)}{close_q}{rnd.choice(tails)}")
        out.append(rnd.choice(["", "  ", "x = ", "const ", "<"]) + line)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_keyword_plugin_reports_only_on_lines_with_its_operator_anchor(seed: int) -> None:
    """KeywordDetector's anchor is a pattern, not its denylist words: every line the plugin reports, in every file
    type it has regexes for, must contain it (or the adapter would skip a line detect-secrets reports)."""
    from detect_secrets.settings import get_plugins

    from scanner.detect_secrets.gates import plugin_anchors

    ds._configure()
    plugin = next(p for p in get_plugins() if type(p).__name__ == "KeywordDetector")
    anchor = plugin_anchors()["KeywordDetector"]
    lines = _keyword_lines(random.Random(seed), 1500)
    reported = skipped = 0
    for path in ("a.py", "a.go", "a.yaml", "a.ini", "a.c", "a.cpp", "a.cs", "a.m", "a.java", "a.js", "a.tf",
                 "a.txt", ".env", "a.properties", "a.toml", "a.swift", "a.cls"):
        for line in lines:
            if plugin.analyze_line(filename=path, line=line, line_number=1):
                reported += 1
                assert anchor.search(line), (path, line)
            elif not anchor.search(line):
                skipped += 1
    assert reported > 2000 and skipped > 2000  # both sides are exercised


def test_entropy_precheck_says_what_the_entropy_says() -> None:
    """_may_report skips computing the entropy of a string with too few distinct characters to pass the limit; it
    must answer exactly as computing it for every string does."""
    from detect_secrets.settings import get_plugins

    ds._configure()
    plugins = [p for p in get_plugins() if getattr(p, "entropy_limit", None)]
    assert len(plugins) == 2
    rnd = random.Random(7)
    seen = {True: 0, False: 0}
    for plugin in plugins:
        for _ in range(3000):
            parts = []
            for _ in range(rnd.randint(1, 3)):
                alphabet = rnd.choice([fakes.B64, fakes.HEX, "ab", "0123456789", fakes.B64[:rnd.randint(2, 40)]])
                parts.append(rnd.choice("\"'") + "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 48)))
                             + rnd.choice("\"'"))
            line = "x = " + ", ".join(parts)
            want = any(plugin.calculate_shannon_entropy(m[1] if isinstance(m, tuple) else m) > plugin.entropy_limit
                       for m in plugin.regex.findall(line))
            assert ds._may_report(plugin, line) == want, line
            seen[want] += 1
    assert seen[True] > 500 and seen[False] > 500


@pytest.mark.parametrize("seed", range(3))
def test_hyperscan_opens_the_same_lines_of_a_chunk_with_non_ascii_lines(seed: int) -> None:
    """In a chunk with non-ASCII lines, hyperscan judges the gate patterns on the ASCII lines (from the text's ASCII
    proxy) and the regexes search only the other lines (joined): together they open exactly the
    lines the regexes open over the whole chunk, for every gated family. A chunk with a character that folds to
    ASCII ('İ', 'ı', 'ſ', Kelvin) is left to the regexes."""
    pytest.importorskip("hyperscan")
    from scanner.detect_secrets.gates import Lines
    from scanner.keyscan import _FOLDS_TO_ASCII

    hs = Engine(EngineOptions(hyperscan=True)).accelerator()
    assert hs is not None
    rnd = random.Random(seed)
    lines = [ln for ln in _samples(rnd) + _keyword_lines(rnd, 400) if not _FOLDS_TO_ASCII.search(ln)]
    accents = ["é", "ü", "密码", "пароль ", "“", "…"]
    compared = 0
    for _ in range(200):
        picked = rnd.sample(lines, 12)
        for k in rnd.sample(range(12), 4):  # some lines get a non-ASCII character, before, inside or after
            at = rnd.randrange(len(picked[k]) + 1)
            picked[k] = picked[k][:at] + rnd.choice(accents) + picked[k][at:]
        text = "\n".join(picked)
        _, folded, pattern_lines = hs.scan_unicode(text)
        assert pattern_lines is not None and not folded
        fold = ascii_lower(text)
        rest = Lines.non_ascii(text, fold)
        kept = rest.text.split("\n")
        assert kept == [ln for ln in text.split("\n") if not ln.isascii()]
        assert all(rest.text[s:s + len(ln)] == ln == text[o:o + len(ln)] and (o == 0 or text[o - 1] == "\n")
                   for ln, s, o in zip(kept, rest.starts, rest.origin, strict=True))
        for family, gate in gates().items():
            whole = gate.open_lines(text, fold, set())
            split = gate.open_lines(text, fold, set(), pattern_lines.get(family, set()), rest)
            assert split == whole, (family, text)
            compared += bool(whole)
    assert compared > 100  # gates did open lines: the comparison is not of empty sets
    assert hs.scan_unicode("paſſword = 'x' é")[2] is None


def test_context_filters_already_asked_about_the_line_are_not_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a line passed the line filters, the context filters that take no more than the line's arguments
    (detect-secrets' is_line_allowlisted) are not run again for each secret on it; one that needs the secret is."""
    from detect_secrets.core import scan as ds_scan

    asked: list[str] = []

    def line_only(filename: str, line: str, context: object) -> bool:
        asked.append("line_only")
        return True  # would filter: it must not be asked here

    def with_secret(secret: str, context: object) -> bool:
        asked.append("with_secret")
        return secret == "drop-me"

    for fn in (line_only, with_secret):  # what detect-secrets' injection reads off a filter
        setattr(fn, "injectable_variables", set(fn.__code__.co_varnames[:fn.__code__.co_argcount]))  # noqa: B010
        setattr(fn, "path", fn.__name__)  # noqa: B010
    monkeypatch.setattr(ds_scan, "get_filters_with_parameter", lambda *p: [line_only, with_secret])
    assert ds._context_filtered("a.py", "x = 1", None, "drop-me", None)
    assert not ds._context_filtered("a.py", "x = 1", None, "keep-me", None)
    assert asked == ["with_secret", "with_secret"]
