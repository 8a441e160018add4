"""Patterns compiled on first use behave like compiled ones, and every one in the packages compiles."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

from scanner import lazyre
from scanner.detect_secrets.gates import gates


def test_lazy_pattern_matches_like_a_compiled_one() -> None:
    src = r"(?P<k>[a-z]+)=(?P<v>\d+)"
    text = "a=1 bb=22 ccc=x"
    lz, rx = lazyre.lazy(src), re.compile(src)
    assert lz.search(text).groupdict() == rx.search(text).groupdict()  # type: ignore[union-attr]
    assert [m.span() for m in lz.finditer(text)] == [m.span() for m in rx.finditer(text)]
    assert lz.sub("<\\g<k>>", text) == rx.sub("<\\g<k>>", text)
    assert lz.pattern == src and lz.groupindex == rx.groupindex
    b = lazyre.lazy(rb"\n\+([^\n]*)")
    assert b.findall(b"x\n+one\n-two\n+three") == [b"one", b"three"]


def test_methods_are_bound_after_first_use() -> None:
    lz = lazyre.lazy("ab+", re.I)
    assert "search" not in vars(lz)
    assert lz.fullmatch("ABBB")
    assert "search" in vars(lz) and "finditer" in vars(lz)  # later calls skip __getattr__


def test_a_bad_pattern_fails_at_first_use() -> None:
    lz = lazyre.lazy("(unclosed")
    with pytest.raises(re.error):
        lz.search("x")


def _modules() -> list[str]:
    names = []
    for pkg in ("scanner", "remediate", "unleak"):
        mod = importlib.import_module(pkg)
        names += [m.name for m in pkgutil.walk_packages(mod.__path__, pkg + ".")]
    return names


def test_every_lazy_pattern_in_the_packages_compiles() -> None:
    seen = 0
    for name in _modules():
        if name == "unleak.__main__":
            continue
        mod = importlib.import_module(name)
        for value in vars(mod).values():
            if isinstance(value, lazyre._Lazy):
                assert isinstance(value.pattern, str | bytes)  # forces the compile
                seen += 1
    for gate in gates().values():
        for rx in (*gate.on_text, *gate.on_lower, gate.any_text, gate.any_lower):
            assert isinstance(rx.pattern, str)  # forces the compile
            seen += 1
    assert seen >= 50


def test_compile_all_compiles_what_is_pending_before_a_fork() -> None:
    from scanner import lazyre

    rx = lazyre.lazy(r"pending-[0-9]+")
    assert "search" not in vars(rx)  # not compiled yet
    lazyre.compile_all()
    assert "search" in vars(rx) and rx.search("x pending-42").group() == "pending-42"


def test_warming_an_engine_loads_detect_secrets_once_for_every_worker() -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom scanner.engine import Engine, EngineOptions\n"
            "e = Engine(EngineOptions(hyperscan=True))\n"
            "before = 'detect_secrets.core.scan' in sys.modules\ne.warm()\n"
            "print(before, 'detect_secrets.core.scan' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
