"""Jupyter notebooks: code cells are Python, so they are rewritten by the same codemods as ``.py`` files.

The scanner reads a notebook as its JSON text, so a finding's raw text is JSON-escaped and its line is the line of
the JSON file. Here each code cell's source is decoded, analysed and rewritten on its own (one cell that does not
parse does not stop the others), and every site is reported at the JSON line its source line sits on, which is the
line the scanner reported.

IPython syntax (``%magic``, ``!shell``, ``var = !cmd``, ``obj?``) is not Python: those lines are masked with a
placeholder name for the codemods and put back afterwards; a secret on such a line, in a ``%%`` cell, in a
markdown or raw cell, in the metadata or in a cell's outputs is a manual step with its reason. Outputs are kept as
they are: they record what a past run printed, and clearing them is the author's call.

The notebook is written back in its own layout (indent, key order, line-list or string sources), so the patch shows
only the changed source lines; with nbformat installed the result is validated against the notebook schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from remediate import codemods
from remediate.codemods.sites import Site

SUFFIX = ".ipynb"
_MAGIC = re.compile(r"^\s*(?:[%!?]|[\w.,\s]+=\s*[!%](?!=))|\?\s*$")
_PLACEHOLDER = "__unleak_ipython_line_{}__"
_PLACEHOLDER_RE = re.compile(r"^[ \t]*__unleak_ipython_line_(\d+)__[ \t]*$")
_STRING_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)

OUTPUT_REASON = ("in a cell's saved output: clear that output (Jupyter: Edit > Clear Outputs) or re-run the cell "
                 "after the fix, then save the notebook")


def is_notebook(path: str) -> bool:
    return path.lower().endswith(SUFFIX)


def _decode(raw: str) -> str:
    """The source text a JSON-escaped raw stands for (the raw itself when it is no valid JSON string body)."""
    try:
        value = json.loads(f'"{raw}"')
    except ValueError:
        return raw
    return value if isinstance(value, str) else raw


@dataclass
class _Cell:
    index: int
    kind: str
    source: str
    lines: list[int]  # JSON file line of each source line (1-based list index -> file line)


def _strings_in_order(obj: Any) -> Iterator[tuple[Any, ...] | None]:
    """Every string of the document in document order: a value as its path of keys and indices, a key as None."""
    def walk(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, ...] | None]:
        if isinstance(node, dict):
            for k, v in node.items():
                yield None
                yield from walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, (*path, i))
        elif isinstance(node, str):
            yield path
    yield from walk(obj, ())


def _string_lines(text: str, doc: Any) -> dict[tuple[Any, ...], int]:
    """The JSON line of every string value, by its path. JSON strings are the only quoted tokens, so the n-th
    string token of the text is the n-th string of the parsed document (keys included); {} when they disagree."""
    tokens = [m.start() for m in _STRING_TOKEN.finditer(text)]
    paths = list(_strings_in_order(doc))
    if len(tokens) != len(paths):
        return {}  # duplicate keys or the like: lines fall back to the cell's first line
    out: dict[tuple[Any, ...], int] = {}
    line, pos = 1, 0
    for start, path in zip(tokens, paths, strict=True):
        line += text.count("\n", pos, start)
        pos = start
        if path is not None:
            out[path] = line
    return out


@dataclass
class _Parsed:
    doc: dict[str, Any]
    cells: list[_Cell]
    lines: dict[tuple[Any, ...], int]


def _parse(text: str) -> _Parsed | str:
    try:
        doc = json.loads(text)
    except ValueError:
        return "not a valid notebook (the JSON does not parse); fix it by hand"
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        if isinstance(doc, dict) and "worksheets" in doc:
            return ("a notebook in format 3: convert it (`jupyter nbconvert --to notebook --nbformat 4`) and run "
                    "`unleak fix` again")
        return "not a notebook unleak can read (no list of cells); fix it by hand"
    lines = _string_lines(text, doc)
    cells: list[_Cell] = []
    for i, cell in enumerate(doc["cells"]):
        if not isinstance(cell, dict):
            continue
        src = cell.get("source", "")
        if isinstance(src, list):
            source = "".join(s for s in src if isinstance(s, str))
            where = [lines.get(("cells", i, "source", j), 0) for j in range(len(src))]
        else:
            source = src if isinstance(src, str) else ""
            where = [lines.get(("cells", i, "source"), 0)] * max(1, source.count("\n") + 1)
        cells.append(_Cell(i, str(cell.get("cell_type", "")), source, where))
    return _Parsed(doc, cells, lines)


def _mask(source: str) -> tuple[str, dict[int, str]]:
    """IPython-only lines -> placeholder names, so libcst can parse the cell; the originals by placeholder number."""
    out: list[str] = []
    saved: dict[int, str] = {}
    for line in source.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if _MAGIC.search(body) and not body.lstrip().startswith("#"):
            n = len(saved)
            saved[n] = body
            indent = body[: len(body) - len(body.lstrip())]
            out.append(indent + _PLACEHOLDER.format(n) + line[len(body):])
        else:
            out.append(line)
    return "".join(out), saved


def _unmask(code: str, saved: Mapping[int, str]) -> str:
    out = []
    for line in code.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        m = _PLACEHOLDER_RE.match(body)
        out.append(saved[int(m.group(1))] + line[len(body):] if m else line)
    return "".join(out)


def _file_line(cell: _Cell, line: int) -> int:
    if not cell.lines:
        return 0
    return cell.lines[min(max(line, 1), len(cell.lines)) - 1] or cell.lines[0]


def _line_of(source: str, needle: str) -> int:
    return source[: source.find(needle)].count("\n") + 1 if needle in source else 1


def analyze(text: str, raws: Collection[str]) -> codemods.Outcome:
    """Sites of ``raws`` (raw text as the scanner found it in the JSON file) in the notebook, lines as in the file.

    Code cells are analysed by the Python codemods (``raw`` of a site stays the file's raw text, so the planner
    matches it to its finding); every other place a raw occurs is a manual site.
    """
    parsed = _parse(text)
    if isinstance(parsed, str):
        return codemods.Outcome(None, error=parsed)
    decoded = {raw: _decode(raw) for raw in raws}
    back = {d: r for r, d in decoded.items()}
    sites: list[Site] = []
    for cell in parsed.cells:
        here = [r for r, d in decoded.items() if d and d in cell.source]
        if cell.kind != "code":
            for r in here:
                line = _file_line(cell, _line_of(cell.source, decoded[r]))
                sites.append(Site(line=line, kind="manual", raw=r, value=decoded[r],
                                  manual=f"in a {cell.kind or 'non-code'} cell: remove it from the text"))
            continue
        masked, saved = _mask(cell.source)
        for r in here:
            if any(decoded[r] in s for s in saved.values()):
                sites.append(Site(line=_file_line(cell, _line_of(cell.source, decoded[r])), kind="manual", raw=r,
                                  value=decoded[r], manual="on an IPython magic or shell (!) line: read the "
                                  "variable from the environment there by hand (the kernel runs under `unleak run`)"))
        inner = [decoded[r] for r in here if decoded[r] in masked]
        if not inner:
            continue
        if cell.source.lstrip().startswith("%%"):
            sites += [Site(line=_file_line(cell, _line_of(cell.source, d)), kind="manual", raw=back[d], value=d,
                           manual="in a cell run by a %% cell magic (not Python): move it by hand") for d in inner]
            continue
        outcome = codemods.analyze(masked, inner)
        if not outcome.ok:
            sites += [Site(line=_file_line(cell, _line_of(cell.source, d)), kind="manual", raw=back[d], value=d,
                           manual=f"code cell {cell.index + 1}: {outcome.error}") for d in inner]
            continue
        for s in outcome.sites:
            sites.append(replace(s, raw=back.get(s.raw, s.raw), line=_file_line(cell, s.line)))
    sites += _elsewhere(parsed, decoded)
    return codemods.Outcome(text, sites)


def _elsewhere(parsed: _Parsed, decoded: Mapping[str, str]) -> list[Site]:
    """Manual sites for raws in outputs and metadata (every string value outside the cells' sources)."""
    sites: list[Site] = []
    seen: set[tuple[str, int]] = set()

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))
        elif isinstance(node, str):
            if len(path) >= 3 and path[0] == "cells" and path[2] == "source":
                return
            for r, d in decoded.items():
                if d and d in node:
                    line = parsed.lines.get(path, 0)
                    if (r, line) in seen:
                        continue
                    seen.add((r, line))
                    in_output = len(path) >= 3 and path[0] == "cells" and path[2] == "outputs"
                    why = OUTPUT_REASON if in_output else "in the notebook's metadata: remove it by hand"
                    sites.append(Site(line=line, kind="manual", raw=r, value=d, manual=why))

    walk(parsed.doc, ())
    return sites


def rewrite(text: str, secrets: Collection[str], *, names: Mapping[str, str],
            default_names: Mapping[str, str] | None = None, dotenv_keys: Collection[str] = (),
            flip_override: bool = False) -> codemods.Outcome:
    """Rewrite the code cells as :func:`remediate.codemods.rewrite` rewrites a module (keys are the file's raw
    texts); outputs, cells that do not parse and everything else stay as they are."""
    parsed = _parse(text)
    if isinstance(parsed, str):
        return codemods.Outcome(None, error=parsed)
    dec_names = {_decode(r): n for r, n in names.items()}
    dec_defaults = {_decode(r): n for r, n in (default_names or {}).items()}
    wanted = set(dec_names) | set(dec_defaults)
    changed = False
    for cell in parsed.cells:
        if cell.kind != "code" or cell.source.lstrip().startswith("%%"):
            continue
        masked, saved = _mask(cell.source)
        hits = [d for d in wanted if d and d in masked]
        if not hits and "dotenv" not in masked and "read_env" not in masked:
            continue  # nothing here for the codemods: the cell stays byte-identical
        outcome = codemods.rewrite(masked, hits, names={d: n for d, n in dec_names.items() if d in hits},
                                   default_names={d: n for d, n in dec_defaults.items() if d in hits},
                                   dotenv_keys=dotenv_keys, flip_override=flip_override)
        if not outcome.ok or outcome.code is None:
            # Reported as a manual step by analyze(); the other cells are still fixed. Should a value be left here
            # that analyze() thought movable, the planner's check that the values are gone keeps the file out.
            continue
        new = _unmask(outcome.code, saved)
        if new != cell.source:
            changed = True
            raw_cell = parsed.doc["cells"][cell.index]
            raw_cell["source"] = new.splitlines(keepends=True) if isinstance(raw_cell.get("source"), list) else new
    if not changed:
        return codemods.Outcome(text)
    out = _dump(parsed.doc, text)
    error = _validate(out)
    return codemods.Outcome(None, error=error) if error else codemods.Outcome(out)


def _dump(doc: dict[str, Any], original: str) -> str:
    """``doc`` in the layout of ``original``: its indent, key order, ASCII escaping and final newline (Jupyter
    writes indent 1, sorted keys, no ASCII escaping; other tools differ, and a whole-file diff hides the change)."""
    m = re.match(r"\{\r?\n([ \t]+)", original)
    indent: int | str | None = None
    if m:
        ws = m.group(1)
        indent = len(ws) if set(ws) == {" "} else ws
    ascii_only = original.isascii() and bool(re.search(r"\\u[0-9a-fA-F]{4}", original))
    out = json.dumps(doc, indent=indent, ensure_ascii=ascii_only,
                     separators=(",", ": ") if indent is not None else (", ", ": "))
    if "\r\n" in original:
        out = out.replace("\n", "\r\n")
    return out + ("\r\n" if original.endswith("\r\n") else "\n" if original.endswith("\n") else "")


def _validate(text: str) -> str | None:
    """None when the notebook is valid (checked by nbformat's schema if nbformat is installed)."""
    try:
        import nbformat
    except ImportError:
        return None
    try:
        nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)  # type: ignore[no-untyped-call]
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises its own ValidationError and JSON errors alike
        return f"the rewritten notebook would not validate ({type(exc).__name__}); fix it by hand"
    return None
