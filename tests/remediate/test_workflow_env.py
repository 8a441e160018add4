"""Wiring moved secrets into workflows: `env:` on exactly the `run:` steps that run the code, layout kept."""

from __future__ import annotations

import difflib

import yaml

from remediate.codemods.workflow_env import runs_code, wire

EXPR = {"STRIPE_KEY": "${{ secrets.STRIPE_KEY }}"}
CODE = ["app/payments.py"]


def _envs(text: str) -> dict[str, dict[str, str]]:
    doc = yaml.safe_load(text)
    return {f"{job}/{i}": step.get("env") for job, body in doc["jobs"].items()
            for i, step in enumerate(body.get("steps", [])) if step.get("env")}


WORKFLOW = """\
name: ci   # the pipeline
on: push
env:
  LEVEL: 1
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.12"}
      - run: python -m pip install -r requirements.txt
      - name: Unit tests
        run: |
          pytest -q tests/

      # deploy
      - name: Deploy
        env:
          REGION: eu   # keep me
        run: python -m app.payments --deploy
      - run: echo done
      - uses: some/action@v1
  docs:
    runs-on: ubuntu-latest
    steps:
      - run: make docs
"""


def test_only_the_steps_that_run_the_code_get_the_secret_and_everything_else_reads_the_same() -> None:
    w = wire(WORKFLOW, EXPR, CODE)
    assert w.text is not None and w.manual == []
    assert _envs(w.text) == {"test/3": EXPR, "test/4": {"REGION": "eu", **EXPR}}
    assert [x.split(":")[0] for x in w.wired] == ["job `test`, step `Unit tests`", "job `test`, step `Deploy`"]
    # Comments and layout stay; nothing but the new lines is added.
    diff = difflib.ndiff(WORKFLOW.splitlines(), w.text.splitlines())
    entry = "          STRIPE_KEY: ${{ secrets.STRIPE_KEY }}"
    assert [ln[2:] for ln in diff if ln[:1] in "+-"] == ["        env:", entry, entry]
    assert "# keep me" in w.text and "# the pipeline" in w.text and "# deploy" in w.text
    assert wire(w.text, EXPR, CODE).text is None  # a second run changes nothing


def test_a_name_set_above_the_step_is_left_alone() -> None:
    assert wire(WORKFLOW, {"LEVEL": "${{ secrets.LEVEL }}"}, CODE).wired == []
    job_level = WORKFLOW.replace("  test:\n    runs-on: ubuntu-latest\n",
                                 "  test:\n    runs-on: ubuntu-latest\n    env:\n      STRIPE_KEY: x\n")
    assert wire(job_level, EXPR, CODE).wired == []


def test_no_checkout_no_step_and_bad_yaml_change_nothing() -> None:
    no_checkout = "jobs:\n  t:\n    steps:\n      - run: pytest\n"
    assert wire(no_checkout, EXPR, CODE).text is None
    assert wire("jobs: [unclosed", EXPR, CODE).text is None
    assert wire(WORKFLOW, {}, CODE).text is None


def test_what_cannot_be_edited_safely_is_reported_not_edited() -> None:
    text = ("jobs:\n  t:\n    steps:\n      - uses: actions/checkout@v4\n      - {name: flow, run: pytest}\n"
            "      - name: expr\n        env: ${{ fromJSON(vars.ENV) }}\n        run: pytest\n")
    w = wire(text, EXPR, CODE)
    assert w.text is None and len(w.manual) == 2
    assert "flow style" in w.manual[0] and "not a block mapping" in w.manual[1]


def test_a_kept_trailing_blank_line_stays_part_of_its_script() -> None:
    text = ("jobs:\n  t:\n    steps:\n      - uses: actions/checkout@v4\n      - run: |+\n          pytest\n\n"
            "      - run: |\n          pytest\n\n      - run: echo end\n")
    w = wire(text, EXPR, CODE)
    assert w.text is not None
    before = yaml.safe_load(text)["jobs"]["t"]["steps"]
    after = yaml.safe_load(w.text)["jobs"]["t"]["steps"]
    assert [s.get("run") for s in after] == [s.get("run") for s in before]
    assert [s.get("env") for s in after] == [None, EXPR, EXPR, None]


def test_which_commands_run_code() -> None:
    hints = {"app/payments.py", "payments.py", "app.payments", "app"}
    runs = ["pytest -q", "python -m app.payments", "npm test", "make test", "./scripts/deploy.sh", "go test ./...",
            "cd app && python worker.py", "poetry run celery -A app worker"]
    setup = ["pip install -e .", "npm ci", "echo hi", "git fetch --tags", "python -m pip install -U pip",
             "poetry install", "ruff check .", "mkdir -p out"]
    assert [c for c in runs if not runs_code(c, hints)] == []
    assert [c for c in setup if runs_code(c, hints)] == []
