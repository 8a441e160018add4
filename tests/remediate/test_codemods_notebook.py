"""Notebooks: code cells rewritten by the Python codemods, outputs kept, other places manual; the file keeps its
layout and validates against the notebook schema (nbformat)."""

from __future__ import annotations

import difflib
import json

import nbformat
import pytest

from remediate.codemods import notebook
from remediate.fix import plan_fix
from remediate.vault import open_vault
from scanner.api import ScanRequest
from tests.conftest import GitRepo
from tests.fakes import stripe_live_key


def _nb(*cells: nbformat.NotebookNode) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    for i, c in enumerate(nb.cells):
        c.id = f"cell{i}"  # stable ids: the expected texts below do not depend on random ones
    return str(nbformat.writes(nb))  # type: ignore[no-untyped-call]


def _code(source: str, *outputs: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source, outputs=list(outputs))  # type: ignore[no-untyped-call]


def _stream(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("stream", text=text)  # type: ignore[no-untyped-call]


def _markdown(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text)  # type: ignore[no-untyped-call]


def _sources(text: str) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(text)["cells"]]


def _changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]


def test_code_cells_rewritten_outputs_and_markdown_kept_as_manual_steps() -> None:
    key = stripe_live_key()
    before = _nb(
        _code(f'import stripe\n%matplotlib inline\n!pip list\nstripe.api_key = "{key}"\nprint(stripe.api_key)',
              _stream(key + "\n")),
        _markdown(f"Our key was `{key}`."),
        _code(f'headers = {{"Authorization": "Bearer {key}"}}  # {key}'),
    )
    outcome = notebook.analyze(before, [key])
    assert outcome.ok
    lines = before.splitlines()
    by_kind = sorted((s.kind, s.hint, s.manual is not None) for s in outcome.sites)
    assert by_kind == [("assign", "api_key", False), ("comment", None, False), ("manual", None, True),
                       ("manual", None, True), ("partial", "token", False)]
    for s in outcome.sites:  # every site at the JSON line the scanner reports: the one holding the value
        assert key in lines[s.line - 1]
    reasons = {s.manual for s in outcome.sites if s.manual}
    assert notebook.OUTPUT_REASON in reasons and any("markdown cell" in r for r in reasons)

    after = notebook.rewrite(before, [key], names={key: "STRIPE_API_KEY"})
    assert after.ok and after.code is not None
    assert _sources(after.code) == [
        'import os\n\nimport stripe\n%matplotlib inline\n!pip list\nstripe.api_key = os.environ["STRIPE_API_KEY"]\n'
        "print(stripe.api_key)",
        f"Our key was `{key}`.",
        'import os\n\nheaders = {"Authorization": f"Bearer {os.environ[\'STRIPE_API_KEY\']}"}  '
        "# <unleak:STRIPE_API_KEY>",
    ]
    doc = json.loads(after.code)
    assert doc["cells"][0]["outputs"] == json.loads(before)["cells"][0]["outputs"]  # outputs kept as they were
    nbformat.validate(nbformat.reads(after.code, as_version=nbformat.NO_CONVERT))  # type: ignore[no-untyped-call]
    # Jupyter's own layout: the file differs only in the rewritten source lines.
    assert all(line.lstrip("+- ").startswith('"') for line in _changed_lines(before, after.code))

    # A second fix finds only the places left by hand, and rewrites nothing.
    again = notebook.analyze(after.code, [key])
    assert {s.kind for s in again.sites} == {"manual"}
    assert notebook.rewrite(after.code, [key], names={key: "STRIPE_API_KEY"}).code == after.code


def test_layout_of_a_notebook_not_written_by_jupyter_is_kept() -> None:
    key = stripe_live_key()
    doc = json.loads(_nb(_code(f'TOKEN = "{key}"\nprint(1)')))
    # Another tool's layout: two-space indent, unsorted keys, the source as one string, no final newline.
    cell = doc["cells"][0]
    doc["cells"][0] = {"source": "".join(cell["source"]), **{k: v for k, v in cell.items() if k != "source"}}
    before = json.dumps(doc, indent=2)
    after = notebook.rewrite(before, [key], names={key: "TOKEN"})
    assert after.code is not None
    assert json.loads(after.code)["cells"][0]["source"] == 'import os\n\nTOKEN = os.environ["TOKEN"]\nprint(1)'
    assert len(_changed_lines(before, after.code)) == 2 and not after.code.endswith("\n")
    nbformat.validate(nbformat.reads(after.code, as_version=nbformat.NO_CONVERT))  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(("source", "reason"), [
    ("%%bash\ncurl -H 'token: {K}' x", "%% cell magic"),
    ("%env API_KEY={K}", "IPython magic"),
    ("x = !curl -u me:{K} x", "IPython magic"),
    ('def broken(:\n    KEY = "{K}"', "code cell 1: not valid Python"),
])
def test_cells_that_are_not_python_are_manual_steps(source: str, reason: str) -> None:
    key = stripe_live_key()
    before = _nb(_code(source.replace("{K}", key)), _code(f'OTHER = "{key}"'))
    sites = notebook.analyze(before, [key]).sites
    assert [s.kind for s in sites] == ["manual", "assign"]
    assert reason in (sites[0].manual or "")
    after = notebook.rewrite(before, [key], names={key: "OTHER"})
    assert after.code is not None
    # The cell that is not Python is left byte-identical; the other one is rewritten.
    assert _sources(after.code) == [source.replace("{K}", key), 'import os\n\nOTHER = os.environ["OTHER"]']


def test_not_a_notebook_is_an_error_not_a_crash() -> None:
    assert "does not parse" in (notebook.analyze("{not json", ["x"]).error or "")
    assert "format 3" in (notebook.analyze('{"worksheets": []}', ["x"]).error or "")
    assert not notebook.rewrite("[]", ["x"], names={"x": "X"}).ok


def test_plan_rewrites_a_notebook_and_lists_its_outputs(repo: GitRepo) -> None:
    key = stripe_live_key()
    repo.write("analysis.ipynb", _nb(_code(f'import stripe\nstripe.api_key = "{key}"', _stream(key))))
    plan, _ = plan_fix(ScanRequest(root=repo.path), open_vault(namespace="nb", repo_path=repo.path))
    assert [(p.path, p.kind) for s in plan.secrets for p in s.places] == [("analysis.ipynb", "assign")]
    change = next(c for c in plan.changes if c.path == "analysis.ipynb")
    assert 'os.environ[\\"' in change.after and change.keeps == {key}
    assert [m.reason.split(":")[0] for m in plan.manual] == ["in a cell's saved output"]
    assert "[REDACTED:" in "".join(plan.redactions().values()) and key not in json.dumps(plan.to_dict())
