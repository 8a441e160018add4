"""One way into a scan: the Action, the MCP server and the hooks go through scanner.api like `unleak scan`, so a
default exclude, the repository's configuration and the scan cache mean the same thing for every caller."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from scanner import api
from tests.conftest import GitRepo
from tests.fakes import github_pat
from tests.unleak.test_mcp import Agent, run_agent
from unleak import action
from unleak.config import scan_request


def _key(result: api.ScanResult) -> list[tuple[str, int, str, str]]:
    return sorted((f.path, f.line, f.rule_id, f.commit.sha if f.commit else "") for f in result.findings)


def test_the_action_scans_a_pull_request_as_scan_range_does(repo: GitRepo) -> None:
    """A baseline file (``**/.secrets.baseline``) is excluded by default everywhere; the Action's own commit scan
    used to report it, and skipped the scan cache."""
    base = repo.commit("init", {"README.md": "hi\n"})
    head = repo.commit("feature", {"app.py": f"TOKEN = '{github_pat()}'\n",
                                   "sub/.secrets.baseline": f'{{"note": "{github_pat()}"}}\n'})
    req, _ = scan_request(repo.path, ("range",), ())
    target = action.Target([f"{base}..{head}"], "pull request #1", base=base, head=head, kind="pull-request")
    got = action.scan_target(req, target)
    assert {f.path for f in got.findings} == {"app.py"}
    assert _key(got) == _key(api.scan(replace(req, range=f"{base}..{head}")))
    assert (repo.path / ".git" / "unleak" / "scan-cache").is_dir()


def test_the_action_with_nothing_to_scan_reports_nothing(repo: GitRepo) -> None:
    repo.commit("init", {"app.py": f"TOKEN = '{github_pat()}'\n"})
    req, _ = scan_request(repo.path, ("range",), ())
    got = action.scan_target(req, action.Target([], "a deleted branch", kind="push"))
    assert got.findings == [] and got.stats.commits == 0


def test_the_action_names_no_shallow_clone_it_has_completed(repo: GitRepo, tmp_path: Path) -> None:
    """The Action deepens a shallow checkout itself and reports coverage per target; the generic shallow-clone
    note would contradict a range it has made complete."""
    base = repo.commit("init", {"README.md": "hi\n"})
    head = repo.commit("feature", {"app.py": "x = 1\n"})
    clone = tmp_path / "shallow"
    GitRepo(tmp_path).git("clone", "-q", "--depth=2", f"file://{repo.path}", str(clone))
    req, _ = scan_request(clone, ("range",), ())
    got = action.scan_target(req, action.Target([f"{base}..{head}"], "pull request #2", base=base, head=head,
                                                kind="pull-request"))
    assert not any("shallow" in n for n in got.notes)
    assert any("shallow" in n for n in api.scan(replace(req, range=f"{base}..{head}")).notes)


def test_check_diff_honours_the_repository_config(repo: GitRepo) -> None:
    """`unleak scan --diff` and MCP `scan` apply .unleak.toml; check_diff used to ignore it."""
    repo.commit("init", {".unleak.toml": 'exclude = ["vendor/**"]\n', "cfg.py": "A = 1\n"})
    token = github_pat()

    def diff(path: str) -> str:
        return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n"
                f'+TOKEN = "{token}"\n')

    out: dict[str, Any] = {}

    async def scenario(agent: Agent) -> None:
        out["vendor"] = await agent.call("check_diff", {"diff": diff("vendor/lib.py")})
        out["app"] = await agent.call("check_diff", {"diff": diff("app.py")})

    run_agent(repo.path, scenario)
    assert out["vendor"]["clean"] is True
    assert out["app"]["clean"] is False and out["app"]["secret_lines"][0]["path"] == "app.py"


def test_text_checks_go_through_the_scan_entry(repo: GitRepo) -> None:
    """Hooks and the Action's suggestion check ask scanner.api.scan_text; the agent's policy (no allow comments,
    no repository config) is the hook's argument, not a second scanner."""
    from unleak.agent import hook_scan

    token = github_pat()
    text = f"TOKEN = '{token}'  # pragma: allowlist secret\n"
    assert api.scan_text(text, "a.py", repo.path).findings == []
    agent_view = api.scan_text(text, "a.py", repo.path, ignore_filters=hook_scan.AGENT_IGNORED_FILTERS)
    assert [f.rule_id for f in agent_view.findings] == ["UL001"]
    assert [h.rule_id for h in hook_scan.scan_text(text, "a.py", repo.path)] == ["UL001"]
