"""Test harness around the FAKE 1Password ``op`` CLI in this directory (see ``tests/fakes_op/op``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

FAKE_OP_SCRIPT = Path(__file__).resolve().parent / "op"


class FakeOp:
    """A fake ``op`` on PATH with its own item store and argv log, all under ``root``."""

    def __init__(self, root: Path, vaults: tuple[str, ...] = ("Private",)) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.store = root / "store.json"
        self.log = root / "argv.log"
        # A wrapper pins the interpreter running the tests, whatever `python3` on PATH is.
        wrapper = self.bin / "op"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_OP_SCRIPT}" "$@"\n', encoding="utf-8")
        wrapper.chmod(0o755)
        self.store.write_text(json.dumps({"vaults": list(vaults), "items": []}), encoding="utf-8")

    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "FAKE_OP_STORE": str(self.store),
            "FAKE_OP_LOG": str(self.log),
        }

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line]

    def argvs(self) -> list[list[str]]:
        return [c["argv"] for c in self.calls()]

    def items(self) -> list[dict[str, Any]]:
        return json.loads(self.store.read_text(encoding="utf-8"))["items"]  # type: ignore[no-any-return]
