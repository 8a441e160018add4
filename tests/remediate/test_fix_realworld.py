"""End to end on real-world projects (bench/realworld): `unleak fix --apply` through the real CLI, then the app's own
tests. A sample of the bench's projects, chosen for their shapes: module constants with a function default and a
class attribute, a pydantic-settings class, and a Jupyter notebook (the full table: `python bench/fix_realworld.py`).

Per project: the app's tests pass as written; the scanner finds every generated value; after the fix no value is
left in any file in any form (raw, escaped, base64, URL-encoded) except on lines the plan lists as manual steps;
the tests fail without `unleak run` and pass under it, reading exactly the values they read before (by digest); a
second fix changes nothing; and no value reaches unleak's own output.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO_ROOT

PROJECTS = ("module_constants", "pydantic_settings", "notebook")


def _bench() -> ModuleType:
    path = REPO_ROOT / "bench" / "fix_realworld.py"
    spec = importlib.util.spec_from_file_location("fix_realworld", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fix_realworld"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_fix_realworld_projects(tmp_path: Path) -> None:
    bench = _bench()
    runner = bench.Bench(tmp_path)
    gens = bench.generators()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda name: bench.measure(runner, name, gens), PROJECTS))
    report = bench.table(results) + "\n" + bench.details(results)
    for r in results:
        assert r.error == "", report
        assert r.secrets > 0 and r.tests_before, report
        assert r.detected == r.secrets and r.planned > 0 and r.applied, report
        assert r.left == 0, report
        assert r.fails_without_run and r.passes_under_run, report
        assert r.second_fix_noop, report
        assert r.leaked_to_output == 0, report
        assert all(r.names.values()), report
