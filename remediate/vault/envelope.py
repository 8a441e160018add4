"""The local vault's file format and encryption primitives: the JSON body of a namespace file (which the whole-file
HMAC covers), the HKDF derivation of purpose keys from the master key, the key id, and base64 fields."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

FORMAT = "unleak-vault"
VERSION = 1
NONCE_BYTES = 12


def b64e(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def b64d(s: object) -> bytes:
    if not isinstance(s, str):
        raise ValueError("not a string")
    return base64.b64decode(s.encode("ascii"), validate=True)


def derive(master: bytes, purpose: bytes, length: int = 32) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=b"unleak-vault/v1/" + purpose).derive(
        master
    )


def key_id(master: bytes) -> str:
    return derive(master, b"key-id", 8).hex()



@dataclass
class VaultFile:
    namespace: str
    key_id: str
    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    # Counts the writes, inside the authenticated body: an older copy put back has a smaller one than this machine
    # last saw. None: a file written before generations existed (its body, and so its MAC, has none).
    generation: int | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "namespace": self.namespace,
            "key_id": self.key_id,
            "entries": {k: self.entries[k] for k in sorted(self.entries)},
        }
        if self.generation is not None:
            body["generation"] = self.generation
        return body


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
