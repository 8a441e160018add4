"""The GitHub Action as the runner runs it, for every event it serves, on checkouts made the way actions/checkout
makes them (``fetch-depth: 0``, and the default ``fetch-depth: 1``: one commit, fetched by id from a local origin
over file://, so deepening works offline), with the review API up, down, or not asked.

Each case asserts what a workflow consumes: the step outputs, the annotations, the SARIF file (valid against the
OASIS schema, in the right category, locations on lines that hold the value in the analysed commit) and the job
summary, and that no channel carries a secret value.
"""

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

from tests.conftest import GIT_ENV
from tests.fakes import stripe_live_key
from tests.fakes_github import GITHUB_TOKEN, FakeGitHub, closed_port_url, serve
from tests.unleak.action_runner import ActionRun, run_action

ROOT = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = ROOT / "tests" / "data" / "schemas" / "sarif-schema-2.1.0.json"  # OASIS SARIF 2.1.0
REPOSITORY = "octo/shop"
PR_NUMBER = 7


def git(cwd: Path, *args: str) -> str:
    p = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True,
                       check=False)
    assert p.returncode == 0, f"git {' '.join(args)}: {p.stderr}"
    return p.stdout.strip()


@dataclass
class Origin:
    """The repository on "GitHub": main moved on after feature branched; feature adds a GitHub token, removes it,
    then adds a Stripe key that is still at its tip. refs/pull/7/merge is the merge GitHub prepares for the pull
    request; gh-readonly-queue/… is a merge queue's commit; refs/keep/old keeps the tip a force-push replaced."""

    path: Path
    url: str
    root: str  # first commit
    main: str  # main's tip (the pull request's base)
    f0: str  # feature: a harmless first commit
    added: str  # adds the token
    removed: str  # removes it
    head: str  # adds the Stripe key
    old_tip: str  # a tip the force-push replaced
    merge: str  # refs/pull/7/merge
    queue: str  # the merge queue's commit
    queue_ref: str
    token: str
    stripe: str

    @property
    def secrets(self) -> list[str]:
        return [self.token, self.stripe]


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    from tests.fakes import github_pat

    token, stripe = github_pat(), stripe_live_key()
    path = tmp_path_factory.mktemp("origin") / "shop"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")

    def commit(msg: str, files: dict[str, str]) -> str:
        for rel, text in files.items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_text(text)
        git(path, "add", "-A")
        git(path, "commit", "-q", "--allow-empty", "-m", msg)
        return git(path, "rev-parse", "HEAD")

    root = commit("init", {"README.md": "shop\n", "app/__init__.py": "",
                           "app/main.py": "def main() -> None:\n    print('hi')\n"})
    for i in range(60):  # history below the branch point deeper than the first deepening step (50)
        commit(f"docs {i}", {"docs/notes.md": f"note {i}\n"})
    git(path, "checkout", "-q", "-b", "feature")
    f0 = commit("feature: start", {"app/feature.py": "ENABLED = True\n"})
    git(path, "checkout", "-q", "-b", "old")
    old_tip = commit("feature: an attempt later force-pushed away", {"app/feature.py": "ENABLED = False\n"})
    git(path, "checkout", "-q", "feature")
    added = commit("add config", {"app/config.py": f'GITHUB_TOKEN = "{token}"\n'})
    removed = commit("oops, remove token",
                     {"app/config.py": 'import os\n\nGITHUB_TOKEN = os.environ["GITHUB_TOKEN"]\n'})
    head = commit("settings", {"app/settings.py": f'DEBUG = False\nSTRIPE_KEY = "{stripe}"\nTIMEOUT = 30\n'})
    git(path, "checkout", "-q", "main")
    main = commit("main moves on", {"docs/changelog.md": "0.2\n"})
    # The merge commit GitHub prepares for the pull request (and the merge queue's one): base first, head second.
    git(path, "checkout", "-q", "--detach", main)
    git(path, "merge", "-q", "--no-ff", "-m", "Merge feature into main", head)
    merge = git(path, "rev-parse", "HEAD")
    git(path, "update-ref", f"refs/pull/{PR_NUMBER}/merge", merge)
    git(path, "update-ref", f"refs/pull/{PR_NUMBER}/head", head)
    git(path, "commit", "-q", "--amend", "-m", "Merge pull request #7 (merge queue)")
    queue = git(path, "rev-parse", "HEAD")
    queue_ref = f"refs/heads/gh-readonly-queue/main/pr-{PR_NUMBER}-{main}"
    git(path, "update-ref", queue_ref, queue)
    git(path, "update-ref", "refs/keep/old", old_tip)
    git(path, "branch", "-q", "-D", "old")
    git(path, "checkout", "-q", "main")
    return Origin(path, path.as_uri(), root, main, f0, added, removed, head, old_tip, merge, queue, queue_ref,
                  token, stripe)


# ------------------------------------------------------------------------------------------------ checkout


def checkout(origin: Origin, dest: Path, ref: str, sha: str, depth: int) -> Path:
    """What actions/checkout@v4 runs: a fresh repository, origin added (its default refspec configured), one
    fetch, a checkout of the event's commit. depth 0 fetches every branch and tag first."""
    dest.mkdir(parents=True)
    git(dest, "init", "-q")
    git(dest, "remote", "add", "origin", origin.url)
    if ref.startswith("refs/pull/"):
        local = "refs/remotes/pull/" + ref.removeprefix("refs/pull/")
    else:
        local = "refs/remotes/origin/" + ref.removeprefix("refs/heads/")
    if depth == 0:
        git(dest, "fetch", "-q", "--prune", "--no-recurse-submodules", "origin",
            "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
        git(dest, "fetch", "-q", "--no-recurse-submodules", "origin", f"+{sha}:{local}")
    else:
        git(dest, "fetch", "-q", "--no-tags", "--prune", "--no-recurse-submodules", f"--depth={depth}", "origin",
            f"+{sha}:{local}")
    if ref.startswith("refs/heads/"):
        git(dest, "checkout", "-q", "--force", "-B", ref.removeprefix("refs/heads/"), local)
    else:
        git(dest, "checkout", "-q", "--detach", local)
    assert git(dest, "rev-parse", "HEAD") == sha
    return dest


# -------------------------------------------------------------------------------------------------- events


@dataclass
class Event:
    name: str  # GITHUB_EVENT_NAME
    ref: str  # GITHUB_REF
    sha: str  # GITHUB_SHA: the commit actions/checkout checks out
    payload: dict[str, Any]
    findings: int
    category: str
    label: str
    pr: bool = False


def _repo_doc() -> dict[str, Any]:
    return {"full_name": REPOSITORY, "name": "shop", "default_branch": "main", "owner": {"login": "octo"}}


def event(kind: str, o: Origin) -> Event:
    if kind == "pull_request":
        pr = {"number": PR_NUMBER, "state": "open", "commits": 4,
              "base": {"ref": "main", "sha": o.main}, "head": {"ref": "feature", "sha": o.head}}
        return Event("pull_request", f"refs/pull/{PR_NUMBER}/merge", o.merge,
                     {"action": "synchronize", "number": PR_NUMBER, "pull_request": pr, "repository": _repo_doc()},
                     2, "unleak/pull-request/", f"pull request #{PR_NUMBER}", pr=True)
    commits = [{"id": c} for c in (o.added, o.removed, o.head)]
    if kind == "push":
        return Event("push", "refs/heads/feature", o.head,
                     {"ref": "refs/heads/feature", "before": o.f0, "after": o.head, "created": False,
                      "forced": False, "commits": commits, "repository": _repo_doc()},
                     2, "unleak/push/", "push to refs/heads/feature")
    if kind == "force-push":
        return Event("push", "refs/heads/feature", o.head,
                     {"ref": "refs/heads/feature", "before": o.old_tip, "after": o.head, "created": False,
                      "forced": True, "commits": commits, "repository": _repo_doc()},
                     2, "unleak/push/", "push to refs/heads/feature")
    if kind == "force-push-gone":  # the replaced tip is not on the server any more
        return Event("push", "refs/heads/feature", o.head,
                     {"ref": "refs/heads/feature", "before": "1234567890abcdef" * 2 + "12345678", "after": o.head,
                      "created": False, "forced": True, "commits": commits, "repository": _repo_doc()},
                     2, "unleak/push/", "new branch refs/heads/feature (since main)")
    if kind == "new-branch":
        return Event("push", "refs/heads/feature", o.head,
                     {"ref": "refs/heads/feature", "before": "0" * 40, "after": o.head, "created": True,
                      "forced": False, "commits": commits, "repository": _repo_doc()},
                     2, "unleak/push/", "new branch refs/heads/feature (since main)")
    if kind == "schedule":
        return Event("schedule", "refs/heads/main", o.main, {"schedule": "17 3 * * *"},
                     2, "unleak/history/", "the whole history")
    if kind == "merge_group":
        mg = {"head_sha": o.queue, "head_ref": o.queue_ref, "base_sha": o.main, "base_ref": "refs/heads/main",
              "head_commit": {"id": o.queue}}
        return Event("merge_group", o.queue_ref, o.queue,
                     {"action": "checks_requested", "merge_group": mg, "repository": _repo_doc()},
                     2, "unleak/merge-group/", "merge group")
    raise AssertionError(kind)


EVENTS = ["pull_request", "push", "force-push", "force-push-gone", "new-branch", "schedule", "merge_group"]


# ------------------------------------------------------------------------------------------------ running


@dataclass
class Run:
    res: ActionRun
    summary: str
    runner: Path
    workspace: Path


def run(origin: Origin, ev: Event, tmp_path: Path, depth: int, api_url: str, extra_env: dict[str, str] | None = None,
        **inputs: str) -> Run:
    workspace = checkout(origin, tmp_path / "work" / "shop", ev.ref, ev.sha, depth)
    runner = tmp_path / "runner"
    runner.mkdir()
    event_path = runner / "event.json"
    event_path.write_text(json.dumps(ev.payload))
    summary = runner / "summary.md"
    summary.write_text("")
    env = {
        "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": ev.name, "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_WORKSPACE": str(workspace), "GITHUB_ACTION_PATH": str(ROOT), "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_API_URL": api_url, "GITHUB_SHA": ev.sha, "GITHUB_REF": ev.ref,
        "RUNNER_TEMP": str(runner), "UNLEAK_ACTION_SKIP_INSTALL": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **(extra_env or {}),
    }
    github = {"token": GITHUB_TOKEN, "workspace": str(workspace), "action_path": str(ROOT), "event_name": ev.name,
              "ref": ev.ref, "sha": ev.sha}
    res = run_action(ROOT, with_={"suggest-fixes": "true", **inputs}, env=env, github=github)
    return Run(res, summary.read_text(), runner, workspace)


def check_everything(r: Run, ev: Event, origin: Origin, coverage: str = "full", findings: int | None = None) -> dict[
        str, Any]:
    """Outputs, annotations, SARIF and summary, whatever the event: returns the SARIF document."""
    import jsonschema

    res = r.res
    n = ev.findings if findings is None else findings
    assert res.returncode == (1 if n else 0), res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    # outputs: every declared one is set
    assert res.outputs["findings"] == str(n)
    assert res.outputs["failed"] == ("true" if n else "false")
    assert res.outputs["coverage"] == coverage
    assert res.outputs["category"] == ev.category
    sarif_path = Path(res.outputs["sarif-file"])
    assert sarif_path == r.runner / "unleak.sarif" and sarif_path.is_file()
    assert not list(r.workspace.glob("*.sarif"))  # nothing left in the checkout for a later step to commit
    # annotations: one per finding, on a file and line
    annotations = re.findall(r"^::(?:error|warning) file=([^,]+),line=(\d+),", res.stdout, re.M)
    assert len(annotations) == n
    # SARIF: valid, in the event's category, every location on a line that holds the value at the analysed commit
    doc = json.loads(sarif_path.read_text())
    jsonschema.validate(doc, json.loads(SARIF_SCHEMA.read_text()))
    sarif_run = doc["runs"][0]
    assert sarif_run["automationDetails"]["id"] == ev.category
    for result in sarif_run["results"]:
        loc = result["locations"][0]["physicalLocation"]
        path, region = loc["artifactLocation"]["uri"], loc["region"]
        shown = subprocess.run(["git", "show", f"{ev.sha}:{path}"], cwd=r.workspace, capture_output=True,
                               text=True, check=False).stdout.splitlines()
        if result["properties"].get("historyOnly"):
            assert region == {"startLine": 1} and "still in the git history" in result["message"]["text"]
            assert not any(s in "\n".join(shown) for s in origin.secrets)
        else:
            line = shown[region["startLine"] - 1]
            assert any(line[region["startColumn"] - 1:region["endColumn"] - 1] == s for s in origin.secrets)
    config = [x for x in sarif_run["results"]
              if x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app/config.py"]
    assert all(x["properties"].get("historyOnly") for x in config)  # the token was removed before the tip
    # summary: the label, the count, the coverage
    assert f"{n} secret{'s' if n != 1 else ''} in {ev.label}" in r.summary, r.summary
    assert f"coverage: {coverage}" in r.summary
    # no channel carries a value
    texts = [res.stdout, res.stderr, r.summary, sarif_path.read_text(), json.dumps(res.outputs)]
    texts += [f.read_text(errors="replace") for f in r.runner.rglob("*") if f.is_file()]
    for t in texts:
        for s in origin.secrets:
            assert s not in t
    return doc


@pytest.fixture
def api(origin: Origin) -> Iterator[FakeGitHub]:
    with serve(FakeGitHub(REPOSITORY, PR_NUMBER, origin.head)) as state:
        yield state


@pytest.mark.parametrize("depth", [0, 1], ids=["full", "shallow"])
@pytest.mark.parametrize("kind", EVENTS)
def test_event(origin: Origin, tmp_path: Path, api: FakeGitHub, kind: str, depth: int) -> None:
    ev = event(kind, origin)
    r = run(origin, ev, tmp_path, depth, api.url)
    doc = check_everything(r, ev, origin)
    assert "partial coverage" not in r.res.stdout and "::warning title=unleak::" not in r.res.stdout
    uris = {x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for x in doc["runs"][0]["results"]}
    assert uris == {"app/config.py", "app/settings.py"}
    assert api.errors == []
    if ev.pr:
        assert len(api.posts) == 1 and api.posts[0]["body"]["commit_id"] == origin.head
        assert any(c["path"] == "app/settings.py" for c in api.posts[0]["body"]["comments"])
        assert re.search(r"^::notice title=unleak::suggest-fixes: posted a review", r.res.stdout, re.M)
        for s in origin.secrets:
            assert s not in api.posts[0]["raw"]
    else:
        assert api.requests == []
    if depth == 1 and ev.name != "schedule":
        # deepened for the range only, not the whole history
        assert git(r.workspace, "rev-parse", "--is-shallow-repository") == "true"


@pytest.mark.parametrize("kind", EVENTS)
def test_event_with_unreachable_api(origin: Origin, tmp_path: Path, kind: str) -> None:
    """The review cannot be posted: every result is still there, and the step says so as a warning."""
    ev = event(kind, origin)
    r = run(origin, ev, tmp_path, 1, closed_port_url())
    check_everything(r, ev, origin)
    if ev.pr:
        assert re.search(r"^::warning title=unleak::suggest-fixes: cannot reach the GitHub API", r.res.stdout,
                         re.M)
    else:
        assert re.search(r"^::notice title=unleak::suggest-fixes: only pull request events", r.res.stdout, re.M)


@pytest.mark.parametrize("kind", ["pull_request", "push", "new-branch", "merge_group"])
def test_shallow_checkout_without_origin_says_partial(origin: Origin, tmp_path: Path, kind: str) -> None:
    """A shallow checkout that cannot be deepened (origin unreachable) is reported as partial coverage, in a
    warning, an output and the summary; it never claims the whole history."""
    ev = event(kind, origin)
    dest = tmp_path / "work" / "shop"
    checkout(origin, dest, ev.ref, ev.sha, 1)
    git(dest, "remote", "set-url", "origin", (tmp_path / "gone").as_uri())
    runner = tmp_path / "runner"
    runner.mkdir()
    (runner / "event.json").write_text(json.dumps(ev.payload))
    (runner / "summary.md").write_text("")
    env = {"GITHUB_EVENT_NAME": ev.name, "GITHUB_EVENT_PATH": str(runner / "event.json"),
           "GITHUB_WORKSPACE": str(dest), "GITHUB_ACTION_PATH": str(ROOT),
           "GITHUB_STEP_SUMMARY": str(runner / "summary.md"), "GITHUB_REPOSITORY": REPOSITORY,
           "GITHUB_API_URL": closed_port_url(), "GITHUB_SHA": ev.sha, "RUNNER_TEMP": str(runner),
           "UNLEAK_ACTION_SKIP_INSTALL": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    res = run_action(ROOT, with_={}, env=env, github={"token": GITHUB_TOKEN, "workspace": str(dest)})
    summary = (runner / "summary.md").read_text()
    assert res.outputs["coverage"] == "partial", res.stdout + res.stderr
    assert re.search(r"^::warning title=unleak::partial coverage: .*fetch-depth: 0", res.stdout, re.M)
    assert "coverage: partial" in summary and "all of its history" not in summary + res.stdout
    assert Path(res.outputs["sarif-file"]).is_file() and res.outputs["findings"] != ""
    # the Stripe key is in the checked-out commit, whatever could be read of the history
    assert int(res.outputs["findings"]) >= 1 and res.returncode == 1
    for s in origin.secrets:
        assert s not in res.stdout + res.stderr + summary


def test_review_listing_paginates(origin: Origin, tmp_path: Path, api: FakeGitHub) -> None:
    """A pull request with more than 100 reviews: the one already posted for this head is on page 2, and the
    action finds it there instead of posting a second one."""
    from unleak.action_review import REVIEW_MARKER

    api.reviews.extend({"id": i, "body": "looks good", "commit_id": origin.head, "state": "COMMENTED"}
                       for i in range(1, 121))
    api.reviews.append({"id": 121, "body": f"{REVIEW_MARKER}\nold", "commit_id": origin.head, "state": "COMMENTED"})
    ev = event("pull_request", origin)
    r = run(origin, ev, tmp_path, 0, api.url)
    check_everything(r, ev, origin)
    pages = [q["path"] for q in api.requests if q["method"] == "GET"]
    assert any("page=2" in p for p in pages) and api.posts == [] and api.errors == []
    assert "exists already" in r.res.stdout


def test_verify_input(origin: Origin, tmp_path: Path, api: FakeGitHub) -> None:
    """`verify: true` asks each credential's provider (a local fake here) and shows the verdicts everywhere."""
    from tests.scanner.fake_providers import FakeProviders
    from tests.scanner.fake_providers import serve as serve_providers

    state = FakeProviders(valid={origin.token})
    (tmp_path / "providers").mkdir()
    srv, url, ca = serve_providers(tmp_path / "providers", state)
    try:
        ev = event("pull_request", origin)
        r = run(origin, ev, tmp_path, 0, api.url, extra_env={"UNLEAK_VERIFY_OVERRIDE": f"*={url}",
                                                             "UNLEAK_VERIFY_CA_FILE": str(ca)}, verify="true")
    finally:
        srv.shutdown()
    doc = check_everything(r, ev, origin)
    verdicts = sorted(x["properties"]["verified"]["status"] for x in doc["runs"][0]["results"]
                      if "verified" in x["properties"])
    assert verdicts == ["invalid", "valid"], verdicts
    assert "| Verified |" in r.summary and "valid (octo-user; repo, gist; expires 2027-01-01 UTC)" in r.summary
    assert "[verified: valid" in r.res.stdout and "[verified: invalid" in r.res.stdout
    assert {h for h, _m, _p in state.hits} == {"api.github.com", "api.stripe.com"}
