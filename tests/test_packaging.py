"""Packaging promises: the license the metadata declares is the one shipped, and every declared runtime dependency
is one the packages import."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scanner", "remediate", "unleak")


def test_license_file_matches_the_pep639_expression() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"  # an SPDX expression (PEP 639), not the deprecated table
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text


def _imported_top_level_modules() -> set[str]:
    found: set[str] = set()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for m in re.finditer(r"^\s*(?:from|import)\s+([A-Za-z_][\w]*)", path.read_text(), re.M):
                found.add(m.group(1))
    return found


# distribution name -> the module it provides, where they differ
_MODULE = {"pyyaml": "yaml", "detect-secrets": "detect_secrets", "python-dotenv": "dotenv",
           "pyahocorasick": "ahocorasick", "gitpython": "git"}


def test_every_runtime_dependency_is_imported() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = [re.split(r"[<>=;\[ ]", d, maxsplit=1)[0].strip().lower() for d in deps]
    imported = _imported_top_level_modules()
    unused = [n for n in names if _MODULE.get(n, n.replace("-", "_")) not in imported]
    assert unused == []
    assert "yaml" in imported and "pyyaml" in names  # workflows are fixed at (line, column) of PyYAML's nodes
