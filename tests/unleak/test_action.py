"""The GitHub Action, run step by step as the runner runs it (tests/unleak/action_runner.py), on a real repository
with a pull-request-shaped branch: a secret added and then removed inside the pull request, and one still at head.

The install step is skipped with UNLEAK_ACTION_SKIP_INSTALL=1 (unleak is installed in this interpreter);
test_install_step_real_cold_then_warm runs it for real. Review posting goes to the FAKE of GitHub's REST API
on 127.0.0.1 (tests/fakes_github.py), which checks each request against the documented shapes for pull-request reviews.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GitRepo, make_repo, run_cli
from tests.fakes import stripe_live_key
from tests.fakes_github import GITHUB_TOKEN, FakeGitHub, serve
from tests.unleak.action_runner import ActionRun, parse_output_file, run_action

ROOT = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = ROOT / "tests" / "data" / "schemas" / "sarif-schema-2.1.0.json"  # OASIS SARIF 2.1.0


@dataclass
class PR:
    repo: GitRepo
    base: str
    added: str  # commit that adds the GitHub token
    removed: str  # commit that removes it again
    head: str  # commit that adds the Stripe key (still at head)
    canary: str
    stripe: str

    @property
    def secrets(self) -> list[str]:
        return [self.canary, self.stripe]


@pytest.fixture
def pr(repo: GitRepo, canary: str) -> PR:
    stripe = stripe_live_key()
    base = repo.commit("init", {"README.md": "demo\n", "app/__init__.py": "",
                                "app/main.py": "def main() -> None:\n    print('hi')\n"})
    repo.git("update-ref", "refs/remotes/origin/main", base)  # what actions/checkout leaves behind
    repo.git("checkout", "-q", "-b", "feature")
    added = repo.commit("add config", {"app/config.py": f'GITHUB_TOKEN = "{canary}"\n'})
    removed = repo.commit("oops, remove token",
                          {"app/config.py": 'import os\n\nGITHUB_TOKEN = os.environ["GITHUB_TOKEN"]\n'})
    head = repo.commit("settings", {"app/settings.py": f'DEBUG = False\nSTRIPE_KEY = "{stripe}"\nTIMEOUT = 30\n'})
    return PR(repo, base, added, removed, head, canary, stripe)


def pr_payload(pr: PR, number: int = 7) -> dict[str, Any]:
    """The fields of a pull_request event payload the action reads, in GitHub's documented shape."""
    return {"action": "synchronize", "number": number,
            "pull_request": {"number": number, "state": "open",
                             "base": {"ref": "main", "sha": pr.base}, "head": {"ref": "feature", "sha": pr.head}},
            "repository": {"full_name": "octo/shop", "default_branch": "main"}}


def run(pr: PR, tmp_path: Path, event: str, payload: dict[str, Any], api_url: str = "http://127.0.0.1:9",
        action_path: Path = ROOT, skip_install: bool = True, cache_dir: Path | None = None,
        **inputs: str) -> tuple[ActionRun, Path, Path]:
    runner = tmp_path / "runner"
    if runner.exists():
        shutil.rmtree(runner)
    runner.mkdir()
    event_path = runner / "event.json"
    event_path.write_text(json.dumps(payload))
    summary = runner / "summary.md"
    summary.write_text("")
    env = {
        "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_WORKSPACE": str(pr.repo.path), "GITHUB_ACTION_PATH": str(action_path),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_REPOSITORY": "octo/shop", "GITHUB_API_URL": api_url, "GITHUB_SHA": pr.head,
        "RUNNER_TEMP": str(runner), "UNLEAK_ACTION_SKIP_INSTALL": "1" if skip_install else "",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "ACTIONS_CACHE_FAKE_DIR": str(cache_dir or ""),
    }
    github = {"token": GITHUB_TOKEN, "workspace": str(pr.repo.path), "action_path": str(action_path),
              "event_name": event}
    return run_action(action_path, with_=inputs, env=env, github=github), summary, runner


def assert_no_secret(pr: PR, *texts: str) -> None:
    for t in texts:
        for s in pr.secrets:
            assert s not in t


# -------------------------------------------------------------------------------------------------- scans


def test_pull_request_every_commit(pr: PR, tmp_path: Path) -> None:
    res, summary, runner = run(pr, tmp_path, "pull_request", pr_payload(pr))
    assert [s.id for s in res.steps] == ["prep", "install", "scan"]  # the cache step is skipped
    assert res.returncode == 1  # fail-on high: the GitHub token is high confidence
    out = res.stdout
    # annotations on the exact lines, for the removed secret too (it is in the history)
    assert re.search(r"^::error file=app/config\.py,line=1,col=\d+", out, re.M)
    assert re.search(r"^::error file=app/settings\.py,line=2,col=\d+", out, re.M)
    assert pr.added[:12] in out
    # outputs
    assert res.outputs["findings"] == "2"
    sarif_path = Path(res.outputs["sarif-file"])
    assert sarif_path == runner / "unleak.sarif"  # outside the checkout: later scans never see it
    assert not (pr.repo.path / "unleak.sarif").exists()
    # SARIF valid against the official schema
    import jsonschema

    doc = json.loads(sarif_path.read_text())
    jsonschema.validate(doc, json.loads(SARIF_SCHEMA.read_text()))
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in doc["runs"][0]["results"]} \
        == {"app/config.py", "app/settings.py"}
    # job summary: a table with rule, file, line, commit, preview
    md = summary.read_text()
    assert "| Rule | File | Line | Commit | Preview |" in md
    row = next(r for r in md.splitlines() if "app/config.py" in r)
    assert f"`{pr.added[:12]}`" in row and "removed, still in history" in row and "| 1 |" in row
    row = next(r for r in md.splitlines() if "app/settings.py" in r)
    assert f"`{pr.head[:12]}`" in row and "| yes |" in row
    assert "pull request #7" in md and "3 commits" in md
    assert_no_secret(pr, res.stdout, res.stderr, md, sarif_path.read_text(), json.dumps(res.outputs))
    # every file the run left for the runner (step output files, summary, scripts) is clean too
    files = [f for f in runner.rglob("*") if f.is_file()]
    assert any(f.name.startswith("output_") for f in files)
    assert_no_secret(pr, *(f.read_text(errors="replace") for f in files))


@pytest.mark.parametrize(("fail_on", "code"), [("high", 1), ("medium", 1), ("low", 1), ("none", 0)])
def test_fail_on(pr: PR, tmp_path: Path, fail_on: str, code: int) -> None:
    res, _, _ = run(pr, tmp_path, "pull_request", pr_payload(pr), **{"fail-on": fail_on})
    assert res.returncode == code, res.stderr
    assert res.outputs["findings"] == "2"


def test_fail_on_only_counts_findings_at_or_above(repo: GitRepo, tmp_path: Path) -> None:
    """A PR whose only finding is below the threshold passes; lowering the threshold fails it."""
    base = repo.commit("init", {"README.md": "x\n"})
    repo.git("checkout", "-q", "-b", "f")
    # a generic password assignment: the generic rules report it below high confidence
    head = repo.commit("pw", {"db.py": 'DB_PASSWORD = "Vq7#pLm2xZ9!wRt4"\n'})
    pr_ = PR(repo, base, head, head, head, "", "")
    findings = run_cli("scan", "--range", f"{base}..{head}", "--format", "json", cwd=repo.path)
    levels = {f["confidence"] for f in json.loads(findings.stdout)["findings"]}
    if not levels or "high" in levels:
        pytest.skip(f"the rules rate this sample {levels or 'as nothing'}; the case needs a below-high finding")
    res, _, _ = run(pr_, tmp_path, "pull_request", pr_payload(pr_), **{"fail-on": "high"})
    assert res.returncode == 0 and res.outputs["findings"] != "0"
    res, _, _ = run(pr_, tmp_path, "pull_request", pr_payload(pr_), **{"fail-on": "low"})
    assert res.returncode == 1


def test_clean_pull_request(repo: GitRepo, tmp_path: Path) -> None:
    base = repo.commit("init", {"README.md": "x\n"})
    repo.git("checkout", "-q", "-b", "f")
    head = repo.commit("docs", {"docs.md": "hello\n"})
    pr_ = PR(repo, base, head, head, head, "", "")
    res, summary, _ = run(pr_, tmp_path, "pull_request", pr_payload(pr_))
    assert res.returncode == 0 and res.outputs["findings"] == "0"
    assert "0 secrets" in summary.read_text()


def _pr_that_hides(repo: GitRepo, canary: str, hide: dict[str, str] | None, baseline: bool = False) -> PR:
    """A pull request that adds a token and, in a later commit, changes the configuration (``hide``: files), or
    commits a baseline that holds the token."""
    base = repo.commit("init", {"README.md": "demo\n", "pyproject.toml": "[project]\nname = 'shop'\n"})
    repo.git("update-ref", "refs/remotes/origin/main", base)
    repo.git("checkout", "-q", "-b", "feature")
    added = repo.commit("token", {"app/config.py": f'GITHUB_TOKEN = "{canary}"\n'})
    head = added
    if hide:
        head = repo.commit("tidy the configuration", hide)
    if baseline:
        b = run_cli("baseline", "create", cwd=repo.path)
        assert b.returncode == 0, b.stderr
        repo.git("add", ".unleak-baseline.json")
        repo.git("commit", "-q", "-m", "known findings")
        head = repo.git("rev-parse", "HEAD").strip()
    return PR(repo, base, added, head, head, canary, canary)


@pytest.mark.parametrize("hide", [
    {".unleak.toml": 'exclude = ["app/**"]\n'},
    {".unleak.toml": 'disable = ["UL001", "UL900", "UL950"]\n'},
    {"pyproject.toml": "[project]\nname = 'shop'\n\n[tool.unleak]\nexclude = ['app/config.py']\n"},
    {".gitleaks.toml": "[allowlist]\npaths = ['^app/']\n"},
], ids=["exclude", "disable", "pyproject", "gitleaks-allowlist"])
def test_a_configuration_change_that_hides_the_pull_requests_token_fails_it(repo: GitRepo, canary: str,
                                                                            tmp_path: Path,
                                                                            hide: dict[str, str]) -> None:
    """The pull request changes what is scanned: judged by its own configuration it would pass. The base commit's
    configuration reports the token; the job fails and says which change hides what."""
    pr_ = _pr_that_hides(repo, canary, hide)
    res, summary, runner = run(pr_, tmp_path, "pull_request", pr_payload(pr_))
    assert res.returncode == 1, res.stderr
    assert res.outputs["findings"] == "0" and res.outputs["hidden-by-config"] == "1"
    assert res.outputs["failed"] == "true"
    (name,) = hide
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("::error file=app/config.py"))
    assert f"hidden by this change to {name}" in line
    assert f"::error title=unleak::1 finding hidden by this change to {name}" in res.stdout
    md = summary.read_text()
    assert f"### 1 finding hidden by this change to `{name}`" in md and "| UL001 " in md
    assert_no_secret(pr_, res.stdout, res.stderr, md, json.dumps(res.outputs),
                     *(f.read_text(errors="replace") for f in runner.rglob("*") if f.is_file()))


def test_a_baseline_the_pull_request_commits_does_not_hide_its_own_token(repo: GitRepo, canary: str,
                                                                        tmp_path: Path) -> None:
    pr_ = _pr_that_hides(repo, canary, None, baseline=True)
    assert run_cli("scan", "--range", f"{pr_.base}..{pr_.head}", cwd=repo.path).returncode == 0  # baselined
    res, summary, _ = run(pr_, tmp_path, "pull_request", pr_payload(pr_))
    assert res.returncode == 1 and res.outputs["hidden-by-config"] == "1"
    assert "hidden by this change to `.unleak-baseline.json`" in summary.read_text()


def test_a_configuration_change_that_hides_nothing_says_nothing(repo: GitRepo, canary: str,
                                                               tmp_path: Path) -> None:
    # an exclusion for a directory with nothing in it: the token is still reported, as itself, and nothing else
    pr_ = _pr_that_hides(repo, canary, {".unleak.toml": 'exclude = ["vendor/**"]\n'})
    res, summary, _ = run(pr_, tmp_path, "pull_request", pr_payload(pr_))
    assert res.returncode == 1
    assert res.outputs["findings"] == "1" and res.outputs["hidden-by-config"] == "0"
    assert "hidden by this change" not in res.stdout + summary.read_text()
    # a pull request that leaves the configuration alone: nothing changed, nothing hidden
    clean = _pr_that_hides(make_repo(tmp_path / "other"), canary, None)
    res, _, _ = run(clean, tmp_path, "pull_request", pr_payload(clean))
    assert res.outputs["hidden-by-config"] == "0" and res.outputs["findings"] == "1"


def test_a_base_configuration_that_extends_another_file_skips_the_check_with_a_warning(repo: GitRepo, canary: str,
                                                                                      tmp_path: Path) -> None:
    # the base commit's .gitleaks.toml extends a file the check does not follow: said, not guessed
    repo.commit("shared rules", {".gitleaks.toml": "[extend]\npath = 'common.toml'\n", "common.toml": "title = 'x'\n"})
    pr_ = _pr_that_hides(repo, canary, {".gitleaks.toml": "[extend]\npath = 'common.toml'\n\n[allowlist]\n"
                                                          "paths = ['^app/']\n"})
    res, summary, _ = run(pr_, tmp_path, "pull_request", pr_payload(pr_))
    assert res.outputs["hidden-by-config"] == "0"
    assert "::warning title=unleak::the base commit's configuration does not load" in res.stdout
    assert "what this change to it hides was not checked" in summary.read_text()


def test_a_baseline_input_inside_the_repository_is_judged_by_its_base_version(repo: GitRepo, canary: str,
                                                                              tmp_path: Path) -> None:
    # the workflow names ci/known.json; the pull request adds its token to that file
    pr_ = _pr_that_hides(repo, canary, None)
    (repo.path / "ci").mkdir()
    b = run_cli("baseline", "create", "--file", "ci/known.json", cwd=repo.path)
    assert b.returncode == 0, b.stderr
    repo.git("add", "ci/known.json")
    repo.git("commit", "-q", "-m", "known findings")
    pr_ = PR(repo, pr_.base, pr_.added, pr_.head, repo.git("rev-parse", "HEAD").strip(), canary, canary)
    res, summary, _ = run(pr_, tmp_path, "pull_request", pr_payload(pr_), baseline="ci/known.json")
    assert res.outputs["findings"] == "0" and res.outputs["hidden-by-config"] == "1"
    assert res.returncode == 1 and "hidden by this change to `ci/known.json`" in summary.read_text()


def test_a_config_input_inside_the_repository_is_judged_by_its_base_version(repo: GitRepo, canary: str,
                                                                            tmp_path: Path) -> None:
    # the workflow names ci/unleak.toml; the pull request creates it, excluding its own token's file
    pr_ = _pr_that_hides(repo, canary, {"ci/unleak.toml": 'exclude = ["app/**"]\n'})
    res, summary, _ = run(pr_, tmp_path, "pull_request", pr_payload(pr_), config="ci/unleak.toml")
    assert res.outputs["findings"] == "0" and res.outputs["hidden-by-config"] == "1"
    assert res.returncode == 1 and "hidden by this change to `ci/unleak.toml`" in summary.read_text()


@pytest.mark.parametrize("before", ["new-branch", "force-pushed-away"])
def test_push_new_branch_scans_since_default_branch(pr: PR, tmp_path: Path, before: str) -> None:
    zero_or_gone = "0" * 40 if before == "new-branch" else "1234567890abcdef1234567890abcdef12345678"
    payload = {"ref": "refs/heads/feature", "before": zero_or_gone, "after": pr.head, "created": True,
               "repository": {"default_branch": "main", "full_name": "octo/shop"}}
    res, summary, _ = run(pr, tmp_path, "push", payload)
    assert res.returncode == 1 and res.outputs["findings"] == "2"
    assert "3 commits" in summary.read_text()


def test_push_scans_before_to_after(pr: PR, tmp_path: Path) -> None:
    payload = {"ref": "refs/heads/feature", "before": pr.removed, "after": pr.head,
               "repository": {"default_branch": "main"}}
    res, _, _ = run(pr, tmp_path, "push", payload)
    assert res.outputs["findings"] == "1" and "app/settings.py" in res.stdout and "app/config.py" not in res.stdout


def test_push_deleting_a_branch_scans_nothing(pr: PR, tmp_path: Path) -> None:
    payload = {"ref": "refs/heads/feature", "before": pr.head, "after": "0" * 40, "deleted": True}
    res, _, _ = run(pr, tmp_path, "push", payload)
    assert res.returncode == 0 and res.outputs["findings"] == "0"


def test_missing_base_commit_scans_files_and_says_partial(pr: PR, tmp_path: Path) -> None:
    payload = pr_payload(pr)
    payload["pull_request"]["base"]["sha"] = "ab" * 20
    res, summary, _ = run(pr, tmp_path, "pull_request", payload)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert re.search(r"^::warning title=unleak::partial coverage: the base commit abababababab .*fetch-depth: 0",
                     res.stdout, re.M)
    assert res.outputs["coverage"] == "partial" and res.outputs["findings"] == "1"  # the Stripe key in the files
    assert "coverage: partial" in summary.read_text() and "fetch-depth: 0" in summary.read_text()


def test_baseline_and_sarif_inputs(pr: PR, tmp_path: Path) -> None:
    # Known finding: the Stripe key at head goes into a baseline; the removed token is still reported.
    (pr.repo.path / "ci").mkdir()
    b = run_cli("baseline", "create", "--file", "ci/known.json", cwd=pr.repo.path)
    assert b.returncode == 0, b.stderr
    res, summary, _ = run(pr, tmp_path, "pull_request", pr_payload(pr),
                          baseline="ci/known.json", **{"sarif-file": "reports/unleak.sarif"})
    assert res.outputs["findings"] == "1"
    assert res.outputs["sarif-file"] == str(pr.repo.path / "reports" / "unleak.sarif")
    assert "app/config.py" in res.stdout and "app/settings.py" not in res.stdout
    assert "1 known finding in the baseline" in summary.read_text()


def test_config_input(pr: PR, tmp_path: Path) -> None:
    cfg = tmp_path / "unleak-ci.toml"
    cfg.write_text('exclude = ["app/settings.py"]\n')
    res, _, _ = run(pr, tmp_path, "pull_request", pr_payload(pr), config=str(cfg))
    assert res.outputs["findings"] == "1" and "app/settings.py" not in res.stdout
    cfg.write_text("exclude = [\n")  # broken config: a clear error naming the file, exit 2
    res, _, _ = run(pr, tmp_path, "pull_request", pr_payload(pr), config=str(cfg))
    assert res.returncode == 2 and "unleak-ci.toml" in res.stderr and "Traceback" not in res.stderr


def test_bad_input_is_a_usage_error(pr: PR, tmp_path: Path) -> None:
    res, _, _ = run(pr, tmp_path, "pull_request", pr_payload(pr), **{"fail-on": "critical"})
    assert res.returncode == 2 and "fail-on" in res.stderr and "Traceback" not in res.stderr


def test_outputs_file_format() -> None:
    assert parse_output_file("a=1\nb<<EOF\nx\ny\nEOF\nc=\n") == {"a": "1", "b": "x\ny", "c": ""}


# ------------------------------------------------------------------------------------------ review posting


@pytest.fixture
def github_api(pr: PR) -> Iterator[FakeGitHub]:
    with serve(FakeGitHub("octo/shop", pr_number=7, head=pr.head)) as state:
        yield state


def test_suggest_fixes_posts_one_review(pr: PR, tmp_path: Path, github_api: FakeGitHub) -> None:
    res, _, _ = run(pr, tmp_path, "pull_request", pr_payload(pr), api_url=github_api.url,
                    **{"suggest-fixes": "true"})
    assert res.returncode == 1
    assert github_api.errors == []
    posts = [r for r in github_api.requests if r["method"] == "POST"]
    assert len(posts) == 1, res.stderr
    body = posts[0]["body"]
    assert body["event"] == "COMMENT" and body["commit_id"] == pr.head
    comments = body["comments"]
    assert comments, body
    assert all(c["path"] == "app/settings.py" and c["side"] == "RIGHT" for c in comments)
    c = next(c for c in comments if "STRIPE_KEY" in c["body"])
    assert c["line"] == 2
    assert "```suggestion\n" in c["body"]
    suggested = c["body"].split("```suggestion\n", 1)[1].rsplit("```", 1)[0]
    assert suggested.strip() == 'STRIPE_KEY = os.environ["STRIPE_KEY"]'
    # the import the rewritten line needs is suggested too, on a line of the diff
    assert any("import os" in c["body"] for c in comments)
    assert "STRIPE_KEY=unleak://shop/STRIPE_KEY" in body["body"]  # the reference file entry, in the review body
    # the removed token is not at head: nothing to suggest for app/config.py
    assert all(c["path"] != "app/config.py" for c in comments)
    assert re.search(r"^::notice title=unleak::suggest-fixes: posted a review", res.stdout, re.M)
    assert_no_secret(pr, posts[0]["raw"], res.stdout, res.stderr)
    assert GITHUB_TOKEN not in res.stdout + res.stderr


def test_suggest_fixes_dotenv_gets_a_reference(pr: PR, tmp_path: Path, github_api: FakeGitHub) -> None:
    from tests.fakes import github_pat

    token = github_pat()
    pr.head = pr.repo.commit("env", {".env": f"# local settings\nDEBUG=1\nGITHUB_TOKEN={token}\n"})
    github_api.head = pr.head  # the review must name the new head
    res, _, _ = run(pr, tmp_path, "pull_request", pr_payload(pr), api_url=github_api.url,
                    **{"suggest-fixes": "true"})
    assert github_api.errors == []
    post = next(r for r in github_api.requests if r["method"] == "POST")
    c = next(c for c in post["body"]["comments"] if c["path"] == ".env")
    # .env keeps no reference (a loader would read it as the value): the line becomes a comment, and the review
    # body lists the reference for .env.unleak.
    assert c["line"] == 3 and "# GITHUB_TOKEN: moved into the vault" in c["body"] and ".env.unleak" in c["body"]
    assert "unleak://" not in c["body"]
    body = post["body"]["body"]
    assert "`.env.unleak`" in body and "`GITHUB_TOKEN=unleak://shop/GITHUB_TOKEN`" in body
    assert token not in post["raw"] and token not in res.stdout + res.stderr
    assert_no_secret(pr, post["raw"])


def test_suggest_fixes_not_posted_twice_for_same_head(pr: PR, tmp_path: Path, github_api: FakeGitHub) -> None:
    for _ in range(2):
        run(pr, tmp_path, "pull_request", pr_payload(pr), api_url=github_api.url, **{"suggest-fixes": "true"})
    assert len([r for r in github_api.requests if r["method"] == "POST"]) == 1
    assert github_api.errors == []


def test_suggest_fixes_falls_back_when_lines_are_rejected(pr: PR, tmp_path: Path, github_api: FakeGitHub) -> None:
    github_api.reject_comments = True
    res, _, _ = run(pr, tmp_path, "pull_request", pr_payload(pr), api_url=github_api.url,
                    **{"suggest-fixes": "true"})
    posts = [r for r in github_api.requests if r["method"] == "POST"]
    assert len(posts) == 2 and posts[1]["body"]["comments"] == []
    assert "os.environ[" in posts[1]["body"]["body"] and "without inline suggestions" in res.stdout
    assert_no_secret(pr, *(p["raw"] for p in posts))


def test_suggest_fixes_bad_token_is_reported_not_fatal(pr: PR, tmp_path: Path, github_api: FakeGitHub) -> None:
    res, _, _ = run(pr, tmp_path, "pull_request", pr_payload(pr), api_url=github_api.url,
                    **{"suggest-fixes": "true", "github-token": "wrong"})
    assert res.returncode == 1  # the findings decide the exit status, not the review
    assert re.search(r"^::warning title=unleak::suggest-fixes: GitHub answered 401", res.stdout, re.M)
    assert "wrong" not in res.stdout + res.stderr


def test_suggest_fixes_skipped_on_push(pr: PR, tmp_path: Path, github_api: FakeGitHub) -> None:
    payload = {"ref": "refs/heads/feature", "before": pr.base, "after": pr.head}
    res, _, _ = run(pr, tmp_path, "push", payload, api_url=github_api.url, **{"suggest-fixes": "true"})
    assert github_api.requests == [] and "only pull request events" in res.stdout


# ------------------------------------------------------------------------------------------- the metadata


def test_action_metadata_shape() -> None:
    import yaml

    meta = yaml.safe_load((ROOT / "action.yml").read_text())
    assert set(meta["inputs"]) == {"fail-on", "baseline", "config", "sarif-file", "suggest-fixes", "github-token",
                                   "scan", "verify", "remediate", "secrets-token"}
    assert set(meta["outputs"]) == {"findings", "sarif-file", "failed", "coverage", "category", "hidden-by-config"}
    for step in meta["runs"]["steps"]:
        if "uses" in step:
            assert step["uses"] in ("actions/cache/restore@v4", "actions/cache/save@v4")
            continue
        assert "${{" not in step["run"]
        assert step["shell"] == "bash"


@pytest.mark.slow
def test_install_step_real_cold_then_warm(pr: PR, tmp_path: Path) -> None:
    """The install steps as on a runner: a virtualenv and `pip install "$GITHUB_ACTION_PATH"` (a copy of the
    project, so the build leaves nothing in the source tree), cached under a key of the interpreter and the
    action's files (actions/cache, faked: see action_runner); the next job restores it instead of installing."""
    import time

    action = tmp_path / "action"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for pkg in ("scanner", "remediate", "unleak"):
        shutil.copytree(ROOT / pkg, action / pkg, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "action.yml", "LICENSE"):
        shutil.copy2(ROOT / name, action / name)
    cache = tmp_path / "actions-cache"
    cache.mkdir()
    timings = []
    for attempt in ("cold", "warm"):
        start = time.monotonic()
        res, summary, runner = run(pr, tmp_path, "pull_request", pr_payload(pr), action_path=action,
                                   skip_install=False, cache_dir=cache)
        timings.append(time.monotonic() - start)
        steps = {s.id: s for s in res.steps}
        assert steps["install"].returncode == 0, steps["install"].stderr[-2000:]
        assert steps["cache"].outputs["cache-hit"] == ("true" if attempt == "warm" else "false")
        assert steps["install"].outputs["bin"] == str(runner / "unleak-venv" / "bin" / "unleak")
        assert ("using the cached environment" in steps["install"].stdout) == (attempt == "warm")
        assert res.steps[-1].returncode == 1 and res.outputs["findings"] == "2"
        assert_no_secret(pr, res.stdout, res.stderr, summary.read_text())
        assert len(list(cache.iterdir())) == 1 and next(cache.iterdir()).name.startswith("unleak-venv-Linux-X64-py")
    print(f"install+scan: cold {timings[0]:.1f} s, warm {timings[1]:.1f} s")
    assert timings[1] < timings[0]
    # Another action version (a changed file) gets its own environment: the prep step's key changes. Its script is
    # run alone, under bash as the runner runs it (a whole third run would only repeat the cold install).
    import yaml

    prep = next(st for st in yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]
                if st.get("id") == "prep")

    def key() -> str:
        out = tmp_path / "prep-output"
        out.write_text("")
        env = {**os.environ, "GITHUB_ACTION_PATH": str(action), "GITHUB_OUTPUT": str(out),
               "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "UNLEAK_ACTION_SKIP_INSTALL": ""}
        subprocess.run(["bash", "-eo", "pipefail", "-c", prep["run"]], env=env, check=True)
        return dict(line.split("=", 1) for line in out.read_text().splitlines())["key"]

    first = key()
    assert first.rpartition("-src")[2] == next(cache.iterdir()).name.rpartition("-src")[2] and key() == first
    (action / "unleak" / "__init__.py").write_text((action / "unleak" / "__init__.py").read_text() + "\n")
    assert key() != first


@pytest.mark.parametrize("name", ["shop", "My--Shop", "shop--api", "_private.", "a..b", "Ünïcode Repo", "---",
                                  "x" * 80 + "-y", "dots.and-dashes_ok"])
def test_the_review_plans_the_namespace_the_vault_uses(tmp_path: Path, name: str) -> None:
    """The Action suggests references in the namespace `unleak fix` will use in a clone named after the
    repository once the suggestion is committed (a clone adopts the namespace of its references; and the
    directory-name rule for vaults made before the registry); a second sanitiser disagreed on "--" (my--shop vs
    my-shop), so the suggested reference pointed at an entry the vault would never hold."""
    from remediate.vault import default_namespace, sanitize_namespace
    from unleak.action import review_namespace

    clone = tmp_path / name
    clone.mkdir()
    ns = review_namespace(f"octo/{name}", tmp_path / "checkout")
    assert ns == sanitize_namespace(clone.name)
    (clone / ".env.unleak").write_text(f"X=unleak://{ns}/X\n")
    assert default_namespace(clone) == ns
