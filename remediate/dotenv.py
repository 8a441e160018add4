"""``.env`` files -> reference files. In the reference file itself each secret value is replaced in place by its
reference; in a dotenv file that programs load themselves (``.env``, ``.env.production``) the secret's binding
becomes a comment naming the reference file that holds its reference now, so a program started without
``unleak run`` finds the variable missing instead of holding a reference string. Comments, blank lines, order,
quoting of other values and ``export`` prefixes are kept byte for byte.

Parsing is python-dotenv's own (the library the programs use), so the value moved to the vault is exactly the
value the program read. The unit is the whole value of a variable: ``DATABASE_URL=postgres://u:SECRET@h/db``
moves the whole URL under ``DATABASE_URL``, because ``unleak run`` injects whole variables.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from dotenv.parser import parse_stream

from remediate.vault.refs import LEGACY_REFERENCE_FILE as LEGACY_REFERENCE_FILE
from remediate.vault.refs import needs_quoting

if TYPE_CHECKING:  # the codemods package imports libcst; the agent hooks read .env files through this module
    from remediate.codemods.sites import Site

REFERENCE_HEADER = "# Secret references written by `unleak fix`: safe to commit; `unleak run` resolves them."


def is_dotenv_path(path: str) -> bool:
    """``.env``, ``.env.local``, ``.env.production``, ``prod.env`` and the like."""
    name = PurePosixPath(path).name
    return name == ".env" or name.startswith(".env.") or name.endswith(".env")


@dataclass(frozen=True)
class Entry:
    """One ``KEY=value`` binding as python-dotenv reads it."""

    key: str
    value: str | None
    line: int
    text: str  # the binding's exact source (may span lines for quoted values)


def entries(text: str) -> list[Entry]:
    out: list[Entry] = []
    for b in parse_stream(io.StringIO(text)):
        if b.key is not None and not b.error:
            out.append(Entry(b.key, b.value, b.original.line, b.original.string))
    return out


def parse_errors(text: str) -> list[int]:
    """Lines python-dotenv cannot parse (a program reading the file skips them; a guard must not)."""
    return [b.original.line for b in parse_stream(io.StringIO(text)) if b.error]


def analyze(text: str, raws: list[str]) -> list[Site]:
    """Where each raw secret sits: a variable's value (moved whole) or a comment (replaced by a marker)."""
    from remediate.codemods.sites import Site

    sites: list[Site] = []
    for b in parse_stream(io.StringIO(text)):
        source = b.original.string
        hits = [r for r in raws if r in source]
        if not hits:
            continue
        if b.key is None or b.error:
            kind, why = ("comment", None) if source.lstrip().startswith("#") or not source.strip() else (
                "manual", "a line python-dotenv cannot parse: fix it by hand")
            sites.extend(Site(line=b.original.line, kind=kind, raw=h, value=h, manual=why) for h in hits)
            continue
        value = b.value or ""
        for h in hits:
            if h in value:
                sites.append(Site(line=b.original.line, kind="dotenv", raw=h, value=value, hint=b.key,
                                  env_key=b.key))
            else:
                sites.append(Site(line=b.original.line, kind="comment", raw=h, value=h))
    return sites


_HEAD = re.compile(r"[ \t]*(?:export[ \t]+)?[^=\r\n]*?=[ \t]*")


def _split_binding(source: str) -> tuple[str, str, str]:
    """(head up to the value, the value as written, the rest: trailing comment and newline)."""
    m = _HEAD.match(source)
    if m is None:
        return source, "", ""
    head, rest = source[: m.end()], source[m.end():]
    if rest[:1] in ("'", '"'):
        q = rest[0]
        i = 1
        while i < len(rest):
            if rest[i] == "\\" and q == '"':
                i += 2
                continue
            if rest[i] == q:
                return head, rest[: i + 1], rest[i + 1:]
            i += 1
        return head, rest, ""
    line, nl, after = rest.partition("\n")
    cm = re.search(r"\s+#.*$", line)
    value_end = cm.start() if cm else len(line.rstrip(" \t\r"))
    return head, line[:value_end], line[value_end:] + nl + after


def quote_reference(reference: str) -> str:
    """References with spaces (1Password names may have them) are quoted; unleak:// references never are."""
    return f'"{reference}"' if needs_quoting(reference) else reference


def rewrite(text: str, references: Mapping[str, str], markers: Mapping[str, str] | None = None) -> str:
    """Replace the value of every key in ``references`` (key -> reference) in place; replace raw secrets quoted in
    comments by ``markers`` (raw -> marker text). Everything else is kept as it was."""
    markers = markers or {}
    out: list[str] = []
    for b in parse_stream(io.StringIO(text)):
        source = b.original.string
        if b.key is not None and not b.error and b.key in references:
            head, _value, tail = _split_binding(source)
            source = head + quote_reference(references[b.key]) + _mark(tail, markers)
        elif b.key is None:
            source = _mark(source, markers)  # a comment line
        out.append(source)
    return "".join(out)


def move_out(text: str, moved: Mapping[str, str], markers: Mapping[str, str] | None = None) -> str:
    """Turn the binding of every key in ``moved`` (key -> the reference file that holds its reference now) into a
    one-line comment saying so; replace raw secrets quoted in comments by ``markers``. A value quoted over several
    lines goes whole. Everything else is kept as it was."""
    markers = markers or {}
    out: list[str] = []
    for b in parse_stream(io.StringIO(text)):
        source = b.original.string
        if b.key is not None and not b.error and b.key in moved:
            nl = "\r\n" if source.endswith("\r\n") else "\n"
            tail = _split_binding(source)[2].strip()  # a comment after the value says what the key is: kept
            source = (f"# {b.key}: moved into the vault by `unleak fix`; its reference is in {moved[b.key]}"
                      f"{'  ' + _mark(tail, markers) if tail.startswith('#') else ''}{nl}")
        elif b.key is None:
            source = _mark(source, markers)
        out.append(source)
    return "".join(out)


def loaded_by_programs(path: str) -> bool:
    """Whether dotenv loaders read ``path`` on their own: ``.env`` and the environment files frameworks load by
    mode (``.env.local``, ``.env.production``); not ``.env.unleak`` nor ``.env.example`` and the like."""
    name = PurePosixPath(path).name
    if name == ".env":
        return True
    mode = name[len(".env."):] if name.startswith(".env.") else ""
    return mode.split(".")[0] in {"local", "development", "production", "test", "staging"} and "unleak" not in \
        mode.split(".")


def reference_file_for(path: str, reference_file: str) -> str:
    """Where the references of a dotenv file's secrets go: the reference file itself stays in place; the ``.env``
    at the top of the project goes to the reference file; any other (``.env.production``, ``svc/.env``) to a
    reference file of its own beside it (``.env.production.unleak``), which ``unleak run --env-file`` names."""
    pp = PurePosixPath(path)
    if path == reference_file:
        return path
    if path == LEGACY_REFERENCE_FILE:
        return reference_file
    return str(pp.with_name(pp.name + ".unleak"))


def _mark(text: str, markers: Mapping[str, str]) -> str:
    for raw in sorted(markers, key=len, reverse=True):
        text = text.replace(raw, markers[raw])
    return text


def append_references(text: str, references: Mapping[str, str]) -> str:
    """``text`` with ``KEY=reference`` lines for keys it does not define yet, under one header comment."""
    present = {e.key for e in entries(text)}
    missing = [(k, v) for k, v in references.items() if k not in present]
    if not missing:
        return text
    block = "" if not text or text.endswith("\n") else "\n"
    if text.strip():
        block += "\n"
    if REFERENCE_HEADER not in text:
        block += REFERENCE_HEADER + "\n"
    block += "".join(f"{k}={quote_reference(v)}\n" for k, v in missing)
    return text + block
