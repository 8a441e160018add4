"""Red team, issue 13 item 8: an agent with a shell calls `unleak run` itself instead of the MCP `run` tool.

Before: `unleak run` needed no grant at all, and the one check that looked for an agent (the `CLAUDECODE` marker,
used by `unleak grant`/`approve`) was undone by `env -u CLAUDECODE`. A script that writes the value into a file
defeats the output masking, so the run itself is what must be gated. Now a run that is not from the human's own
terminal follows the MCP rules: grant, approval request, dangerous commands refused, tiers.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.agent.redteam.runtools import PY, agent_env, human_env, in_terminal, make_vault_repo
from tests.conftest import GitRepo, write_policy
from unleak.agent.policy import GrantStore


@pytest.fixture
def vault_repo(repo: GitRepo, canary: str) -> GitRepo:
    return make_vault_repo(repo, canary)

UNLEAK_RUN = [PY, "-m", "unleak", "run", "--"]


def _pending(store: GrantStore) -> list[str]:
    return [r.id for r in store.requests() if r.state() == "pending"]


@pytest.mark.parametrize("how", [
    ["env", "-u", "CLAUDECODE", "-u", "CLAUDE_CODE_ENTRYPOINT"],  # the attack as reported
    ["env", "-i", "PATH=/usr/bin:/bin"],  # every marker gone at once
    [],  # the agent's shell as it is
])
def test_agent_shell_cannot_run_without_a_grant(vault_repo: GitRepo, canary: str, how: list[str],
                                                isolated_home: Path) -> None:
    import os

    env = agent_env()
    if how and how[1] == "-i":
        # keep what the test machinery needs to find this checkout and the isolated vault
        how = [*how, *(f"{k}={os.environ[k]}" for k in ("HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME",
                                                         "PYTHONPATH", "PYTHON_KEYRING_BACKEND"))]
    proc = subprocess.run([*how, *UNLEAK_RUN, PY, "stash.py"], cwd=vault_repo.path, env=env, stdin=subprocess.PIPE,
                          capture_output=True, text=True, timeout=60)
    stash = vault_repo.path / "stash.txt"
    # The attack worked on the old code: exit 0 and the reversed value in stash.txt.
    assert not stash.exists(), "the agent's run got the value without a grant"
    assert proc.returncode == 2, proc.stderr
    assert "needs a grant" in proc.stderr and "unleak approve r-" in proc.stderr
    assert canary not in proc.stdout + proc.stderr
    assert len(_pending(GrantStore())) == 1


def test_approved_request_lets_exactly_that_command_run(vault_repo: GitRepo, canary: str) -> None:
    argv = [*UNLEAK_RUN, PY, "stash.py"]
    env = agent_env()
    first = subprocess.run(argv, cwd=vault_repo.path, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 2
    store = GrantStore()
    (req_id,) = _pending(store)
    req = store.get_request(req_id)
    assert req.client == "shell" and req.secrets == ("TOKEN",) and list(req.argv) == [PY, "stash.py"]
    _, grant = store.decide(req_id, approve=True, by="human")
    assert grant is not None
    again = subprocess.run(argv, cwd=vault_repo.path, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "stashed" in again.stdout and canary not in again.stdout + again.stderr
    assert (vault_repo.path / "stash.txt").read_text() == canary[::-1]
    # Another command is not covered by that approval.
    other = subprocess.run([*UNLEAK_RUN, PY, "stash.py", "elsewhere.txt"], cwd=vault_repo.path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert other.returncode == 2 and not (vault_repo.path / "elsewhere.txt").exists()
    from unleak.audit import AuditLog

    starts = [r for r in AuditLog().records() if r["action"] == "run.start"]
    assert starts and starts[-1]["grant"] == grant.id and starts[-1]["actor"] == "shell"


@pytest.mark.parametrize("argv", [
    [PY, "-c", "import os; print(os.environ['TOKEN'][::-1])"],
    ["sh", "-c", "echo $TOKEN | rev"],
    ["env"],
])
def test_agent_shell_dangerous_commands_are_refused_without_a_request(vault_repo: GitRepo, argv: list[str]) -> None:
    proc = subprocess.run([*UNLEAK_RUN, *argv], cwd=vault_repo.path, env=agent_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "allow-dangerous" in proc.stderr
    assert _pending(GrantStore()) == []


def test_agent_shell_cannot_turn_masking_off(vault_repo: GitRepo, canary: str) -> None:
    GrantStore().add_grant(secrets=["*"], command=["*"], created_by="human", dangerous=True)
    proc = subprocess.run([*UNLEAK_RUN[:-1], "--no-masking", "--", PY, "-c",
                           "import os; print(os.environ['TOKEN'])"], cwd=vault_repo.path, env=agent_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--no-masking" in proc.stderr
    assert canary not in proc.stdout + proc.stderr


def test_prod_tier_stays_out_of_reach_from_the_agent_shell(vault_repo: GitRepo) -> None:
    from unleak.agent.policy import TierLabels

    # The human labels the entry prod (a tier is never read from a file name the agent can choose).
    TierLabels().set((vault_repo.path / ".env").read_text().strip().split("=", 1)[1], "prod")
    GrantStore().add_grant(secrets=["*"], command=["*"], created_by="human", tier="prod")
    proc = subprocess.run([*UNLEAK_RUN[:-1], "--", PY, "stash.py"], cwd=vault_repo.path,
                          env=agent_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "prod-tier" in proc.stderr
    assert not (vault_repo.path / "stash.txt").exists()


# A launcher that starts `unleak run` in a real terminal in different ways; argv after the mode is the command.
LAUNCHER = textwrap.dedent("""\
    import os, subprocess, sys, time
    mode, cmd = sys.argv[1], sys.argv[2:]
    if mode == "direct":
        os.execv(cmd[0], cmd)
    if mode == "background":  # same terminal, but its own process group: a background job
        sys.exit(subprocess.Popen(cmd, process_group=0).wait())
    if mode == "orphan":  # double fork: keeps the terminal and the foreground group, loses its parents
        r, w = os.pipe()
        if os.fork() == 0:
            pid = os.fork()
            if pid == 0:
                os.close(r)
                os.close(w)
                os.execv(cmd[0], cmd)
            os.write(w, str(pid).encode())
            os._exit(0)
        os.close(w)
        pid = int(os.read(r, 32))
        os.wait()
        while True:  # wait until it has finished (a zombie nobody reaps counts as finished)
            try:
                state = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0]
            except OSError:
                break
            if state in "ZX":
                break
            time.sleep(0.05)
""")


@pytest.mark.parametrize(("mode", "env_extra", "policy", "allowed"), [
    ("direct", {}, None, True),  # the human at their terminal: no grant needed
    ("direct", {}, 'run_requires_grant = "never"', True),
    ("direct", {"CLAUDECODE": "1"}, None, False),  # markers are still hints that count
    ("direct", {}, 'run_requires_grant = "always"', False),
    ("background", {}, None, False),
    ("orphan", {}, None, False),
])
def test_terminal_origin(vault_repo: GitRepo, canary: str, tmp_path: Path, mode: str, env_extra: dict[str, str],
                         policy: str | None, allowed: bool) -> None:
    if policy is not None:
        write_policy(policy + "\n")
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER)
    code, out = in_terminal([PY, str(launcher), mode, *UNLEAK_RUN, PY, "stash.py"], vault_repo.path,
                            human_env(**env_extra))
    stash = vault_repo.path / "stash.txt"
    assert canary not in out
    if allowed:
        assert code == 0 and "stashed" in out, out
        assert stash.read_text() == canary[::-1]
    else:
        assert not stash.exists(), out
        assert "needs a grant" in out, out


def test_policy_value_is_validated(isolated_home: Path) -> None:
    from scanner.errors import ConfigError
    from unleak.agent.policy import load_policy

    with pytest.raises(ConfigError, match="run_requires_grant"):
        write_policy('run_requires_grant = "sometimes"\n')  # signing validates first
    write_policy('run_requires_grant = "always"\n')
    assert load_policy().run_requires_grant == "always"
    assert json.dumps(load_policy().run_requires_grant) == '"always"'


def test_run_started_below_a_coding_agent_needs_a_grant(vault_repo: GitRepo, canary: str, tmp_path: Path) -> None:
    """With every marker removed and a real terminal, a coding agent among the parents still counts."""
    agent = tmp_path / "claude"  # the process name Claude Code runs under
    agent.symlink_to(PY)
    launcher = tmp_path / "launcher.py"
    launcher.write_text("import subprocess, sys\nsys.exit(subprocess.call(sys.argv[1:]))\n")
    code, out = in_terminal([str(agent), str(launcher), *UNLEAK_RUN, PY, "stash.py"], vault_repo.path, human_env())
    assert code == 2 and "coding agent (claude)" in out, out
    assert not (vault_repo.path / "stash.txt").exists() and canary not in out
