"""Credential-bearing formats: private keys and files whose structure says where the secret is."""

from __future__ import annotations

import re
from collections.abc import Iterator

from scanner.chunk import Chunk
from scanner.finding import Confidence
from scanner.rules import Candidate, Rule, register

_PEM = re.compile(
    r"-----BEGIN (?P<kind>(?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----"
    r"(?P<body>[\s\S]{20,16384}?)-----END (?P=kind)-----"
)


def _private_keys(chunk: Chunk) -> Iterator[Candidate]:
    for m in _PEM.finditer(chunk.text):
        yield Candidate("UL100", m.group(0), m.start(), m.end())


register(
    Rule(
        id="UL100",
        title="Private key",
        confidence=Confidence.HIGH,
        detect=_private_keys,
        keywords=("private key",),
        preview_prefix="-----BEGIN",
        family="private-key",
        description="PEM private keys (RSA, EC, DSA, OpenSSH, PKCS#8, PGP)",
    ),
)
