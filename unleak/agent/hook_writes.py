"""What a write tool call (Write, Edit, MultiEdit, NotebookEdit) adds to a file: the file's content before and
after the call, applied as the agent's tool applies it, and the secrets only the new content holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from unleak.agent.hook_scan import Hit, _relative, _root, scan_text


def _written_content(tool: str, tool_input: dict[str, Any]) -> list[str]:
    if tool == "Write":
        return [str(tool_input.get("content") or "")]
    if tool == "Edit":
        return [str(tool_input.get("new_string") or "")]
    if tool == "MultiEdit":
        edits = tool_input.get("edits") or []
        return [str(e.get("new_string") or "") for e in edits if isinstance(e, dict)]
    if tool == "NotebookEdit":
        return [str(tool_input.get("new_source") or "")]
    return []


# Files up to this size are checked whole after the edit (a key split over two edits is only whole there); a larger
# one is checked on the new text alone. A hook that times out lets the call through, and the agent chooses the
# file's content: ~0.5 s per scan of 512 KiB of dense random text on one core, twice (before and after).
WHOLE_FILE_LIMIT = 512 * 1024


def _read_text(path: Path) -> str | None:
    """The file's text (undecodable bytes replaced), "" when it does not exist, None when it is too big or
    unreadable."""
    try:
        if not path.is_file():
            return "" if not path.exists() else None
        if path.stat().st_size > WHOLE_FILE_LIMIT:
            return None
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None


def _apply_edit(text: str, old: str, new: str, replace_all: bool) -> str:
    """``text`` after Claude Code's Edit. An ``old`` that is not there fails the edit in Claude Code; the new text
    is appended anyway, so it is scanned in the file's context rather than not at all."""
    if not old:
        return new + text
    if old not in text:
        return text + "\n" + new
    return text.replace(old, new) if replace_all else text.replace(old, new, 1)


def _notebook_sources(raw: str) -> list[dict[str, Any]] | None:
    try:
        doc = json.loads(raw) if raw.strip() else {"cells": []}
    except json.JSONDecodeError:
        return None
    cells = doc.get("cells") if isinstance(doc, dict) else None
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else None


def _cell_text(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _notebook_after(cells: list[dict[str, Any]], tool_input: dict[str, Any]) -> list[dict[str, Any]]:
    """The cells after a NotebookEdit (replace, insert after ``cell_id`` or at the top, delete)."""
    cells = list(cells)
    mode = str(tool_input.get("edit_mode") or "replace")
    cell_id = tool_input.get("cell_id")
    idx = next((i for i, c in enumerate(cells) if cell_id is not None and c.get("id") == cell_id), None)
    new_cell = {"cell_type": tool_input.get("cell_type") or "code", "source": str(tool_input.get("new_source") or "")}
    if mode == "insert":
        cells.insert(0 if idx is None else idx + 1, new_cell)
    elif mode == "delete":
        if idx is not None:
            del cells[idx]
    elif idx is not None:
        cells[idx] = {**cells[idx], "source": new_cell["source"]}
    else:
        cells.append(new_cell)
    return cells


def content_before_after(tool: str, tool_input: dict[str, Any], path: Path) -> tuple[str, str] | None:
    """(the file's content now, its content after the tool call), as text to scan; None when the file cannot be
    checked whole (too big, unreadable, not a notebook the edit can be applied to)."""
    current = _read_text(path)
    if current is None:
        return None
    if tool == "Write":
        return current, str(tool_input.get("content") or "")
    if tool == "Edit":
        return current, _apply_edit(current, str(tool_input.get("old_string") or ""),
                                    str(tool_input.get("new_string") or ""), bool(tool_input.get("replace_all")))
    if tool == "MultiEdit":
        after = current
        for e in tool_input.get("edits") or []:
            if isinstance(e, dict):
                after = _apply_edit(after, str(e.get("old_string") or ""), str(e.get("new_string") or ""),
                                    bool(e.get("replace_all")))
        return current, after
    if tool == "NotebookEdit":
        cells = _notebook_sources(current)
        if cells is None:
            return None
        # Cells joined by blank lines: what the scanner sees is the code, as in the notebook's cells.
        return ("\n\n".join(_cell_text(c) for c in cells),
                "\n\n".join(_cell_text(c) for c in _notebook_after(cells, tool_input)))
    return None


def _new_hits(before: list[Hit], after: list[Hit]) -> list[Hit]:
    """Findings of ``after`` that ``before`` did not have (counted, so a second copy of a secret counts)."""
    from collections import Counter

    left = Counter((h.rule_id, h.fingerprint) for h in before)
    out: list[Hit] = []
    for h in after:
        key = (h.rule_id, h.fingerprint)
        if left[key] > 0:
            left[key] -= 1
        else:
            out.append(h)
    return out


def _readable_whole(path: Path, root: Path | None) -> bool:
    """Whether the hook may read ``path`` to judge a write whole: a file inside the project (by its real path), and
    not in unleak's own directories. The hook's verdict depends on what the file holds, so reading any file would
    answer "does this file contain X" for files the agent cannot read itself (the vault key)."""
    from unleak.userenv import config_dir, data_dir, state_dir

    real = os.path.realpath(path)

    def within(base: Path) -> bool:
        b = os.path.realpath(base)
        return real == b or real.startswith(b.rstrip(os.sep) + os.sep)

    return root is not None and within(root) and not any(within(d) for d in (data_dir(), state_dir(), config_dir()))


def write_hits(tool: str, tool_input: dict[str, Any], cwd: Path) -> list[Hit]:
    """Secrets a write tool call would add. The whole resulting file is scanned — a key split over two edits, or
    completed next to text already there, is whole only there — and what the file already held is not reported
    again (a second copy of it is). A file that cannot be checked whole is checked on the new text alone."""
    path_text = str(tool_input.get("file_path") or tool_input.get("notebook_path") or "")
    rel = _relative(path_text or "<content>", cwd)
    root = _root(cwd)
    both = None
    target = Path(path_text) if os.path.isabs(path_text) else cwd / path_text
    if path_text and _readable_whole(target, root):
        both = content_before_after(tool, tool_input, target)
    if both is None:
        return [h for text in _written_content(tool, tool_input) for h in scan_text(text, rel, root)]
    before, after = both
    return _new_hits(scan_text(before, rel, root) if before else [], scan_text(after, rel, root))


def file_hits_after_write(tool_input: dict[str, Any], tool_response: Any, cwd: Path) -> list[Hit]:
    """PostToolUse: secrets in the file as it is now on disk that were not in it before the call (Claude Code
    reports the original content of an Edit; without it, every secret in the file counts)."""
    path_text = str(tool_input.get("file_path") or tool_input.get("notebook_path") or "")
    if not path_text:
        return []
    p = Path(path_text) if os.path.isabs(path_text) else cwd / path_text
    root = _root(cwd)
    if not _readable_whole(p, root):
        return []  # checked before the call, on the new text alone
    now = _read_text(p)
    if not now:
        return []
    rel = _relative(path_text, cwd)
    if p.suffix == ".ipynb":
        cells = _notebook_sources(now)
        if cells is not None:
            now = "\n\n".join(_cell_text(c) for c in cells)
    original = tool_response.get("originalFile") if isinstance(tool_response, dict) else None
    before = scan_text(original, rel, root) if isinstance(original, str) and p.suffix != ".ipynb" else []
    return _new_hits(before, scan_text(now, rel, root))
