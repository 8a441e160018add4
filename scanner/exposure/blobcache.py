"""The exposure blob cache: which secrets (by fingerprint) each file version holds, kept by object id under
``.git/unleak/exposure-cache`` so a second exposure opens only file versions added since. No value is stored."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


class BlobCache:
    """Which secrets (by fingerprint) each file version holds, kept under ``.git/unleak/exposure-cache`` so a second
    exposure reads only file versions added since. No value is stored (invariant 1): object ids and fingerprints,
    as the scan cache stores. The answers are for the set of secrets checked when they were written; a secret not
    in that set (one committed since) makes the file start over."""

    _VERSION = "unleak-exposure-blobs 1"

    def __init__(self, git_dir: Path, fps: list[str]) -> None:
        self.path = git_dir / "unleak" / "exposure-cache" / "blobs"
        self.fps = fps
        self.known: dict[str, int] = {}  # oid -> bits over ``fps``
        self._checked: list[str] = []

    def load(self) -> BlobCache:
        try:
            lines = self.path.read_text(encoding="ascii").split("\n")
        except (OSError, UnicodeDecodeError):
            return self
        if len(lines) < 2 or lines[0] != self._VERSION:
            return self
        checked = lines[1].split(",") if lines[1] else []
        if not set(self.fps) <= set(checked):
            return self
        self._checked = checked
        bit_of = {fp: 1 << i for i, fp in enumerate(self.fps)}
        for line in lines[2:]:
            oid, _, held = line.partition(" ")
            if len(oid) not in (40, 64):
                continue  # a torn last line: that version is read again
            bits = 0
            for fp in held.split(",") if held else ():
                bits |= bit_of.get(fp, 0)
            self.known[oid] = bits
        return self

    def save(self, bits_by_oid: dict[str, int]) -> None:
        """Write every answer known now (``bits_by_oid`` over ``fps``), atomically; best effort (a read-only
        .git only costs the next run its speed)."""
        if self._checked and set(self._checked) >= set(self.fps) and all(o in self.known for o in bits_by_oid):
            return  # nothing new
        out = [self._VERSION, ",".join(self.fps)]
        for oid, bits in bits_by_oid.items():
            held = [self.fps[i] for i in range(len(self.fps)) if bits >> i & 1]
            out.append(f"{oid} {','.join(held)}" if held else oid)
        tmp = self.path.with_name(f".blobs.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write("\n".join(out) + "\n")
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
