"""Shared by every project's tests (copied to tests/conftest.py by bench/fix_realworld.py).

``expect(value, label, shape)`` checks that a value the app read has the shape of the secret it stands for and,
when the bench passes ``REALWORLD_EXPECT`` (a JSON file of SHA-256 digests, kept outside the project), that it is
exactly the value the bench generated for ``label``. Failures name the label, never the value.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _check(value: object, label: str, shape: str) -> None:
    if not isinstance(value, str) or re.fullmatch(shape, value) is None:
        raise AssertionError(f"{label}: the app did not read a value of the expected shape")
    path = os.environ.get("REALWORLD_EXPECT")
    if path:
        digests = json.loads(Path(path).read_text(encoding="utf-8"))
        if hashlib.sha256(value.encode()).hexdigest() != digests[label]:
            raise AssertionError(f"{label}: the app read a value other than the generated one")


@pytest.fixture
def expect() -> Callable[[object, str, str], None]:
    return _check
