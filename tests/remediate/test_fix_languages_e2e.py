"""End to end through the real CLI, beyond Python: a repository with a notebook, a TypeScript file, a JavaScript
program and a GitHub workflow is fixed with ``unleak fix --apply``. Afterwards no value is in any file (grep), the
notebook validates, the TypeScript parses, the JavaScript program and the notebook's code read the same values
under ``unleak run`` (and fail without it), the plan says how to create the workflow's Actions secret, no output
channel shows a value, and a second fix does nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from remediate.codemods import javascript
from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat, password, slack_bot_token, stripe_live_key

pytestmark = pytest.mark.usefixtures("human_runs")

NODE = shutil.which("node")
CHECK_JS = 'const crypto = require("crypto");\nconsole.log(crypto.createHash("sha256").update(SLACK).digest("hex"));\n'
# Runs the notebook's code cells (IPython lines skipped) and prints a digest of the variable the first cell sets.
RUN_NB = ("import hashlib, json, sys\nns = {}\nfor c in json.load(open('explore.ipynb'))['cells']:\n"
          "    if c['cell_type'] == 'code':\n"
          "        exec(''.join(l for l in c['source'] if not l.lstrip().startswith(('%', '!'))), ns)\n"
          "print(hashlib.sha256(ns['STRIPE_SECRET_KEY'].encode()).hexdigest())\n")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _write_repo(repo: GitRepo) -> dict[str, str]:
    values = {"stripe": stripe_live_key(), "slack": slack_bot_token(), "db": password(), "gh": github_pat()}
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f'%load_ext autoreload\nSTRIPE_SECRET_KEY = "{values["stripe"]}"\n'  # type: ignore[no-untyped-call]
                                  "print(len(STRIPE_SECRET_KEY))",
                                  outputs=[nbformat.v4.new_output("stream", text="32\n")]),  # type: ignore[no-untyped-call]
        nbformat.v4.new_markdown_cell("Charges by month."),  # type: ignore[no-untyped-call]
    ]
    repo.write("explore.ipynb", nbformat.writes(nb))  # type: ignore[no-untyped-call]
    repo.write("src/pay.ts", 'import Stripe from "stripe";\n\n'
               f'export const stripe = new Stripe("{values["stripe"]}", {{ apiVersion: "2024-06-20" }});\n')
    repo.write("bot.js", f'const SLACK = "{values["slack"]}"; // the bot\n{CHECK_JS}')
    repo.write(".github/workflows/ci.yml",
               "name: ci\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    env:\n"
               f"      DB_PASSWORD: {values['db']}  # staging\n    steps:\n      - uses: actions/checkout@v4\n"
               f"        with:\n          token: '{values['gh']}'\n      - run: npm test\n")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "app")
    return values


def _grep(root: Path, values: list[str]) -> str:
    patterns = root.parent / "planted.txt"
    patterns.write_text("\n".join(values) + "\n")
    out = subprocess.run(["grep", "-rlF", "--exclude-dir=.git", "-f", str(patterns), "."], cwd=root,
                         capture_output=True, text=True)
    patterns.unlink()
    return out.stdout


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def _run(repo: GitRepo, *cmd: str, under_unleak: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SLACK_TOKEN", "STRIPE_SECRET_KEY")}
    prefix = [sys.executable, "-m", "unleak", "run", "--"] if under_unleak else []
    return subprocess.run([*prefix, *cmd], cwd=repo.path, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow
def test_fix_notebook_typescript_javascript_and_workflow(repo: GitRepo) -> None:
    values = _write_repo(repo)
    planted = list(values.values())
    assert sorted(_grep(repo.path, planted).split()) == ["./.github/workflows/ci.yml", "./bot.js",
                                                          "./explore.ipynb", "./src/pay.ts"]
    nb_before = _run(repo, sys.executable, "-c", RUN_NB, under_unleak=False)
    assert nb_before.stdout.split()[-1] == _digest(values["stripe"]), nb_before.stderr

    review = run_cli("fix", cwd=repo.path)
    assert review.returncode == 1, review.stderr
    for path in ("explore.ipynb", "src/pay.ts", "bot.js", ".github/workflows/ci.yml"):
        assert f"--- a/{path}" in review.stdout
    assert "[REDACTED:" in review.stdout
    assert "gh secret set DB_PASSWORD" in review.stdout
    as_json = run_cli("fix", "--json", cwd=repo.path)
    assert json.loads(as_json.stdout)["applied"] is False

    applied = run_cli("fix", "--apply", cwd=repo.path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for channel in (review.stdout, review.stderr, as_json.stdout, as_json.stderr, applied.stdout, applied.stderr):
        assert all(v not in channel for v in planted), "a value reached an output channel"

    # Every value left every file.
    assert _grep(repo.path, planted) == ""
    pay = (repo.path / "src/pay.ts").read_text()
    assert "new Stripe(process.env.STRIPE_SECRET_KEY!," in pay
    parser = javascript._parser(".ts")
    assert parser is not None and not parser.parse(pay.encode()).root_node.has_error
    flow = (repo.path / ".github/workflows/ci.yml").read_text()
    assert "DB_PASSWORD: ${{ secrets.DB_PASSWORD }}  # staging" in flow and "token: '${{ secrets." in flow
    nb_after = (repo.path / "explore.ipynb").read_text()
    nbformat.validate(nbformat.reads(nb_after, as_version=nbformat.NO_CONVERT))  # type: ignore[no-untyped-call]
    assert json.loads(nb_after)["cells"][0]["outputs"][0]["text"] == ["32\n"]

    # The code reads the same values under `unleak run`, and fails without them.
    nb_run = _run(repo, sys.executable, "-c", RUN_NB, under_unleak=True)
    assert nb_run.stdout.split()[-1] == _digest(values["stripe"]), nb_run.stderr
    assert _run(repo, sys.executable, "-c", RUN_NB, under_unleak=False).returncode != 0
    if NODE:  # Node.js is on the project's machines; a runner without it still checks everything above
        js_run = _run(repo, NODE, "bot.js", under_unleak=True)
        assert js_run.stdout.split()[-1] == _digest(values["slack"]), js_run.stderr
        assert _run(repo, NODE, "bot.js", under_unleak=False).returncode != 0

    # The plan's step creates the Actions secret from the vault: the value reaches `gh` on stdin, not in argv.
    # `gh` here is a FAKE (GitHub cannot be reached from the tests) that records its argv and a digest of stdin.
    fake_bin = repo.path.parent / "fake-gh-bin"
    fake_bin.mkdir()
    record = repo.path.parent / "gh-record.txt"
    (fake_bin / "gh").write_text(f'#!/bin/sh\necho "$@" > {record}\nsha256sum >> {record}\n')
    (fake_bin / "gh").chmod(0o755)
    step = next(line for line in applied.stdout.splitlines() if "gh secret set DB_PASSWORD" in line)
    command = step.split("without showing it: ", 1)[1]
    assert command.startswith("unleak run -- sh -c ")
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    gh = subprocess.run([sys.executable, "-m", "unleak", "run", "--", "sh", "-c",
                         command.split("sh -c ", 1)[1].strip("'")], cwd=repo.path, env=env, capture_output=True,
                        text=True, timeout=60)
    assert gh.returncode == 0, gh.stderr
    argv, digest = record.read_text().splitlines()
    assert argv == "secret set DB_PASSWORD" and digest.split()[0] == _digest(values["db"])

    # A second fix does nothing.
    tree = _tree(repo.path)
    again = run_cli("fix", cwd=repo.path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout == "" and "nothing to fix" in again.stderr
    assert _tree(repo.path) == tree
