"""Sound prefilters ("gates") for rule families that have no keywords.

A rule without keywords runs on every chunk. The detect-secrets rules (UL95x) are such rules, and detect-secrets
costs ~200 µs per candidate line, which on a full history is most of the scan. A gate answers, cheaply and for the
whole chunk at once, "could this family yield anything here?" It may say yes too often, never no too often: every
pattern below is a *superset* of what a detect-secrets 1.5 plugin can report on a line (dropped look-behinds, kept
the literal anchor and the length of the secret run), and an entropy plugin needs a quoted run at least as long as
``2 ** limit`` because Shannon entropy never exceeds ``log2(len)``. ``tests/scanner/test_engine_gates.py`` proves the
superset against the installed detect-secrets on a corpus, and the fast-path/plain-path test proves equal findings.

Nothing here imports detect-secrets (that stays behind :mod:`scanner.detect_secrets.adapter`), so a pre-commit run
whose staged lines fail the gate never pays detect-secrets' import either. With any other detect-secrets version
than the one these supersets were derived from, the gate stays open (always yes), which is slow but exact.
"""

from __future__ import annotations

import bisect
import re
import string
from dataclasses import dataclass
from functools import lru_cache

from scanner.detect_secrets import DETECT_SECRETS_VERSION, installed_version
from scanner.lazyre import lazy

_SMALL = 4096

_B64 = string.ascii_letters + string.digits + "+/" + "\\-_" + "="  # detect-secrets' Base64HighEntropyString charset
_ASSIGN = r"""["']?\]? *(?:=|:|:=|=>| +|::) *["']?"""
_RUN = r"(?:[0-9a-f]{64}|[a-z]{24}|[a-z0-9_\-]{44}|[a-z0-9]{64})"
_DENYLIST = ("api_?key", "auth_?key", "service_?key", "account_?key", "db_?key", "database_?key", "priv_?key",
             "private_?key", "client_?key", "db_?pass", "database_?pass", "key_?pass", "password", "passwd", "pwd",
             "secret", "contraseña", "contrasena")

# Literal anchors (lower-case) of the plugins whose every match contains them, grouped by the plugins (class names)
# they stand for. A hit of one of these in the engine's case fold of the text opens the gate for its line; the
# engine finds them in the same Aho-Corasick pass as rule keywords.
_KEYED_RUN = ("CloudantDetector", "IbmCloudIamDetector", "IbmCosHmacDetector", "SoftlayerDetector")
_LITERAL_GROUPS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    # KeywordDetector: every regex contains a DENYLIST word (case-insensitive).
    (("KeywordDetector",), tuple(sorted({w.replace("_?", sep) for w in _DENYLIST for sep in ("_", "")}))),
    (("AzureStorageKeyDetector",), ("accountkey=",)),
    # AWSKeyDetector's secret-key form starts with "aws" (case-insensitive, so the value may hold an 'ſ' or 'ı' that
    # the base64 patterns below do not take).
    (("AWSKeyDetector",), ("aws",)),
    # Cloudant's URL form contains "cloudant.com", Softlayer's "softlayer"; their other forms are _KEYED_RUN below.
    (_KEYED_RUN, ("cloudant.com", "softlayer")),
    (("GitHubTokenDetector",), ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    (("GitLabTokenDetector",), ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "gr1348941", "glcbt-", "glimt-",
                                "glptt-", "glagent-", "gloas-")),
    (("JwtTokenDetector",), ("eyj",)),
    (("NpmDetector",), (":_authtoken=",)),
    (("OpenAIDetector",), ("t3blbkfj",)),
    (("PrivateKeyDetector",), ("private key", "putty-user-key-file-2")),
    (("PypiTokenDetector",), ("pypi-age",)),
    (("SlackDetector",), ("xox", "hooks.slack.com")),
    (("SquareOAuthDetector",), ("sq0csp-",)),
    (("StripeDetector",), ("k_live_",)),
)
_LITERALS: tuple[str, ...] = tuple(lit for _, lits in _LITERAL_GROUPS for lit in lits)

# Patterns without a selective literal, searched over the chunk text. (pattern, flags, on_lower, plugins):
# ``on_lower`` patterns are written in lower case and run on the lower-cased text (the plugin is case-insensitive).
_REGEXES: tuple[tuple[str, int, bool, tuple[str, ...]], ...] = (
    # Every pattern starts with a literal: the regex engine then jumps from occurrence to occurrence of it, about
    # ten times faster than trying a character class at every position of a history's worth of text.
    # Base64HighEntropyString (limit 4.5); AWSKeyDetector's secret-key form (a quoted 40-char base64 run) is
    # anchored by "aws" above.
    ('"[' + re.escape(_B64) + "]{23,}[\"']", 0, False, ("Base64HighEntropyString",)),
    ("'[" + re.escape(_B64) + "]{23,}[\"']", 0, False, ("Base64HighEntropyString",)),
    ("\"[0-9a-fA-F]{9,}[\"']", 0, False, ("HexHighEntropyString",)),  # limit 3.0
    ("'[0-9a-fA-F]{9,}[\"']", 0, False, ("HexHighEntropyString",)),
    (r"A(?:3T[A-Z0-9]|BIA|CCA|KIA|SIA)[0-9A-Z]{16}", 0, False, ("AWSKeyDetector",)),  # key id
    # Cloudant, IBM Cloud IAM, IBM COS HMAC and Softlayer: a key-like word, an assignment, then a long run.
    ("key" + _ASSIGN + _RUN, 0, True, _KEYED_RUN),
    ("pwd?" + _ASSIGN + _RUN, 0, True, _KEYED_RUN),
    ("pass(?:word)?" + _ASSIGN + _RUN, 0, True, _KEYED_RUN),
    ("token" + _ASSIGN + _RUN, 0, True, _KEYED_RUN),
    (r"://[^:/?#\[\]@!$&'()*+,;=\s]+:[^:/?#\[\]@!$&'()*+,;=\s]+@", 0, False, ("BasicAuthDetector",)),
    (r"\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}", 0, False, ("DiscordBotTokenDetector",)),  # the tail
    (_IP := r"\.(?<=\d\.)\d{1,3}\.\d{1,3}\.\d", 0, False, ("IPPublicDetector",)),
    # Look-behinds keep the literal first (fast) and still demand what the plugin demands before it.
    (_TELEGRAM := r":(?<=\d{8}:)[0-9A-Za-z_-]{35}", 0, False, ("TelegramBotTokenDetector",)),
    (_MAILCHIMP := r"-us(?<=[0-9a-z]{32}-us)[0-9]", 0, False, ("MailchimpDetector",)),
    (r"SG\.[a-zA-Z0-9_-]{22}\.", 0, False, ("SendGridDetector",)),
    (r"AC[a-z0-9]{32}", 0, False, ("TwilioKeyDetector",)),
    (r"SK[a-z0-9]{32}", 0, False, ("TwilioKeyDetector",)),
    (r"AP[\dABCDEF][a-zA-Z0-9]{8}", 0, False, ("ArtifactoryDetector",)),
    (r"AKC[a-zA-Z0-9]{10}", 0, False, ("ArtifactoryDetector",)),
)


# Hyperscan has no look-behind: the same patterns written forwards. A match exists on a line exactly when the
# look-behind form has one there, and the gate only asks which lines (see the engine's hyperscan prefilter).
_FORWARD = {
    _IP: r"\d\.\d{1,3}\.\d{1,3}\.\d",
    _TELEGRAM: r"\d{8}:[0-9A-Za-z_-]{35}",
    _MAILCHIMP: r"[0-9a-z]{32}-us[0-9]",
}


@dataclass(frozen=True)
class Gate:
    family: str
    literals: tuple[str, ...]
    on_text: tuple[re.Pattern[str], ...]  # case-sensitive, over the text
    on_lower: tuple[re.Pattern[str], ...]  # lower-case, over the engine's case fold of the text
    any_text: re.Pattern[str] = re.compile("(?!)")  # the alternation of on_text
    any_lower: re.Pattern[str] = re.compile("(?!)")  # the alternation of on_lower
    # The family's detectors judge each line on its own, except that a line's verdict can depend on its neighbours
    # when the chunk contains one of these words (detect-secrets' "pragma: allowlist nextline secret").
    context_words: tuple[str, ...] = ()
    # The patterns again as source for hyperscan: (pattern without look-behind, case-insensitive?).
    forward: tuple[tuple[str, bool], ...] = ()

    def open_lines(self, text: str, folded: str, literal_lines: set[int], pattern_lines: set[int] | None = None,
                   rest: Lines | None = None) -> set[int] | None:
        """Start offsets of the lines that may yield a finding; an empty set closes the gate; None means the
        whole chunk must be scanned as it is (a context word is present). ``folded`` is the engine's case fold of
        ``text`` (same length), under which the lower-case patterns stand for the plugins' case-insensitive ones.
        ``pattern_lines``: the lines where the patterns match, when a caller already knows them (hyperscan); with
        ``rest``, it knows them only on some lines, and ``rest`` holds the others, for the patterns to be searched
        there."""
        starts = set(literal_lines)
        if pattern_lines is not None:
            starts |= pattern_lines
            if rest is not None:
                found: set[int] = set()
                self._search(rest.text, rest.folded, found)
                starts.update(rest.origin[bisect.bisect_right(rest.starts, s) - 1] for s in found)
        else:
            self._search(text, folded, starts)
        if starts and any(w in (folded or text.lower()) for w in self.context_words):
            return None
        return starts

    def _search(self, text: str, folded: str, starts: set[int]) -> None:
        """Add the start offsets of the lines where a pattern matches. Small chunks (most of a history): one
        alternation per text costs less than twenty calls. Large ones: the literal-led patterns one by one, each
        jumping between occurrences of its literal. Both open the same lines, as no pattern spans a line break."""
        small = len(text) < _SMALL
        for rx in (self.any_text,) if small else self.on_text:
            for m in rx.finditer(text):
                starts.add(text.rfind("\n", 0, m.start()) + 1)
        for rx in (self.any_lower,) if small else self.on_lower:
            for m in rx.finditer(folded):
                starts.add(text.rfind("\n", 0, m.start()) + 1)


@dataclass(frozen=True)
class Lines:
    """Some lines of a chunk, joined: ``text`` and its fold, where each line starts (``starts``, ascending) and
    where it starts in the chunk (``origin``)."""

    text: str
    folded: str
    starts: list[int]
    origin: list[int]

    @classmethod
    def non_ascii(cls, text: str, folded: str) -> Lines:
        """The lines of ``text`` (and of its same-length fold) that are not ASCII."""
        keep: list[tuple[int, int]] = []  # (start, end) in the chunk
        pos = 0
        for line in text.split("\n"):
            if not line.isascii():
                keep.append((pos, pos + len(line)))
            pos += len(line) + 1
        starts, at = [], 0
        for s, e in keep:
            starts.append(at)
            at += e - s + 1
        return cls("\n".join(text[s:e] for s, e in keep), "\n".join(folded[s:e] for s, e in keep), starts,
                   [s for s, _ in keep])


@lru_cache(maxsize=1)
def gates() -> dict[str, Gate]:
    """Gates by rule family, only for families whose supersets are known to hold here."""
    if installed_version() != DETECT_SECRETS_VERSION:
        return {}
    # Compiled on first use: a pre-commit run on a small change needs only the two alternations.
    on_text = tuple(lazy(p, f | re.M) for p, f, low, _ in _REGEXES if not low)
    on_lower = tuple(lazy(p, f | re.M) for p, f, low, _ in _REGEXES if low)
    any_text = lazy("|".join(f"(?:{p})" for p, _, low, _ in _REGEXES if not low), re.M)
    any_lower = lazy("|".join(f"(?:{p})" for p, _, low, _ in _REGEXES if low), re.M)
    forward = tuple((_FORWARD.get(p, p), low) for p, _, low, _ in _REGEXES)
    return {"detect-secrets": Gate("detect-secrets", _LITERALS, on_text, on_lower, any_text=any_text,
                                   any_lower=any_lower, context_words=("allowlist",), forward=forward)}


# KeywordDetector's anchor is tighter than its denylist words (which stay its gate literals): every one of its
# regexes, in every file type, puts an operator between the denylist name and a value that starts with a word
# character (``:``, ``:=``, ``=``/``==``/``!=``/``=>``, the value optionally quoted; ``("`` or ``.assign("``), or a
# quoted value and a ``;`` after it, or a comparison before the name (``"v" == password``). A name alone
# (``def reset_password(user):``, ``password_field``) opens nothing. Line-local by construction: the white space
# here is Python's (``\s`` without the line break) plus the separators \x1c-\x1f, which Python counts as space and
# hyperscan does not, so both engines open the same lines.
_SP = r"(?:[^\S\n]|[\x1c-\x1f])"
_DENY = "(?:" + "|".join(_DENYLIST) + ")"
_KEYWORD_BRANCHES = (rf"{_DENY}\w*(?:[\]'\"]{{0,2}}|\[[0-9]*\]){_SP}*(?::=?|[!=]{{1,3}}>?){_SP}*@?['\"`]?\w",
                     rf"{_DENY}\w*(?:.assign)?\(\"\w",
                     rf"{_DENY}\w*[^\s\x1c-\x1f]{{0,50}}{_SP}*['\"`]\w[^'\"\n]*['\"`];",
                     rf"[!=][!=]{_SP}*\w+{_DENY}", rf"[!=][!=]{_SP}*{_DENY}")
# Case-insensitive, instead of the plugin's literals. For hyperscan (ASCII text only) without the non-ASCII
# denylist words, one expression per branch, and ``\w+D|D`` for ``\w*D``: hyperscan 0.9 misses some matches of
# ``[!=][!=] *\w*(?:…)`` in multi-line text (``==apikey`` on the line after one that holds a denylist word) and of
# the alternation of all the branches. tests/scanner/test_engine_gates.py compares both engines line by line.
_PATTERN_ANCHORS: dict[str, tuple[str, ...]] = {"KeywordDetector": _KEYWORD_BRANCHES}
_PATTERN_ANCHORS_ASCII: dict[str, tuple[str, ...]] = {
    "KeywordDetector": tuple(b.replace(_DENY, "(?:" + "|".join(w for w in _DENYLIST if w.isascii()) + ")")
                             for b in _KEYWORD_BRANCHES)}


@lru_cache(maxsize=1)
def plugin_prefilters() -> dict[str, re.Pattern[str]]:
    """Per plugin whose anchor is a pattern, the literal words every match of it holds (for KeywordDetector, a
    denylist word in every branch): searched first where hyperscan is not used, so that Python's regex engine tries
    the pattern only on the lines that hold one, not at every position of the text."""
    if installed_version() != DETECT_SECRETS_VERSION:
        return {}
    return {"KeywordDetector": lazy(f"(?i:{_DENY})")}


@lru_cache(maxsize=1)
def plugin_anchors() -> dict[str, re.Pattern[str]]:
    """Per detect-secrets plugin (class name), a pattern found in every line that plugin reports: its literal
    anchors and gate patterns above, searched in the raw line, case-insensitively where the plugin is. The adapter
    runs on a line only the plugins whose anchor it contains (one plugin in twenty-seven, typically), which is the
    same result as running them all, ~5x faster. Empty (every plugin on every line) with another detect-secrets."""
    if installed_version() != DETECT_SECRETS_VERSION:
        return {}
    parts: dict[str, list[str]] = {plugin: [f"(?i:{b})" for b in branches]
                                   for plugin, branches in _PATTERN_ANCHORS.items()}
    for plugins, literals in _LITERAL_GROUPS:
        for plugin in plugins:
            if plugin not in _PATTERN_ANCHORS:
                parts.setdefault(plugin, []).extend(f"(?i:{re.escape(lit)})" for lit in literals)
    for pattern, _, low, plugins in _REGEXES:
        for plugin in plugins:
            parts.setdefault(plugin, []).append(f"(?i:{pattern})" if low else f"(?:{pattern})")
    return {plugin: lazy("|".join(alts)) for plugin, alts in parts.items()}


def anchor_sources() -> tuple[tuple[str, bool, tuple[str, ...]], ...]:
    """The anchors of :func:`plugin_anchors` as hyperscan sources, for ASCII text: (pattern without look-behind,
    case-insensitive?, plugins). Non-ASCII literals are left out (they cannot occur in ASCII text)."""
    out: list[tuple[str, bool, tuple[str, ...]]] = [(branch, True, (plugin,))
                                                     for plugin, branches in _PATTERN_ANCHORS_ASCII.items()
                                                     for branch in branches]
    for plugins, literals in _LITERAL_GROUPS:
        plugins = tuple(p for p in plugins if p not in _PATTERN_ANCHORS)
        for lit in literals:
            if lit.isascii() and plugins:
                out.append(("".join(c if c.isalnum() else f"\\x{ord(c):02x}" for c in lit), True, plugins))
    for pattern, _, low, plugins in _REGEXES:
        out.append((_FORWARD.get(pattern, pattern), low, plugins))
    return tuple(out)
