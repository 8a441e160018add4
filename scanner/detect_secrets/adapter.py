"""The one place that talks to detect-secrets.

detect-secrets keeps its configuration in process-global settings and caches; this module configures them once
(every built-in plugin, detect-secrets' default filters) and is the only module that imports the library, so no
other code can disturb those globals. It is imported lazily by the UL95x detectors and only sees *candidate*
lines: lines short enough to be code or config that hold a long token-like run or a secret-like word. Everything
it reports still goes through unleak's own filters, so unleak finds at least what detect-secrets finds without
inheriting its false alarms.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import sys
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from scanner.detect_secrets import NOTEBOOK_B64_LINE

_LOCK = threading.Lock()
_READY = False

# detect-secrets plugins grouped into unleak rule ids: entropy, keyword, and every format-specific plugin.
ENTROPY_TYPES = frozenset({"Base64 High Entropy String", "Hex High Entropy String"})
KEYWORD_TYPES = frozenset({"Secret Keyword"})
# Lines longer than this are minified bundles or data; detect-secrets would be slow there and unleak's own rules
# still scan them.
MAX_LINE = 1000
_CANDIDATE_LINE = re.compile(
    r"[A-Za-z0-9+/=_-]{16}|(?i:pass|pwd|secret|token|key|auth|credential|private)"
)


@dataclass(frozen=True)
class DSHit:
    """One detect-secrets result: 0-based line index in the chunk, the secret's offset in that line, its type, and
    the offset of that line in the text."""

    line_index: int
    column: int
    value: str = field(repr=False)  # a repr in a log or traceback must not carry the secret (invariant 1)
    type: str
    line_start: int = 0


def _configure() -> None:
    global _READY
    with _LOCK:
        if _READY:
            return
        with _offline():
            from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
            from detect_secrets.settings import cache_bust, configure_settings_from_baseline, get_filters, get_plugins

            cache_bust()
            plugin_classes: list[Any] = list(get_mapping_from_secret_type_to_class().values())
            configure_settings_from_baseline({"plugins_used": [{"name": cls.__name__} for cls in plugin_classes]})
            get_plugins()
            get_filters()  # imports the filter modules now, while the stand-in below is in place
        _READY = True


class _Offline(Exception):
    """What detect-secrets' ``requests`` raises here: it never verifies anything for unleak."""


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """detect-secrets imports ``requests`` in its plugin and filter modules, only to verify secrets with their
    providers, which unleak never asks it to do (its verification filter is not configured). Importing requests,
    and the character-set detection it loads, was most of detect-secrets' import time (~0.1 s before any worker
    starts). While detect-secrets' modules are imported, ``requests`` is a stand-in whose calls raise: cheaper, and
    detect-secrets can never reach the network from unleak. The stand-in is removed again, so any later
    ``import requests`` elsewhere gets the real package; when that was imported already, it is left alone."""
    if "requests" in sys.modules or "detect_secrets.core.plugins.util" in sys.modules:
        yield
        return

    def refuse(*_args: object, **_kwargs: object) -> Any:
        raise _Offline("detect-secrets verification is not used by unleak")

    stub = types.ModuleType("requests")
    exceptions = types.ModuleType("requests.exceptions")
    exceptions.RequestException = _Offline  # type: ignore[attr-defined]
    stub.exceptions = exceptions  # type: ignore[attr-defined]
    stub.Response = type("Response", (), {})  # type: ignore[attr-defined]
    stub.get = stub.post = refuse  # type: ignore[attr-defined]
    sys.modules["requests"], sys.modules["requests.exceptions"] = stub, exceptions
    try:
        yield
    finally:
        for name, mod in (("requests", stub), ("requests.exceptions", exceptions)):
            if sys.modules.get(name) is mod:
                del sys.modules[name]


def warm() -> None:
    """Load and configure detect-secrets and its plugins now (before forking workers)."""
    _configure()
    from detect_secrets.core import scan as ds_scan  # noqa: F401 - imported for its side: loaded once, here
    from detect_secrets.settings import get_plugins

    from scanner.detect_secrets.gates import plugin_anchors

    get_plugins()
    plugin_anchors()
    _anchor_db()


def scan_lines(path: str, text: str, select: bool = True, only: frozenset[int] | None = None) -> Iterator[DSHit]:
    """Run detect-secrets' line plugins (with its own filters) over the candidate lines of ``text`` (of those
    starting at the offsets ``only``, when given: the lines a gate opened): on each line only the plugins whose
    anchor it contains (:func:`scanner.detect_secrets.gates.plugin_anchors`), or with ``select=False`` every
    plugin, as detect-secrets itself does (the reference the tests compare with)."""
    # Base64 media lines of a notebook are dropped by the notebook-media filter anyway; not running the plugins
    # on them is what keeps a history full of notebooks fast.
    media = NOTEBOOK_B64_LINE if path.endswith(".ipynb") else None
    # index -> (offset, line) of the lines to judge; with ``only``, found from the offsets (newlines counted in C)
    # instead of splitting a whole file for a few lines.
    chosen: dict[int, tuple[int, str]] = {}
    if only is None:
        offset = 0
        for i, line in enumerate(text.split("\n")):
            chosen[i] = (offset, line)
            offset += len(line) + 1
    else:
        index = prev = 0
        for start in sorted(only):
            index += text.count("\n", prev, start)
            prev = start
            end = text.find("\n", start)
            chosen[index] = (start, text[start:] if end < 0 else text[start:end])
    numbered = [(i + 1, line) for i, (_, line) in chosen.items()
                if line and len(line) <= MAX_LINE and _CANDIDATE_LINE.search(line)
                and not (media is not None and media.match(line))]
    if not numbered:
        return
    _configure()
    from detect_secrets.core import scan as ds_scan

    # The file name only selects detect-secrets' per-language keyword regexes and filename filters; the file is not
    # read again (the text is what unleak already decoded, possibly a diff's added lines).
    from scanner.detect_secrets.gates import plugin_anchors

    anchors = plugin_anchors() if select else {}
    filename = path or "input.txt"
    secrets: Iterator[tuple[int, str, str]] = (
        _selected_plugins(numbered, filename, anchors) if anchors
        else ((s.line_number, s.type, s.secret_value or "")
              for s in ds_scan._process_line_based_plugins(lines=numbered, filename=filename)))
    for line_number, type_, value in secrets:
        if not value:
            continue
        idx = int(line_number) - 1
        if idx not in chosen:
            continue
        # Some plugins capture the delimiter in front of the secret (a quote, '=' or ':'): keep only the value.
        value = value.strip(" \t\"'=:`")
        start, line = chosen[idx]
        col = line.find(value)
        if col < 0 or not value:
            continue
        yield DSHit(idx, col, value, str(type_), start)


def _may_report(plugin: Any, line: str) -> bool:
    """False only when ``plugin`` certainly reports nothing on ``line``: for the entropy plugins, no quoted string
    (found with the plugin's own regex) is above the plugin's own entropy limit, which is exactly its test."""
    limit = getattr(plugin, "entropy_limit", None)
    regex = getattr(plugin, "regex", None)
    if limit is None or regex is None:
        return True
    # Shannon entropy over the charset never exceeds log2 of the number of distinct characters (for three or more;
    # below that it stays under 1.1 bits): a string with no more than 2 ** limit distinct characters cannot pass,
    # and its entropy (64 str.count calls for base64) is not computed.
    cap = 2 ** limit if limit >= 1.1 else -1
    for m in regex.findall(line):
        value = m[1] if isinstance(m, tuple) else m
        if len(set(value)) > cap and plugin.calculate_shannon_entropy(value) > limit:
            return True
    return False


# (detect-secrets' file type, line) -> what the plugins and filters report on that line: (type, value) pairs.
_MEMO: dict[tuple[Any, str], list[tuple[str, str]]] = {}
_MEMO_MAX = 200_000


def _selected_plugins(lines: list[tuple[int, str]], filename: str, anchors: dict[str, Any]
                      ) -> Iterator[tuple[int, str, str]]:
    """detect-secrets 1.5's ``_process_line_based_plugins`` (same filters, same results in the same order) as
    (line number, type, value), except that:

    * a plugin runs on a line only when the line contains its anchor (a plugin without one cannot report there);
    * the line filters — ``is_indirect_reference`` is a backtracking regex, ~60 µs a line — run only on a line
      where a plugin reported something: the filters are pure, so when they run cannot change what they say;
    * a line already judged in a file of the same detect-secrets file type is not judged again (a history repeats
      lines from commit to commit: 41,000 candidate lines of trufflehog's history are 19,000 distinct ones). What
      the plugins and filters say depends on the line, the file type (the keyword plugin's regexes) and the
      previous line, which only the allowlist filter reads, and only when a line holds ``allowlist`` (the filter
      also reads the extension, which the file type does not tell, when a line holds a pragma): a chunk with
      ``allowlist`` or ``whitelist`` in it is judged line by line, without the memo."""
    from detect_secrets.core.scan import _scan_line
    from detect_secrets.settings import get_plugins
    from detect_secrets.util.code_snippet import get_code_snippet
    from detect_secrets.util.filetype import determine_file_type

    line_content = [line for _, line in lines]
    stripped = [raw.rstrip() for _, raw in lines]
    memo: dict[tuple[Any, str], list[tuple[str, str]]] | None = _MEMO
    if any("allowlist" in low or "whitelist" in low for low in map(str.lower, line_content)):
        memo = None
    elif len(_MEMO) > _MEMO_MAX:
        _MEMO.clear()
    filetype = determine_file_type(filename)
    todo: list[int] = []
    for k, line in enumerate(stripped):
        got = memo.get((filetype, line)) if memo is not None else None
        if got is None:
            todo.append(k)
    anchored = _anchored_lines([stripped[k] for k in todo], anchors) if todo else {}
    plugins = [(plugin, anchored.get(type(plugin).__name__)) for plugin in get_plugins()]
    position = {k: j for j, k in enumerate(todo)}
    for k, (line_number, _) in enumerate(lines):
        line = stripped[k]
        j = position.get(k)
        if j is None:  # judged before, in a file of the same type
            for type_, value in memo[(filetype, line)]:  # type: ignore[index]
                yield line_number, type_, value
            continue
        report: list[tuple[str, str]] = []
        chosen = [plugin for plugin, where in plugins if (where is None or j in where) and _may_report(plugin, line)]
        if chosen:
            snippet = get_code_snippet(lines=line_content, line_number=line_number)
            found = [(plugin, secret) for plugin in chosen
                     for secret in _scan_line(plugin=plugin, filename=filename, line=line, line_number=line_number,
                                              context=snippet)]
            if found and not _line_filtered(filename, line, snippet):
                report = [(str(secret.type), secret.secret_value or "") for plugin, secret in found
                          if not _context_filtered(secret.filename, line, snippet, secret.secret_value, plugin)]
        if memo is not None:
            memo[(filetype, line)] = report
        for type_, value in report:
            yield line_number, type_, value


# detect-secrets' is_indirect_reference searches ``([^\v=!:]*)\s*(:=?|[!=]{1,3})\s*([\w.-]+[\[\(][^\v]*[\]\)])``:
# the unanchored leading group makes every search quadratic in the line (a tenth of a dense files scan). It can
# match empty, and so can the ``\s*`` after it, so a match exists exactly when one of the rest does: this, which
# starts at an operator.
_INDIRECT_TAIL = re.compile(r"(?::=?|[!=]{1,3})\s*[\w.-]+[\[\(][^\v]*[\]\)]")
_INDIRECT = "detect_secrets.filters.heuristic.is_indirect_reference"


def _line_filtered(filename: str, line: str, snippet: Any) -> bool:
    """detect-secrets' ``_is_filtered_out(required_filter_parameters=["line"], …)``, the same filters in the same
    order, with ``is_indirect_reference`` answered by :data:`_INDIRECT_TAIL` (same answer, linear time)."""
    from detect_secrets.core.scan import get_filters_with_parameter
    from detect_secrets.util.inject import call_function_with_arguments

    for fn in get_filters_with_parameter("line"):
        if fn.path == _INDIRECT:
            if len(line) <= 1000 and _INDIRECT_TAIL.search(line):
                return True
            continue
        try:
            if call_function_with_arguments(fn, filename=filename, line=line, context=snippet):
                return True
        except TypeError:  # a filter that needs more than a line (as detect-secrets skips it)
            pass
    return False


_LINE_ARGS = frozenset({"filename", "line", "context"})  # what _line_filtered passes


def _context_filtered(filename: str, line: str, snippet: Any, secret: str | None, plugin: Any) -> bool:
    """detect-secrets' ``_is_filtered_out(required_filter_parameters=["context"], …)`` for a secret on a line that
    :func:`_line_filtered` let through, without the filters that took no more than the line's own arguments: it
    asked them already, with the same arguments (they are pure), and they said no. With detect-secrets' default
    filters that is all of them (``is_line_allowlisted``, which ran twice per reported line before)."""
    from detect_secrets.core.scan import get_filters_with_parameter
    from detect_secrets.util.inject import call_function_with_arguments

    for fn in get_filters_with_parameter("context"):
        if "line" in fn.injectable_variables and fn.injectable_variables <= _LINE_ARGS:
            continue
        try:
            if call_function_with_arguments(fn, filename=filename, secret=secret, plugin=plugin, line=line,
                                            context=snippet):
                return True
        except TypeError:  # a filter that needs more (as detect-secrets skips it)
            pass
    return False


def _anchored_lines(lines: list[str], anchors: dict[str, Any]) -> dict[str, set[int]]:
    """Per plugin with an anchor, the indices of the lines that contain it: one pass over the joined lines instead
    of one search per line and plugin (27 plugins). With hyperscan, one scan for every anchor over the ASCII lines;
    otherwise (and for the other lines) one ``finditer`` per distinct anchor. Both equal searching each line,
    because no anchor can match a line break (literals and patterns of in-line classes;
    ``tests/scanner/test_engine_gates.py`` holds it)."""
    text = "\n".join(lines)
    hs = _anchor_db()
    if hs is not None and not text.isascii():
        # A file with a few non-ASCII lines (a comment in Chinese, a name with an accent): hyperscan for the ASCII
        # lines, the regexes for the rest (each pass sees the other's lines blank, and its answers there are left).
        ascii_lines = [line.isascii() for line in lines]
        plain = [ln if a else "" for ln, a in zip(lines, ascii_lines, strict=True)]
        other = [ln if not a else "" for ln, a in zip(lines, ascii_lines, strict=True)]
        fast = _anchored_in(plain, "\n".join(plain), anchors, hs)
        slow = _anchored_in(other, "\n".join(other), anchors, None)
        return {plugin: {i for i in found if ascii_lines[i]} | {i for i in slow.get(plugin, ()) if not ascii_lines[i]}
                for plugin, found in fast.items()}
    return _anchored_in(lines, text, anchors, hs if text.isascii() else None)


def _anchored_in(lines: list[str], text: str, anchors: dict[str, Any], hs: Any) -> dict[str, set[int]]:
    """:func:`_anchored_lines` of ``lines`` joined as ``text``: with ``hs`` (ASCII text only), one hyperscan pass."""
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    out: dict[str, set[int]] = {}
    if hs is not None:
        db, scratch, plugins_of = hs
        found: set[tuple[int, int]] = set()
        db.scan(text.encode("ascii"), match_event_handler=_hs_collect, context=found, scratch=scratch)
        for i, end in found:
            index = bisect.bisect_right(starts, end - 1) - 1
            for plugin in plugins_of[i]:
                out.setdefault(plugin, set()).add(index)
        for plugin in anchors:
            out.setdefault(plugin, set())
        return out
    from scanner.detect_secrets.gates import plugin_prefilters

    prefilters = plugin_prefilters()
    by_anchor: dict[int, set[int]] = {}
    for plugin, anchor in anchors.items():
        got = by_anchor.get(id(anchor))
        if got is None:
            first = prefilters.get(plugin)
            if first is not None:  # a pattern anchor: the lines holding its literal words, then the pattern there
                near = {bisect.bisect_right(starts, m.start()) - 1 for m in first.finditer(text)}
                got = {i for i in near if anchor.search(lines[i])}
            else:
                got = {bisect.bisect_right(starts, m.start()) - 1 for m in anchor.finditer(text)}
            by_anchor[id(anchor)] = got
        out[plugin] = got
    return out


def _hs_collect(pattern_id: int, start: int, end: int, flags: int, found: object) -> None:
    cast("set[tuple[int, int]]", found).add((pattern_id, end))


_HS: Any = None  # (database, scratch, plugins per pattern id); False when hyperscan is missing or refuses


def _anchor_db() -> Any:
    """The hyperscan database of every plugin anchor, compiled once (before workers fork, by :func:`warm`)."""
    global _HS
    if _HS is None:
        from scanner.detect_secrets.gates import anchor_sources

        sources = anchor_sources()
        try:
            import hyperscan

            from scanner.hscache import block_database

            db = block_database([p.encode("ascii") for p, _, _ in sources],
                                [hyperscan.HS_FLAG_CASELESS if caseless else 0 for _, caseless, _ in sources])
            _HS = (db, hyperscan.Scratch(db), [plugins for _, _, plugins in sources])
        except Exception:  # not installed (not Linux x86-64), or a pattern it cannot compile: the regex path
            _HS = False
    return _HS or None
