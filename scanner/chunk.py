"""The unit the engine scans: some text and where it came from."""

from __future__ import annotations

from dataclasses import dataclass

from scanner.finding import CommitInfo


@dataclass(frozen=True)
class Chunk:
    """Text to scan plus its origin.

    ``line_numbers`` maps each line of ``text`` to its line in the original file (added lines of a diff are not
    contiguous); ``None`` means the text *is* the file, numbered from 1.
    """

    path: str
    text: str
    source: str = "file"  # file | staged | changes | commit | diff | agent-log
    line_numbers: tuple[int, ...] | None = None
    commit: CommitInfo | None = None
    # Offsets of the first characters of the lines a gated detector looks at (the engine sets it for the family
    # whose gate opened only those lines); None: every line.
    only_lines: frozenset[int] | None = None

    def file_line(self, index: int) -> int:
        """1-based file line of the 0-based line ``index`` of ``text``."""
        if self.line_numbers is None:
            return index + 1
        if 0 <= index < len(self.line_numbers):
            return self.line_numbers[index]
        return self.line_numbers[-1] if self.line_numbers else index + 1
