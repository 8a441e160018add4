"""The remediation bot (`remediate: commit | pull-request`) run as the runner runs the composite action: its steps
under bash with GITHUB_* variables and an event file, a checkout made the way actions/checkout makes it, a bare
"GitHub" repository to push to, and a FAKE of the REST endpoints (tests/fakes_github.py). The values
arrive sealed — the test opens them with the private key — and appear in no other request, log, summary, commit or
pull-request body; forks and missing tokens fall back; re-runs change nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import openai_key, stripe_live_key
from tests.fakes_github import GITHUB_TOKEN, SECRETS_TOKEN, FakeGitHub, closed_port_url, serve
from tests.integrations.test_action_events import ROOT, checkout, git
from tests.unleak.action_runner import run_action

pytest.importorskip("nacl.public")
pytestmark = pytest.mark.slow

REPOSITORY = "octo/shop"
PR = 7
CI = ".github/workflows/ci.yml"
CI_WORKFLOW = """name: ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"  # kept as written
      - run: pip install -e .
      - name: Tests
        run: |
          python -m pytest -q

  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: ruff check .
"""
# What GitHub answers when a token without the Workflows permission (GITHUB_TOKEN, always) pushes a workflow change.
REFUSE_WORKFLOWS = """#!/bin/sh
while read old new ref; do
  for c in $(git rev-list "$new" --not --all); do
    if git diff-tree --no-commit-id --name-only -r "$c" | grep -q '^[.]github/workflows/'; then
      echo "refusing to allow a GitHub App to create or update workflow without workflows permission" >&2
      exit 1
    fi
  done
done
"""


@dataclass
class Hub:
    """The repository on "GitHub" (a bare repository) and what the tests planted in it."""

    path: Path
    url: str
    main: str
    head: str  # the pull request's head (feature)
    merge: str  # refs/pull/7/merge
    stripe: str
    openai: str

    @property
    def values(self) -> list[str]:
        return [self.stripe, self.openai]


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return make_hub(tmp_path)


def make_hub(tmp_path: Path) -> Hub:
    """A repository on "GitHub": main with a CI workflow, a pull request (7) whose branch adds two secrets."""
    stripe, oai = stripe_live_key(), openai_key()
    work = tmp_path / "src"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")

    def commit(msg: str, files: dict[str, str]) -> str:
        for rel, text in files.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text)
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", msg)
        return git(work, "rev-parse", "HEAD")

    main = commit("init", {"README.md": "shop\n", "app/__init__.py": "",
                           "app/main.py": "def main() -> None:\n    print('hi')\n", CI: CI_WORKFLOW})
    git(work, "checkout", "-q", "-b", "feature")
    head = commit("payments", {"app/payments.py": (
        "import stripe\n\n"
        f'stripe.api_key = "{stripe}"\n'
        f'OPENAI_API_KEY = "{oai}"\n\n\n'
        "def charge(amount: int) -> dict:\n    return {\"amount\": amount}\n")})
    git(work, "checkout", "-q", "--detach", main)
    git(work, "merge", "-q", "--no-ff", "-m", "Merge feature", head)
    merge = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "main")
    bare = tmp_path / "hub" / "shop.git"
    bare.parent.mkdir()
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    git(bare, "update-ref", f"refs/pull/{PR}/merge", merge)
    git(bare, "update-ref", f"refs/pull/{PR}/head", head)
    return Hub(bare, bare.as_uri(), main, head, merge, stripe, oai)


@pytest.fixture
def api(hub: Hub) -> Iterator[FakeGitHub]:
    with serve(FakeGitHub(REPOSITORY, pr_number=PR, head=hub.head)) as state:
        yield state


def _repo_doc() -> dict[str, Any]:
    return {"full_name": REPOSITORY, "name": "shop", "default_branch": "main", "owner": {"login": "octo"}}


def pr_event(h: Hub, fork: bool = False) -> tuple[str, str, str, dict[str, Any]]:
    head_repo = {"full_name": "mallory/shop" if fork else REPOSITORY}
    pr = {"number": PR, "state": "open", "base": {"ref": "main", "sha": h.main, "repo": {"full_name": REPOSITORY}},
          "head": {"ref": "feature", "sha": h.head, "repo": head_repo}}
    return "pull_request", f"refs/pull/{PR}/merge", h.merge, {"action": "synchronize", "number": PR,
                                                              "pull_request": pr, "repository": _repo_doc()}


def push_event(h: Hub, sha: str) -> tuple[str, str, str, dict[str, Any]]:
    return "push", "refs/heads/main", sha, {"ref": "refs/heads/main", "before": h.main, "after": sha,
                                            "created": False, "forced": False, "commits": [{"id": sha}],
                                            "repository": _repo_doc()}


@dataclass
class Run:
    stdout: str
    stderr: str
    summary: str
    returncode: int


def run(h: Hub, ev: tuple[str, str, str, dict[str, Any]], tmp: Path, api: FakeGitHub, **inputs: str) -> Run:
    name, ref, sha, payload = ev
    tmp.mkdir(parents=True)
    workspace = checkout(h, tmp / "work" / "shop", ref, sha, 0)  # type: ignore[arg-type]
    runner = tmp / "runner"
    runner.mkdir()
    (runner / "event.json").write_text(json.dumps(payload))
    (runner / "summary.md").write_text("")
    env = {
        "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": name,
        "GITHUB_EVENT_PATH": str(runner / "event.json"), "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_ACTION_PATH": str(ROOT), "GITHUB_STEP_SUMMARY": str(runner / "summary.md"),
        "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_API_URL": api.url, "GITHUB_SHA": sha, "GITHUB_REF": ref,
        "RUNNER_TEMP": str(runner), "UNLEAK_ACTION_SKIP_INSTALL": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    github = {"token": GITHUB_TOKEN, "workspace": str(workspace), "action_path": str(ROOT), "event_name": name,
              "ref": ref, "sha": sha}
    res = run_action(ROOT, with_=inputs, env=env, github=github)
    return Run(res.stdout, res.stderr, (runner / "summary.md").read_text(), res.returncode)


def _no_values(h: Hub, api: FakeGitHub, *texts: str) -> None:
    traffic = api.unsealed_traffic()
    for v in h.values:
        assert v not in traffic
        for t in texts:
            assert v not in t


def _steps_env(h: Hub, rev: str) -> dict[str, dict[str, str]]:
    """Each step's env in the workflow at ``rev``, by job and step."""
    import yaml

    doc = yaml.safe_load(git(h.path, "show", f"{rev}:{CI}"))
    return {f"{job}/{i}": step["env"] for job, body in doc["jobs"].items()
            for i, step in enumerate(body["steps"]) if "env" in step}


def _refuse_workflow_pushes(h: Hub) -> None:
    hook = h.path / "hooks" / "pre-receive"
    hook.write_text(REFUSE_WORKFLOWS)
    hook.chmod(0o755)


def _tree_text(h: Hub, rev: str) -> str:
    files = git(h.path, "ls-tree", "-r", "--name-only", rev).splitlines()
    return "\n".join(git(h.path, "show", f"{rev}:{f}") for f in files)


def test_commit_mode_moves_the_values_and_pushes_the_fix(hub: Hub, api: FakeGitHub, tmp_path: Path) -> None:
    r = run(hub, pr_event(hub), tmp_path / "1", api, remediate="commit", **{"secrets-token": SECRETS_TOKEN})
    assert r.returncode == 1  # the scan's findings still fail the check: the values are in the branch's history
    assert "Traceback" not in r.stderr
    # The values are in the repository's Actions secrets, sealed to its key.
    assert sorted(api.opened(n) for n in api.stored) == sorted(hub.values), sorted(api.stored)
    # The fix is on the pull request's branch, as the Actions bot, on top of the head.
    tip = git(hub.path, "rev-parse", "refs/heads/feature")
    assert tip != hub.head and git(hub.path, "rev-parse", f"{tip}~2") == hub.head
    assert git(hub.path, "log", "-2", "--format=%an <%ae>", tip).splitlines() == \
        ["github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"] * 2
    # The code commit, then the workflow commit: only the step that runs the code receives the secrets.
    assert git(hub.path, "diff", "--name-only", f"{tip}^", tip) == CI
    assert _steps_env(hub, tip) == {"test/3": {n: f"${{{{ secrets.{n} }}}}" for n in sorted(api.stored)}}
    assert '"3.12"  # kept as written' in git(hub.path, "show", f"{tip}:{CI}")
    code = git(hub.path, "show", f"{tip}:app/payments.py")
    assert "os.environ" in code and all(v not in _tree_text(hub, tip) for v in hub.values)
    for name in api.stored:
        assert name in code
    assert re.search(r"^::notice title=unleak::remediate: moved .* pushed [0-9a-f]{10} to feature; 1 workflow step "
                     r"now receives them", r.stdout, re.M)
    _no_values(hub, api, r.stdout, r.stderr, r.summary, git(hub.path, "log", "-2", "--format=%B", tip))
    assert api.errors == []
    # The same event again (a re-run): the branch moved on, so nothing is stored or pushed twice.
    writes = api.writes()
    again = run(hub, pr_event(hub), tmp_path / "2", api, remediate="commit", **{"secrets-token": SECRETS_TOKEN})
    assert "has moved on since this event" in again.stdout
    assert api.writes() == writes and git(hub.path, "rev-parse", "refs/heads/feature") == tip


def test_a_fork_gets_suggestions_and_nothing_is_moved(hub: Hub, api: FakeGitHub, tmp_path: Path) -> None:
    r = run(hub, pr_event(hub, fork=True), tmp_path / "1", api, remediate="commit",
            **{"secrets-token": SECRETS_TOKEN})
    assert "comes from a fork" in r.stdout
    assert api.stored == {} and git(hub.path, "rev-parse", "refs/heads/feature") == hub.head
    assert len(api.reviews) == 1 and api.errors == []  # the suggestions instead
    _no_values(hub, api, r.stdout, r.stderr, r.summary, json.dumps(api.reviews))


def test_without_a_secrets_token_nothing_is_moved_and_it_says_why(hub: Hub, api: FakeGitHub,
                                                                   tmp_path: Path) -> None:
    r = run(hub, pr_event(hub), tmp_path / "1", api, remediate="commit")
    assert re.search(r"^::warning title=unleak::remediate: no secrets-token input.*GITHUB_TOKEN cannot", r.stdout,
                     re.M)
    assert api.stored == {} and git(hub.path, "rev-parse", "refs/heads/feature") == hub.head
    assert not [q for q in api.requests if "/actions/secrets" in q["path"]]


def test_pull_request_mode_opens_one_remediation_pull_request(hub: Hub, api: FakeGitHub, tmp_path: Path) -> None:
    git(hub.path, "update-ref", "refs/heads/main", hub.merge)  # the feature was merged: main holds the values
    ev = push_event(hub, hub.merge)
    r = run(hub, ev, tmp_path / "1", api, remediate="pull-request", **{"secrets-token": SECRETS_TOKEN})
    assert "Traceback" not in r.stderr
    branch = f"unleak/fix-{hub.merge[:12]}"
    assert sorted(api.opened(n) for n in api.stored) == sorted(hub.values)
    fix = git(hub.path, "rev-parse", f"refs/heads/{branch}")
    assert git(hub.path, "rev-parse", f"{fix}~2") == hub.merge
    assert _steps_env(hub, fix) == {"test/3": {n: f"${{{{ secrets.{n} }}}}" for n in sorted(api.stored)}}
    assert all(v not in _tree_text(hub, fix) for v in hub.values)
    assert git(hub.path, "rev-parse", "refs/heads/main") == hub.merge  # main itself is never written
    [pr] = api.pulls
    assert (pr["head"]["ref"], pr["base"]["ref"]) == (branch, "main")
    body = pr["body"]
    assert "### Rotate first" in body and hub.head[:10] in body  # the commit that introduced the values
    assert "`refs/heads/main`" in body or "`main`" in body
    assert "dashboard.stripe.com" in body or "stripe" in body.lower()  # where to revoke
    assert f"- `{CI}` job `test`, step `Tests`: " in body and "now receive the secrets" in body
    assert "```diff" in body and "os.environ" in body
    assert f"opened pull request #{pr['number']}" in r.stdout
    _no_values(hub, api, r.stdout, r.stderr, r.summary, body, git(hub.path, "log", "-1", "--format=%B", fix))
    assert api.errors == []
    # Again on the same push: the open pull request is found, nothing is written.
    writes = api.writes()
    again = run(hub, ev, tmp_path / "2", api, remediate="pull-request", **{"secrets-token": SECRETS_TOKEN})
    assert "exists already" in again.stdout and api.writes() == writes and len(api.pulls) == 1


def test_a_human_edit_on_the_bots_branch_is_never_overwritten(hub: Hub, api: FakeGitHub, tmp_path: Path) -> None:
    git(hub.path, "update-ref", "refs/heads/main", hub.merge)
    ev = push_event(hub, hub.merge)
    run(hub, ev, tmp_path / "1", api, remediate="pull-request", **{"secrets-token": SECRETS_TOKEN})
    branch = f"unleak/fix-{hub.merge[:12]}"
    # A person pushes to the bot's branch, and the pull request is closed meanwhile.
    clone = tmp_path / "human"
    git(tmp_path, "clone", "-q", "-b", branch, hub.url, str(clone))
    (clone / "NOTES.md").write_text("reviewed\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "human edit")
    git(clone, "push", "-q", "origin", branch)
    human = git(clone, "rev-parse", "HEAD")
    api.pulls[0]["state"] = "closed"
    writes = api.writes()
    again = run(hub, ev, tmp_path / "2", api, remediate="pull-request", **{"secrets-token": SECRETS_TOKEN})
    assert "exists already" in again.stdout
    assert git(hub.path, "rev-parse", f"refs/heads/{branch}") == human and api.writes() == writes


def test_modes_outside_their_events_do_nothing(hub: Hub, api: FakeGitHub, tmp_path: Path) -> None:
    r = run(hub, pr_event(hub), tmp_path / "1", api, remediate="pull-request", **{"secrets-token": SECRETS_TOKEN})
    assert "pull-request works on pushes to the default branch" in r.stdout
    r2 = run(hub, push_event(hub, hub.main), tmp_path / "2", api, remediate="commit",
             **{"secrets-token": SECRETS_TOKEN})
    assert "commit works on pull request events" in r2.stdout
    assert api.writes() == []
    bad = run(hub, pr_event(hub), tmp_path / "3", api, remediate="yes-please")
    assert bad.returncode == 2 and "input remediate" in bad.stdout + bad.stderr


def test_subprocess_git_never_sees_the_secrets_token(hub: Hub, api: FakeGitHub, tmp_path: Path) -> None:
    """The token goes in an HTTP header only: not in git's config, the remote URL or the bot's commit."""
    run(hub, pr_event(hub), tmp_path / "1", api, remediate="commit", **{"secrets-token": SECRETS_TOKEN})
    ws = tmp_path / "1" / "work" / "shop"
    cfg = subprocess.run(["git", "config", "--list", "--show-origin"], cwd=ws, capture_output=True, text=True,
                         check=False).stdout
    assert SECRETS_TOKEN not in cfg
    assert SECRETS_TOKEN not in git(hub.path, "log", "--all", "--format=%B%n%an%ae")


def test_readme_bot_workflows_use_declared_inputs() -> None:
    import yaml

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### The bot"):readme.index("## Agent hooks")]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    declared = set(yaml.safe_load((ROOT / "action.yml").read_text())["inputs"])
    modes = set()
    for block in blocks:
        doc = yaml.safe_load(block)
        step = doc["jobs"]["unleak"]["steps"][-1]
        assert set(step["with"]) <= declared
        modes.add(step["with"]["remediate"])
        assert "contents" in doc["permissions"]
    assert modes == {"commit", "pull-request"}


def test_a_failing_api_costs_a_warning_not_the_results(hub: Hub, tmp_path: Path) -> None:
    down = FakeGitHub(REPOSITORY, url=closed_port_url())
    r = run(hub, pr_event(hub), tmp_path / "1", down, remediate="commit", **{"secrets-token": SECRETS_TOKEN})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert re.search(r"^::warning title=unleak::remediate: .*unreachable.*the scan's results above are complete",
                     r.stdout, re.M), r.stdout[-800:]
    assert len(re.findall(r"^::error file=", r.stdout, re.M)) == 2  # both findings still annotated
    assert git(hub.path, "rev-parse", "refs/heads/feature") == hub.head
    _no_values(hub, down, r.stdout, r.stderr, r.summary)


def test_a_token_without_the_workflows_permission_gets_the_code_fix_and_the_steps_to_add(
        hub: Hub, api: FakeGitHub, tmp_path: Path) -> None:
    _refuse_workflow_pushes(hub)
    r = run(hub, pr_event(hub), tmp_path / "1", api, remediate="commit", **{"secrets-token": SECRETS_TOKEN})
    assert "Traceback" not in r.stderr
    tip = git(hub.path, "rev-parse", "refs/heads/feature")
    assert git(hub.path, "rev-parse", f"{tip}^") == hub.head  # the code commit alone
    assert "os.environ" in git(hub.path, "show", f"{tip}:app/payments.py")
    assert _steps_env(hub, tip) == {}
    assert re.search(r"^::warning title=unleak::remediate: moved .* pushed [0-9a-f]{10} to feature; the workflow "
                     r"edits were refused .*Workflows permission", r.stdout, re.M), r.stdout[-1500:]
    _no_values(hub, api, r.stdout, r.stderr, r.summary)

    # The same on a push to main: the pull request says which steps to give which env.
    git(hub.path, "update-ref", "refs/heads/main", hub.merge)
    r = run(hub, push_event(hub, hub.merge), tmp_path / "2", api, remediate="pull-request",
            **{"secrets-token": SECRETS_TOKEN})
    [pr] = api.pulls
    fix = git(hub.path, "rev-parse", f"refs/heads/{pr['head']['ref']}")
    assert git(hub.path, "rev-parse", f"{fix}^") == hub.merge and _steps_env(hub, fix) == {}
    body = pr["body"]
    assert "GitHub refused the workflow edits" in body and f"- `{CI}` job `test`, step `Tests`: " in body
    moved = re.search(r"moving ([A-Z0-9_, ]+);", r.stdout)
    assert moved, r.stdout[-1500:]
    for name in moved.group(1).split(", "):
        assert f"  {name}: ${{{{ secrets.{name} }}}}" in body
    _no_values(hub, api, r.stdout, r.stderr, r.summary, body)
