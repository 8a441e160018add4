"""Each concept is defined once. The behaviour tests that show the copies agreeing live with the behaviour
(test_action: the namespace; test_hooks: dotenv files); these catch a new copy being written by hand."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGES = ("scanner", "remediate", "unleak")


def _trees() -> Iterator[tuple[str, ast.AST]]:
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _constants(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


def test_audit_process_records_come_from_process_info() -> None:
    """A process record built by hand drifts from audit.process_info's fields (and from what `unleak audit` reads)."""
    found = []
    for rel, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                if {"argv", "pid"} <= keys and rel != "unleak/audit.py":
                    found.append(f"{rel}:{node.lineno}")
    assert found == []


def test_the_namespace_sanitiser_is_defined_once() -> None:
    found = [rel for rel, tree in _trees() for c in _constants(tree)
             if c.startswith("[^a-z0-9._-]") and rel != "remediate/vault/identity.py"]
    assert found == []


def test_reference_prefixes_are_defined_once() -> None:
    """The schemes come from remediate.vault.refs; a tuple of prefixes written elsewhere misses the next backend."""
    found = []
    for rel, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple) and any(isinstance(e, ast.Constant) and e.value in ("unleak://", "op://")
                                                   for e in node.elts):
                found.append(f"{rel}:{node.lineno}")
    assert found == []


def test_times_shown_to_humans_are_formatted_once() -> None:
    found = [rel for rel, tree in _trees() for c in _constants(tree)
             if "%H:%M:%S" in c and rel != "unleak/agent/display.py"]
    assert found == []
