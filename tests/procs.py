"""The process table as /proc shows it, for tests that check what a scan leaves running."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Proc:
    ppid: int
    pgid: int
    state: str  # "Z" for a zombie (ended, not yet reaped)
    name: str


def processes() -> dict[int, Proc]:
    """Every process this test can see, by pid."""
    out: dict[int, Proc] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(entry)] = Proc(int(fields[1]), int(fields[2]), fields[0], name)
    return out
