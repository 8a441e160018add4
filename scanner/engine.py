"""prefilter → rules/detectors → filters → Finding.

One Aho-Corasick automaton over every rule's keywords finds, in one pass over the lower-cased text, which rules can
possibly match and on which lines; only those (rule, line) pairs run a regular expression. Structural detectors run
once per chunk when their path pattern or keywords say so.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from scanner import anchored
from scanner.chunk import Chunk
from scanner.filters import SOFTENED, Context, Demotion, Filter, applicable, applicable_demotions
from scanner.finding import (
    MASKED_LINE_MAX,
    Confidence,
    Finding,
    Secret,
    fingerprint,
    masked_context,
    masked_line,
    redacted_preview,
    sha1_hex,
)
from scanner.keyscan import Hyperscan, ascii_lower
from scanner.result import Explanation, ScanResult
from scanner.rules import Candidate, DetectFn, Rule, all_rules
from scanner.rules._util import shannon_entropy
from scanner.rules.base import STOPPED, PatternTimeout

if TYPE_CHECKING:
    from scanner.detect_secrets.gates import Lines

# Families whose candidates yield to a specific provider/format match on the same span.
_LOW_PRECEDENCE = {"generic", "detect-secrets"}
# How far before a keyword hit a match may start (a variable name before "password", say).
_BEFORE = 160
_GATE_TAG = "\0gate:"  # automaton values for gate literals; never a rule id
_CONTEXT = 1024  # characters of the candidate's line on each side that filters see


@dataclass(frozen=True)
class EngineOptions:
    disabled: frozenset[str] = frozenset()
    extra_rules: tuple[Rule, ...] = ()
    min_confidence: Confidence = Confidence.LOW
    explain: bool = False
    # Sound prefilters for keyword-less detector families (scanner.detect_secrets.gates). Off only for the
    # reference path that proves the gates change no finding.
    gates: bool = True
    # Find keywords and gate patterns with hyperscan (when installed) in ASCII chunks: the same hits as the
    # automaton, ~10x faster, but ~50 ms to compile, so only for commit scans.
    hyperscan: bool = False
    # Filters not to apply (by name): content a coding agent writes is checked without "allow-comment", since the
    # agent can write the comment too.
    ignore_filters: frozenset[str] = frozenset()


class Engine:
    """Compiled once per scan; :meth:`scan_chunk` is pure and safe to call from worker processes."""

    def __init__(self, options: EngineOptions | None = None) -> None:
        import ahocorasick  # C extension; imported here so `import scanner` stays light

        self.options = options or EngineOptions()
        # An extra rule with a built-in's id replaces it (a migrated config's allowlist on a built-in rule).
        by_id = {**all_rules(), **{r.id: r for r in self.options.extra_rules}}
        rules = [r for r in by_id.values() if r.id not in self.options.disabled]
        self.rules: dict[str, Rule] = {r.id: r for r in rules}
        self._always: list[Rule] = [r for r in rules if not r.keywords]
        # Keyword-less detectors of a gated family run only when the family's gate opens (scanner.detect_secrets
        # .gates).
        self._gates: dict[str, Any] = {}
        if self.options.gates:
            from scanner.detect_secrets.gates import gates

            fams = {r.family for r in self._always if r.detect is not None}
            self._gates = {f: g for f, g in gates().items() if f in fams}
        auto = ahocorasick.Automaton()
        by_kw: dict[str, list[str]] = {}
        for r in rules:
            for kw in r.keywords:
                by_kw.setdefault(kw.lower(), []).append(r.id)
        for fam, gate in self._gates.items():
            for lit in gate.literals:
                by_kw.setdefault(lit, []).append(_GATE_TAG + fam)
        for kw, ids in by_kw.items():
            # (id, window) pairs, window -1 for a gate literal: the hit loop needs no lookups.
            auto.add_word(kw, tuple((i, self.rules[i].window if i in self.rules else -1) for i in ids))
        self._auto: Any = auto if by_kw else None
        if by_kw:
            auto.make_automaton()
        # Compiled on first use (~60 ms): a rescan that finds every commit in the cache never pays for it.
        self._hs: Hyperscan | None = None
        self._keywords = list(by_kw)
        self._hs_words = [(kw, auto.get(kw)) for kw in by_kw] if self.options.hyperscan and by_kw else None
        # Rules whose matches start just before a keyword: how far before a hit's last character (scanner.anchored).
        # Off on the reference path, which proves it changes no finding.
        self._reach = {r.id: r.starts_near + max(map(len, r.keywords)) - 1 for r in rules
                       if r.starts_near >= 0 and r.keywords and r.pattern} if self.options.gates else {}
        self._filters: dict[str, tuple[Filter, ...]] = {
            r.id: tuple(f for f in applicable(r) if f.name not in self.options.ignore_filters) for r in rules}
        self._demotions: dict[str, tuple[Demotion, ...]] = {r.id: applicable_demotions(r) for r in rules}
        self._unlikely = self.options.min_confidence is Confidence.UNLIKELY
        # Rules restricted to some paths, and per path the ids they exclude: a history repeats the same paths
        # thousands of times, and a regex search per rule and chunk was ~5 % of a full-history scan.
        self._path_rules = [r for r in rules if r.path_pattern]
        self._blocked: dict[str, frozenset[str]] = {}
        # Configured patterns stopped while scanning the current chunk (rules.base.UserPattern), by name: counted
        # into the drop counter under STOPPED + name when the chunk is done.
        self._stopped: list[str] = []

    def use_accelerator(self) -> None:
        """Ask for the hyperscan prefilter after all (a files scan large enough to pay for its compilation)."""
        if self._hs is None and self._hs_words is None and self._auto is not None:
            self._hs_words = [(kw, self._auto.get(kw)) for kw in self._keywords]

    def accelerator(self) -> Hyperscan | None:
        """The hyperscan prefilter, compiled now if it was asked for and not yet built (call it before forking
        workers, so that they share one); None when not asked for, not installed or not compilable."""
        if self._hs_words is not None:
            words, self._hs_words = self._hs_words, None
            try:
                self._hs = Hyperscan(words, self._gates)
            except Exception:  # not installed, or a pattern it cannot compile: the automaton gives the same hits
                self._hs = None
        return self._hs

    def warm(self) -> None:
        """Build the hyperscan prefilter, compile the filters' and the rules' patterns and load detect-secrets when
        its rules are on: called before forking workers, so that they inherit all of it instead of each paying for it
        again. The rule patterns come from the store of compiled patterns (:mod:`scanner.recache`): compiling them
        all costs ~0.3 s, more than most scans need, and reading them back ~10 ms."""
        from scanner import lazyre
        from scanner.rules.base import precompile

        self.accelerator()
        lazyre.compile_all()
        precompile(self.rules.values())
        if any(r.family == "detect-secrets" for r in self.rules.values()):
            from scanner.detect_secrets.adapter import warm

            warm()

    def _blocked_on(self, path: str) -> frozenset[str]:
        """Ids of the path-restricted rules whose path pattern ``path`` does not match."""
        got = self._blocked.get(path)
        if got is None:
            got = frozenset(r.id for r in self._path_rules if not self._path_matches(r, path))
            if len(self._blocked) >= 100_000:
                self._blocked.clear()
            self._blocked[path] = got
        return got

    def _path_matches(self, rule: Rule, path: str) -> bool:
        try:
            return rule.path_regex.search(path) is not None  # type: ignore[union-attr]
        except PatternTimeout as exc:  # a configured path pattern that backtracks: its rule does not run here
            self._stopped.append(exc.what)
            return False

    # ------------------------------------------------------------------------------------------ candidates
    def _candidates(self, chunk: Chunk) -> Iterator[Candidate]:
        text = chunk.text
        # rule id -> merged windows (start, end) around keyword hits, clipped to the hit's line. Windows, not
        # whole lines, keep a 10 MB single-line file linear: each regex only runs near its keywords.
        spans: dict[str, list[list[int]]] = {}
        hit_ends: dict[str, list[int]] = {}  # rule id -> its keyword hits, for the rules in self._reach
        reach = self._reach
        lower = ""
        gate_hits: dict[str, set[int]] = {}
        pattern_lines: dict[str, set[int]] | None = None  # gate-pattern lines by family, when hyperscan found them
        rest_of = False  # whether hyperscan judged only the ASCII lines of a non-ASCII text
        rest: Lines | None = None  # the other lines, once asked for
        if self._auto is not None:
            hits: Iterable[tuple[int, tuple[tuple[str, int], ...]]]
            hs = self._hs if self._hs_words is None else self.accelerator()
            if hs is not None:
                if text.isascii():
                    hits, pattern_lines = hs.scan(text)
                else:
                    hits, lower, pattern_lines = hs.scan_unicode(text)
                    rest_of = pattern_lines is not None  # (its lines: the ASCII ones; the regexes take the rest)
            else:
                lower = text.lower() if text.isascii() else ascii_lower(text)
                hits = self._auto.iter(lower)
            ls = le = -1
            find, rfind = text.find, text.rfind
            for end, pairs in hits:
                if end >= le:  # hits arrive in order: compute the line once per line, not per hit
                    ls = rfind("\n", 0, end) + 1
                    le = find("\n", end)
                    if le < 0:
                        le = len(text)
                for rid, window in pairs:
                    if window < 0:  # a gate literal: remember its line
                        gate_hits.setdefault(rid, set()).add(ls)
                        continue
                    ws = end - _BEFORE if end - _BEFORE > ls else ls
                    we = end + window if end + window < le else le
                    if rid in reach:
                        hit_ends.setdefault(rid, []).append(end)
                    lst = spans.get(rid)
                    if lst is None:
                        spans[rid] = [[ws, we]]
                    elif ws <= lst[-1][1]:
                        if we > lst[-1][1]:
                            lst[-1][1] = we
                    else:
                        lst.append([ws, we])
        # family -> the chunk its gated detectors see (None: gate closed).
        gated: dict[str, Chunk | None] = {}
        blocked = self._blocked_on(chunk.path) if self._path_rules else frozenset()
        for rule in self._always:
            if rule.id in blocked:
                continue
            gate = self._gates.get(rule.family) if rule.detect is not None else None
            if gate is not None:
                if rule.family not in gated:
                    literal_lines = gate_hits.get(_GATE_TAG + rule.family, set())
                    if pattern_lines is not None and not rest_of:  # ASCII: open_lines folds it only if it needs to
                        opened = gate.open_lines(text, lower, literal_lines, pattern_lines.get(rule.family, set()))
                    elif pattern_lines is not None:
                        if rest is None:  # once per chunk, whichever family asks first
                            from scanner.detect_secrets.gates import Lines

                            lower = lower or ascii_lower(text)
                            rest = Lines.non_ascii(text, lower)
                        opened = gate.open_lines(text, lower, literal_lines, pattern_lines.get(rule.family, set()),
                                                 rest)
                    else:
                        if not lower:  # once per chunk, whichever family asks first
                            lower = text.lower() if text.isascii() else ascii_lower(text)
                        opened = gate.open_lines(text, lower, literal_lines)
                    gated[rule.family] = _gated_chunk(chunk, opened)
                if gated[rule.family] is None:
                    continue
            spans[rule.id] = [[0, len(text)]]
        # A detector shared by several rules (detect-secrets' UL950-952) emits candidates under each of their ids:
        # it runs once per chunk, and only the candidates of rules scheduled here (enabled, not blocked) count.
        ran: set[DetectFn] = set()
        for rid, windows in spans.items():
            if rid in blocked:
                continue
            rule = self.rules[rid]
            if rule.detect is not None:
                if rule.detect in ran:
                    continue
                ran.add(rule.detect)
                view = gated.get(rule.family) if not rule.keywords else None
                for c in rule.detect(view or chunk):
                    if c.rule_id == rid or (c.rule_id in spans and c.rule_id not in blocked):
                        yield c
                continue
            rx = rule.regex
            requires = rule.requires
            near = reach.get(rid)
            ends = hit_ends.get(rid, [])
            for s, e in windows:
                if requires and not _contains_any(text, requires, s, e):
                    continue
                if near is None:
                    found: Iterable[Any] = rx.finditer(text, s, e)
                else:  # only where a match can start: just before a keyword
                    found = anchored.matches(rx, text, s, e, ends[bisect.bisect_left(ends, s):
                                                                   bisect.bisect_left(ends, e)], near)
                try:
                    for m in found:
                        grp = _secret_group(m)
                        if grp is None:
                            continue
                        yield Candidate(rid, m.group(grp), m.start(grp), m.end(grp))
                except PatternTimeout as exc:  # a configured rule's pattern ran out of time: it is stopped
                    self._stopped.append(exc.what)
                    break

    # ------------------------------------------------------------------------------------------ scanning
    def scan_chunk(self, chunk: Chunk, explain: list[Explanation] | None = None,
                   dropped: Counter[str] | None = None) -> list[Finding]:
        return [f for _, f in self.scan_chunk_indexed(chunk, explain, dropped)]

    def scan_chunk_indexed(self, chunk: Chunk, explain: list[Explanation] | None = None,
                           dropped: Counter[str] | None = None) -> list[tuple[int, Finding]]:
        """Findings with the 0-based line index (in ``chunk.text``) each one sits on, so a scan of identical text
        elsewhere can be replayed with other line numbers instead of scanned again."""
        text = chunk.text
        if not text:
            return []
        accepted: list[tuple[Candidate, Rule, str]] = []
        line_starts: list[int] | None = None

        def line_index(offset: int) -> int:
            nonlocal line_starts
            if line_starts is None:
                line_starts = _line_starts(text)
            return bisect.bisect_right(line_starts, offset) - 1

        def drop(cand: Candidate, name: str) -> None:
            if dropped is not None:
                dropped[name] += 1
            if explain is not None:
                explain.append(Explanation(cand.rule_id, chunk.path, chunk.file_line(line_index(cand.start)), name,
                                           chunk.commit.sha if chunk.commit is not None else ""))

        for cand in self._candidates(chunk):
            rule = self.rules[cand.rule_id]
            if not cand.value:
                continue
            if rule.validate is not None and not rule.validate(cand.value):
                drop(cand, "failed-checksum")
                continue
            low_entropy = bool(rule.min_entropy) and shannon_entropy(cand.value) < rule.min_entropy
            if low_entropy and not self._unlikely:
                drop(cand, "low-entropy")
                continue
            ls = text.rfind("\n", 0, cand.start) + 1
            le = _line_end(text, cand.start)
            pls = text.rfind("\n", 0, max(ls - 1, 0)) + 1 if ls else 0
            # Filters see the line around the candidate, at most _CONTEXT characters each side: on a minified
            # bundle's one long line, the whole line per candidate made a scan quadratic.
            cs = ls if cand.start - ls <= _CONTEXT else cand.start - _CONTEXT
            ce = le if le - cand.end <= _CONTEXT else cand.end + _CONTEXT
            pls = pls if ls - pls <= _CONTEXT else ls - _CONTEXT
            ctx = Context(rule=rule, value=cand.value, line=text[cs:ce], prev_line=text[pls:ls] if ls else "",
                          path=chunk.path)
            why = self._why(rule, ctx)
            if why is None and low_entropy:
                why = "low-entropy"  # (only at the unlikely tier: judged after the filters, which may drop it first)
            if why is not None:
                soften = SOFTENED.get(why) if self._unlikely else None
                if soften is None or not soften(ctx):
                    drop(cand, why)
                    continue
                # A stand-in a reader would still call a test password: kept at the tier asked for, named by the
                # filter that would have dropped it.
                conf, label = Confidence.UNLIKELY, why
                cand = Candidate(cand.rule_id, cand.value, cand.start, cand.end, conf)
            else:
                conf = cand.confidence or rule.confidence
                label = ""
                demotion = next((d for d in self._demotions[rule.id]
                                 if d.confidence.rank < conf.rank and d.applies(ctx)), None)
                if demotion is not None:
                    conf, label = demotion.confidence, demotion.name
                    cand = Candidate(cand.rule_id, cand.value, cand.start, cand.end, conf)
            if conf.rank < self.options.min_confidence.rank:
                drop(cand, label or "min-confidence")
                continue
            accepted.append((cand, rule, label))

        if self._stopped:
            if dropped is not None:
                dropped.update(STOPPED + what for what in self._stopped)
            self._stopped.clear()
        findings: list[tuple[int, Finding]] = []
        # Specific rules beat generic ones on the same span, so one secret yields one finding.
        # Among equal token-format rules, the longer span: a token that holds a shorter format's match (an X bearer
        # token, and a 50-character run of it the X API-secret format also fits) is the finding, not the run. Other
        # rules keep the order they came in (their ids, and the fingerprints baselines hold, stay as they were).
        accepted.sort(key=lambda cr: (cr[1].defers, cr[1].family in _LOW_PRECEDENCE,
                                      -(cr[0].confidence or cr[1].confidence).rank,
                                      cr[0].start - cr[0].end if cr[1].shapes else 0))
        # Taken spans never overlap each other, so sorted starts and a bisect find a clash in O(log n) (a notebook
        # with thousands of candidates in one chunk made the pairwise check quadratic).
        starts: list[int] = []
        ends: list[int] = []
        for cand, rule, label in accepted:
            i = bisect.bisect_left(starts, cand.end)  # taken spans starting before cand.end are at [0, i)
            if i and ends[i - 1] > cand.start:
                drop(cand, "overlaps-specific-rule")
                continue
            starts.insert(i, cand.start)
            ends.insert(i, cand.end)
            idx = line_index(cand.start)
            ls = text.rfind("\n", 0, cand.start) + 1
            first_line_len = len(cand.value.split("\n", 1)[0])
            fp = fingerprint(rule.id, cand.value)
            findings.append((idx, Finding(
                rule_id=rule.id, title=rule.title, confidence=cand.confidence or rule.confidence,
                path=chunk.path, line=chunk.file_line(idx), column=cand.start - ls + 1,
                end_column=cand.start - ls + 1 + first_line_len, fingerprint=fp,
                preview=redacted_preview(rule.preview_prefix, fp), source=chunk.source, commit=chunk.commit,
                secret=Secret(cand.value), sha1=sha1_hex(cand.value), label=label,
                context=masked_context(text[max(ls, cand.start - 200):cand.start], cand.value),
                line_context=_line_context(text, cand.start, cand.end),
            )))
        findings.sort(key=lambda p: (p[1].line, p[1].column, p[1].rule_id))
        return findings

    def _why(self, rule: Rule, ctx: Context) -> str | None:
        """The name of the first filter that drops the candidate, or None. An allowlist pattern of a config that runs
        out of time drops nothing (the finding is reported) and is stopped; the other filters still judge."""
        for f in self._filters[rule.id]:
            try:
                if f.drop(ctx):
                    return f.name
            except PatternTimeout as exc:
                self._stopped.append(exc.what)
        return None

    def scan(self, chunks: Iterable[Chunk], result: ScanResult | None = None,
             progress: Callable[[Chunk], None] | None = None) -> ScanResult:
        result = result or ScanResult()
        result.rules.update(self.rules)
        explain = result.explanations if self.options.explain else None
        for chunk in chunks:
            result.stats.chunks += 1
            result.findings.extend(self.scan_chunk(chunk, explain, result.dropped))
            if progress is not None:
                progress(chunk)
        return result


def _contains_any(text: str, needles: tuple[str, ...], start: int, end: int) -> bool:
    find = text.find
    for needle in needles:  # noqa: SIM110 - a loop, not any() over a generator: this runs once per window
        if find(needle, start, end) >= 0:
            return True
    return False


def _line_starts(text: str) -> list[int]:
    """Offset of every line's first character (a running sum of line lengths, all in C)."""
    return list(accumulate(map(_PLUS_ONE, map(len, text.split("\n"))), initial=0))[:-1]


_PLUS_ONE = (1).__add__


def _gated_chunk(chunk: Chunk, open_lines: set[int] | None) -> Chunk | None:
    """What a gated family's detectors see: nothing (gate closed), the chunk itself, or the chunk with the lines
    the gate opened named in ``only_lines`` (offsets in the same text, so candidates need no mapping back)."""
    if open_lines is None:
        return chunk
    if not open_lines:
        return None
    if len(open_lines) > chunk.text.count("\n"):  # every line
        return chunk
    return replace(chunk, only_lines=frozenset(open_lines))


def _line_context(text: str, start: int, end: int) -> str:
    """:func:`masked_line` of the finding's line, given only a window of it: never more than a few hundred characters
    are copied or walked per finding, however long the line (a minified bundle holds thousands of findings)."""
    ls = text.rfind("\n", 0, start) + 1
    lo = max(ls, start - MASKED_LINE_MAX)  # a cut window starts > MASKED_LINE_MAX // 2 before: masked_line sees it
    return masked_line(text[lo:end + MASKED_LINE_MAX], start - lo, end - lo)


def _line_end(text: str, pos: int) -> int:
    e = text.find("\n", pos)
    return len(text) if e < 0 else e


# The groups a rule's value can be in: "secret" (or "sq"/"bq", the same value in single quotes or backticks, where a
# pattern gives each quote its own alternative) and "bare" (unquoted).
_SECRET_GROUPS = ("secret", "sq", "bq", "bare")


def _secret_group(m: Any) -> str | int | None:
    gd = m.re.groupindex
    for name in _SECRET_GROUPS:
        if name in gd and m.group(name) is not None:
            return name
    if "secret" in gd or "bare" in gd:
        return None
    return 1 if m.re.groups >= 1 else 0
