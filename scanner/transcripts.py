"""Coding-agent transcripts and shell histories as chunks: what has already entered an agent's context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from scanner.chunk import Chunk
from scanner.result import Stats
from scanner.sources import DEFAULT_MAX_FILE_SIZE, check_named, read_file


def default_agent_logs(home: Path | None = None) -> list[Path]:
    h = home or Path.home()
    found: list[Path] = []
    for base, pattern in ((h / ".claude" / "projects", "**/*.jsonl"), (h / ".codex" / "sessions", "**/*.jsonl")):
        if base.is_dir():
            found.extend(sorted(base.glob(pattern)))
    for name in (".bash_history", ".zsh_history"):
        if (h / name).is_file():
            found.append(h / name)
    return found


def _strings(obj: object) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def agent_logs(paths: list[str], stats: Stats, max_size: int = DEFAULT_MAX_FILE_SIZE * 8) -> Iterator[Chunk]:
    """Coding-agent transcripts (JSON lines: every string field is scanned, mapped to its line) and shell
    histories. A finding here means the secret has already entered an agent's context or a history file."""
    files = [Path(p).expanduser() for p in paths] if paths else default_agent_logs()
    for f in files if paths else ():
        check_named(f, str(f))  # a path the user names that is not there is a usage error, as for a files scan
    for f in files:
        if f.is_dir():
            expanded = sorted(p for p in f.rglob("*") if (p.is_file() and p.suffix in (".jsonl", ".json", ""))
                              or p.name.endswith("_history"))
        else:
            expanded = [f]
        for p in expanded:
            chunk = read_file(p, str(p), stats, max_size)
            if chunk is None:
                continue
            if p.suffix != ".jsonl":
                yield Chunk(path=chunk.path, text=chunk.text, source="agent-log")
                continue
            texts: list[str] = []
            numbers: list[int] = []
            for i, line in enumerate(chunk.text.splitlines(), start=1):
                try:
                    parts = list(_strings(json.loads(line)))
                except (ValueError, RecursionError):
                    parts = [line]
                for s in parts:
                    for sub in s.split("\n"):
                        texts.append(sub)
                        numbers.append(i)
            yield Chunk(path=chunk.path, text="\n".join(texts), source="agent-log", line_numbers=tuple(numbers))
