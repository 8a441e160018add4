"""The exposure blob cache: which secrets (by fingerprint) each file version holds, kept by object id under
``.git/unleak/exposure-cache`` so a second exposure opens only file versions added since. No value is stored.

The file is signed like the scan cache (HMAC-SHA-256 under :func:`scanner.cache.mac_key`): a coding agent can write
there, and a forged answer ("this file version holds nothing") would report a secret gone from HEAD that is not.
A file whose MAC does not hold is ignored; without the key there is no blob cache."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from pathlib import Path

from scanner.fileio import state_dir, write_state_file


def _mac(key: bytes, body: bytes) -> str:
    return hmac.new(key, b"exposure-blobs\0" + body, hashlib.sha256).hexdigest()


class BlobCache:
    """Which secrets (by fingerprint) each file version holds, kept under ``.git/unleak/exposure-cache`` so a second
    exposure reads only file versions added since. No value is stored (invariant 1): object ids and fingerprints,
    as the scan cache stores. The answers are for the set of secrets checked when they were written; a secret not
    in that set (one committed since) makes the file start over."""

    _VERSION = "unleak-exposure-blobs 3"  # 3: an archive's answer covers its members

    def __init__(self, git_dir: Path, fps: list[str], key: bytes | None) -> None:
        self.git_dir = git_dir
        self.path = git_dir / "unleak" / "exposure-cache" / "blobs"
        self.fps = fps
        self.known: dict[str, int] = {}  # oid -> bits over ``fps``
        self._checked: list[str] = []
        self._key = key

    def load(self) -> BlobCache:
        if self._key is None:
            return self
        try:
            head, _, body = self.path.read_text(encoding="ascii").partition("\n")
        except (OSError, UnicodeDecodeError):
            return self
        version, _, mac = head.rpartition(" ")
        if version != self._VERSION or not hmac.compare_digest(mac, _mac(self._key, body.encode("ascii"))):
            return self  # another format, torn, or not written by unleak with this user's key
        lines = body.split("\n")
        if not lines:
            return self
        checked = lines[0].split(",") if lines[0] else []
        if not set(self.fps) <= set(checked):
            return self
        self._checked = checked
        bit_of = {fp: 1 << i for i, fp in enumerate(self.fps)}
        for line in lines[1:]:
            oid, _, held = line.partition(" ")
            if len(oid) not in (40, 64):
                continue  # the end of the file
            bits = 0
            for fp in held.split(",") if held else ():
                bits |= bit_of.get(fp, 0)
            self.known[oid] = bits
        return self

    def save(self, bits_by_oid: dict[str, int]) -> None:
        """Write every answer known now (``bits_by_oid`` over ``fps``), atomically; best effort (a read-only
        .git only costs the next run its speed)."""
        if self._key is None or (self._checked and set(self._checked) >= set(self.fps)
                                 and all(o in self.known for o in bits_by_oid)):
            return  # no key, or nothing new
        out = [",".join(self.fps)]
        for oid, bits in bits_by_oid.items():
            held = [self.fps[i] for i in range(len(self.fps)) if bits >> i & 1]
            out.append(f"{oid} {','.join(held)}" if held else oid)
        if state_dir(self.git_dir, "unleak", "exposure-cache") is None:
            return  # a symbolic link (or another user's directory) where unleak's own should be: no cache
        body = "\n".join(out) + "\n"
        signed = f"{self._VERSION} {_mac(self._key, body.encode('ascii'))}\n{body}"
        with contextlib.suppress(OSError):
            write_state_file(self.path, signed.encode("ascii"))
