"""A vault writer run as a separate process by the concurrency and crash tests.

Usage: python -m tests.remediate.vault._writer NAMESPACE PREFIX COUNT  (a seed arrives on stdin, never argv).
Puts PREFIX_0 .. PREFIX_{COUNT-1} and prints each name after its put has returned.
"""

from __future__ import annotations

import sys

from remediate.vault import open_vault


def value_for(seed: str, name: str) -> str:
    import hashlib

    return "fake-" + hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()


def main() -> None:
    namespace, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seed = sys.stdin.readline().strip()
    vault = open_vault(namespace=namespace)
    for i in range(count):
        name = f"{prefix}_{i}"
        vault.put(name, value_for(seed, name))
        print(name, flush=True)


if __name__ == "__main__":
    main()
