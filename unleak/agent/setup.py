"""``unleak agent install claude-code|codex`` and ``unleak doctor``: an agent's own settings that match the boundary
``unleak agent`` enforces, and one table saying which guarantees hold on this machine for this configuration.

An agent's own sandbox is a second fence, not the boundary: Claude Code's Read/Edit deny rules and its Bash
sandbox, Codex's ``workspace-write`` sandbox and the hooks of issue 10 keep an agent from *trying*; Landlock under
``unleak agent`` is what makes the try fail. The doctor says which of them are in place, and never claims one that
is not.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError, UsageError
from unleak.agent.hook_installers import InstallResult

AGENTS = ("claude-code", "codex")


def unleak_command() -> list[str]:
    """unleak as an absolute command line: the agent's PATH is not the human's (and a relative name on it is
    something the agent can shadow)."""
    found = shutil.which("unleak")
    # -P: the agent's repository (the working directory) is not searched for modules, so an ``unleak/`` package
    # there is not what runs.
    return [os.path.realpath(found)] if found else [sys.executable, "-P", "-m", "unleak"]


def _protected_dirs() -> list[Path]:
    from unleak.confine import unleak_dirs

    return [Path(os.path.realpath(d)) for d in unleak_dirs()]


def claude_deny_rules() -> list[str]:
    """Claude Code permission rules for unleak's directories (``//`` starts an absolute path in its rules)."""
    return [f"{tool}(/{d}/**)" for d in _protected_dirs() for tool in ("Read", "Edit")]


def _load_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); fix or move it, then run the install again") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    return doc


def _claude_sandbox(settings: Path) -> InstallResult:
    """Claude Code's own Bash sandbox on, without fallback to unsandboxed commands, and Read/Edit denied under
    unleak's directories; everything else in the file is kept."""
    from scanner.fileio import write_project_file

    doc = _load_json(settings)
    added: list[str] = []
    sandbox = doc.setdefault("sandbox", {})
    perms = doc.setdefault("permissions", {})
    if not isinstance(sandbox, dict) or not isinstance(perms, dict) or not isinstance(perms.setdefault("deny", []),
                                                                                      list):
        raise ConfigError(f"{settings}: 'sandbox' and 'permissions' must be objects, 'permissions.deny' a list")
    for key, value in (("enabled", True), ("allowUnsandboxedCommands", False)):
        if sandbox.get(key) != value:
            sandbox[key] = value
            added.append(f"sandbox.{key}")
    missing = [r for r in claude_deny_rules() if r not in perms["deny"]]
    if missing:
        perms["deny"].extend(missing)
        added.append(f"permissions.deny (unleak's directories, {len(missing)} rules)")
    if added:
        settings.parent.mkdir(parents=True, exist_ok=True)
        write_project_file(settings, json.dumps(doc, indent=2) + "\n")
    return InstallResult(settings, bool(added), added)


def _codex_sandbox(config: Path) -> InstallResult:
    """``sandbox_mode = "workspace-write"`` at the top of Codex's config.toml (a top-level key after a table would
    belong to that table); an existing choice is the user's and is left alone."""
    import tomllib

    from scanner.fileio import write_project_file

    text = config.read_text(encoding="utf-8") if config.exists() else ""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config}: not valid TOML ({exc}); fix it, then run the install again") from None
    if "sandbox_mode" in doc:
        return InstallResult(config, False)
    new = 'sandbox_mode = "workspace-write"\n' + text
    if tomllib.loads(new).get("sandbox_mode") != "workspace-write":  # pragma: no cover - guarded above
        raise ConfigError(f"{config}: could not add sandbox_mode without changing its meaning")
    config.parent.mkdir(parents=True, exist_ok=True)
    write_project_file(config, new)
    return InstallResult(config, True, ["sandbox_mode"])


def install(agent: str, project: Path, scope: str = "project",
            command: Sequence[str] | None = None) -> list[InstallResult]:
    """The agent's sandbox/permission settings, the hooks and the MCP entry, all naming unleak by absolute path."""
    from unleak.agent import agent_hooks, hook_installers

    cmd = list(command or unleak_command())
    line = shlex.join(cmd)
    if agent == "claude-code":
        settings = hook_installers.claude_settings_path(scope, project)
        return [
            _claude_sandbox(settings),
            hook_installers.install_claude_code(settings, command=f"{line} hook claude-code"),
            agent_hooks.install_mcp(agent, agent_hooks.agent_config_path(agent, "mcp", scope, project),
                                    command=cmd[0], args=(*cmd[1:], "mcp")),
        ]
    if agent == "codex":
        config = agent_hooks.agent_config_path(agent, "mcp", scope, project)
        return [
            _codex_sandbox(config),
            agent_hooks.install_codex_hooks(agent_hooks.agent_config_path(agent, "hooks", scope, project),
                                            command=f"{line} hook codex"),
            agent_hooks.install_mcp(agent, config, command=cmd[0], args=(*cmd[1:], "mcp")),
        ]
    raise UsageError(f"unknown agent {agent!r}; use one of {', '.join(AGENTS)}")


# ---------------------------------------------------------------------------------------------------- doctor


@dataclass(frozen=True)
class Check:
    """One row of ``unleak doctor``: ``ok`` True (holds), False (does not), None (not applicable / not found)."""

    name: str
    ok: bool | None
    detail: str

    @property
    def status(self) -> str:
        return {True: "ok", False: "NO", None: "-"}[self.ok]


_PROG = re.compile(r"command -v (\S+)")


def _hook_program(line: str) -> str | None:
    m = _PROG.match(line)
    if not m:
        return None
    try:
        return shlex.split(m.group(1))[0]
    except (ValueError, IndexError):
        return None


def _hooks_check(agent: str, path: Path, groups: Any) -> Check:
    name = f"{agent}: hooks"
    lines = [h.get("command", "") for g in (groups if isinstance(groups, list) else []) if isinstance(g, dict)
             for h in (g.get("hooks") or []) if isinstance(h, dict) and f"hook {agent}" in str(h.get("command", ""))]
    if not lines:
        return Check(name, False, f"not installed in {path}: `unleak agent install {agent}`")
    progs = {_hook_program(str(line)) for line in lines}
    if all(p is not None and os.path.isabs(p) and os.access(p, os.X_OK) for p in progs):
        return Check(name, True, f"{path}, unleak by absolute path ({', '.join(sorted(p or '' for p in progs))})")
    return Check(name, False, f"{path}: unleak by a name the agent's PATH decides, or a path that does not run; "
                              f"`unleak agent install {agent}` writes the absolute path")


def _mcp_check(agent: str, path: Path, servers: Any) -> Check:
    entry = servers.get("unleak") if isinstance(servers, dict) else None
    if not isinstance(entry, dict):
        return Check(f"{agent}: MCP server", False, f"no `unleak` entry in {path}")
    prog = str(entry.get("command", ""))
    ok = os.path.isabs(prog) and os.access(prog, os.X_OK)
    return Check(f"{agent}: MCP server", ok, f"{path}: {shlex.join([prog, *map(str, entry.get('args') or [])])}"
                 + ("" if ok else " (not an absolute path to a program)"))


def agent_checks(agent: str, project: Path, scope: str = "project") -> list[Check]:
    """What ``agent``'s configuration in ``project`` (or the user's) sets up, row by row."""
    import tomllib

    from unleak.agent import agent_hooks, hook_installers

    if agent == "claude-code":
        settings = hook_installers.claude_settings_path(scope, project)
        doc = _load_json(settings)
        raw_sandbox, raw_perms = doc.get("sandbox"), doc.get("permissions")
        sandbox: dict[str, Any] = raw_sandbox if isinstance(raw_sandbox, dict) else {}
        deny = raw_perms.get("deny") or [] if isinstance(raw_perms, dict) else []
        missing = [r for r in claude_deny_rules() if r not in deny]
        on = bool(sandbox.get("enabled")) and sandbox.get("allowUnsandboxedCommands") is False
        mcp_path = agent_hooks.agent_config_path(agent, "mcp", scope, project)
        return [
            Check(f"{agent}: sandbox settings", on and not missing,
                  f"{settings}: Bash sandbox {'on' if sandbox.get('enabled') else 'off'}"
                  f"{', no unsandboxed fallback' if sandbox.get('allowUnsandboxedCommands') is False else ''}; "
                  + ("Read/Edit of unleak's directories denied" if not missing
                     else f"{len(missing)} deny rules for unleak's directories missing")),
            _hooks_check(agent, settings, (doc.get("hooks") or {}).get("PreToolUse")
                         if isinstance(doc.get("hooks"), dict) else None),
            _mcp_check(agent, mcp_path, _load_json(mcp_path).get("mcpServers")),
        ]
    if agent == "codex":
        config = agent_hooks.agent_config_path(agent, "mcp", scope, project)
        try:
            toml = tomllib.loads(config.read_text(encoding="utf-8")) if config.exists() else {}
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            toml = {}
        mode = toml.get("sandbox_mode")
        hooks_path = agent_hooks.agent_config_path(agent, "hooks", scope, project)
        hdoc = _load_json(hooks_path)
        return [
            Check(f"{agent}: sandbox settings", mode in ("workspace-write", "read-only"),
                  f"{config}: sandbox_mode = {mode or '(unset)'} (Codex's sandbox limits writes; reads of unleak's "
                  "directories are stopped only by `unleak agent`)"),
            _hooks_check(agent, hooks_path, (hdoc.get("hooks") or {}).get("PreToolUse")
                         if isinstance(hdoc.get("hooks"), dict) else None),
            _mcp_check(agent, config, toml.get("mcp_servers")),
        ]
    raise UsageError(f"unknown agent {agent!r}; use one of {', '.join(AGENTS)}")


def _keyring_check() -> Check:
    from remediate.vault.keystore import usable_keyring
    from remediate.vault.local import user_data_dir

    kr = usable_keyring()
    if kr is None:
        return Check("keyring backend", True, f"none: the vault key is the 0600 file in {user_data_dir()}, which "
                                              "Landlock keeps from the agent")
    name = f"{type(kr).__module__}.{type(kr).__name__}"
    return Check("keyring backend", False,
                 f"{name}: holds the vault key, and a keyring daemon answers any process of the user (Landlock does "
                 "not cover D-Bus); set PYTHON_KEYRING_BACKEND=keyring.backends.fail.Keyring for `unleak agent`")


def machine_checks() -> list[Check]:
    from unleak import confine, reaper
    from unleak.agent import sandboxenv

    version = confine.abi()
    rows = [
        Check("Landlock", version > 0,
              f"ABI {version}: unleak's directories out of the agent's reach" if version > 0 else
              "missing (Linux >= 5.13 with landlock in the LSM list): `unleak agent` runs the agent UNCONFINED; "
              "on macOS a sandbox-exec profile is planned, not built"),
        Check("Landlock TCP rules", version >= confine.NET_ABI,
              f"ABI {version}: the agent connects only to allowed ports, never to the approval page"
              if version >= confine.NET_ABI else
              f"need ABI {confine.NET_ABI} (Linux >= 6.7): the agent can reach the approval page's port"),
        Check("Landlock scoping", version >= 6,
              "ABI >= 6: no signals to, or abstract sockets of, processes outside the sandbox" if version >= 6 else
              "need ABI 6: the agent can signal unleak's processes"),
        Check("child subreaper", reaper.become_subreaper(),
              "runs and the agent's tree are collected and killed at exit, timeout, revoke and expiry"),
        _keyring_check(),
    ]
    if sandboxenv.inside():
        # Opened for real: access(2) answers from file modes only and does not see Landlock.
        try:
            os.listdir(confine.unleak_dirs()[0])
            readable = True
        except OSError:
            readable = False
        rows.append(Check("this shell", not readable,
                          "inside `unleak agent`: unleak's directories are "
                          + ("READABLE here" if readable else "not readable here")))
    return rows


def checks(project: Path, agents: Sequence[str] = ()) -> list[Check]:
    """The machine's rows, then each agent's (``agents`` empty: the agents configured in ``project``)."""
    from unleak.agent import agent_hooks, hook_installers

    rows = machine_checks()
    chosen = list(agents)
    if not chosen:
        found = {"claude-code": [hook_installers.claude_settings_path("project", project),
                                 agent_hooks.agent_config_path("claude-code", "mcp", "project", project)],
                 "codex": [agent_hooks.agent_config_path("codex", "mcp", "project", project),
                           agent_hooks.agent_config_path("codex", "hooks", "project", project)]}
        chosen = [a for a, paths in found.items() if any(p.exists() for p in paths)]
        if not chosen:
            rows.append(Check("agent settings", None, f"no Claude Code or Codex settings in {project}: "
                                                      "`unleak agent install claude-code|codex`"))
    for agent in chosen:
        rows.extend(agent_checks(agent, project))
    return rows


def table(rows: Sequence[Check]) -> str:
    width = max(len(r.name) for r in rows)
    return "\n".join(f"{r.name:<{width}}  {r.status:<3}  {r.detail}" for r in rows)
