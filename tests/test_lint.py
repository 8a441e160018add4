"""ruff and mypy (strict on the packages) are part of the test command, so a lint or type error fails CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_clean() -> None:
    proc = _run("ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_clean() -> None:
    proc = _run("mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_architecture_arrows() -> None:
    """unleak -> remediate -> scanner; only the CLI layer (unleak/cli.py, unleak/commands/) imports
    click; only one adapter imports detect_secrets."""
    import ast

    problems: list[str] = []
    for pkg, forbidden in (("scanner", {"remediate", "unleak", "click"}), ("remediate", {"unleak", "click"}),
                           ("unleak", {"click"})):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for n in names:
                    top = n.split(".")[0]
                    if top in forbidden and not (top == "click" and _cli_layer(rel)):
                        problems.append(f"{rel} imports {n}")
                    if top == "detect_secrets" and rel != "scanner/detect_secrets_adapter.py":
                        problems.append(f"{rel} imports detect_secrets outside the adapter")
    assert problems == []


def _cli_layer(rel: str) -> bool:
    return rel == "unleak/cli.py" or rel.startswith("unleak/commands/")


def test_repository_scans_itself_clean() -> None:
    """unleak on its own repository, with its baseline and config, finds nothing."""
    proc = _run("unleak", "scan")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_version_has_one_value() -> None:
    import tomllib

    from scanner.version import VERSION
    from unleak import __version__

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == VERSION == __version__
