"""Runs a composite action's steps the way the GitHub Actions runner does, on this machine.

It parses action.yml, resolves inputs (``with:`` values, else defaults), substitutes the ``${{ }}`` expressions the
runner would in ``env:`` values and outputs (``inputs.*``, ``github.*``, ``steps.<id>.outputs.*``, ``env.*``), gives
each step its own ``$GITHUB_OUTPUT`` file, runs ``run:`` with the runner's command line for its shell
(``bash --noprofile --norc -eo pipefail {0}``), and stops at the first failing step, like the runner.

Any other expression is an error here, on purpose: the action should need nothing more. A step's ``if:`` may
compare one expression with a quoted string (``==`` / ``!=``).

``uses: actions/cache/restore@v4`` and ``actions/cache/save@v4`` cannot run here; a FAKE stands in for them,
following their documented interface: inputs ``path`` and ``key``; restore's output ``cache-hit`` is true when a
saved copy of ``path`` exists for exactly ``key`` (and is then copied back); save stores ``path`` under ``key``
unless that key exists (cache entries are immutable). The cache lives in ``env["ACTIONS_CACHE_FAKE_DIR"]`` (a
test's directory), so runs can share it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
SHELLS = {"bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"], "sh": ["sh", "-e", "{0}"]}


@dataclass
class StepRun:
    id: str
    name: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


@dataclass
class ActionRun:
    steps: list[StepRun] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def returncode(self) -> int:
        return next((s.returncode for s in self.steps if s.returncode), 0)

    @property
    def stdout(self) -> str:
        return "".join(s.stdout for s in self.steps)

    @property
    def stderr(self) -> str:
        return "".join(s.stderr for s in self.steps)


def parse_output_file(text: str) -> dict[str, str]:
    """The $GITHUB_OUTPUT format: ``name=value`` lines and ``name<<DELIM`` … ``DELIM`` blocks."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1:j])
            i = j + 1
            continue
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
        i += 1
    return out


def _lookup(expr: str, ctx: dict[str, Any]) -> str:
    parts = expr.split(".")
    cur: Any = ctx
    for p in parts:
        if not isinstance(cur, dict) or p not in cur:
            if parts[0] in ("env", "steps") and isinstance(cur, dict):
                return ""  # the runner yields an empty string for a missing env var or step output
            raise AssertionError(f"unsupported expression ${{{{ {expr} }}}}")
        cur = cur[p]
    return "" if cur is None else str(cur)


def substitute(text: str, ctx: dict[str, Any]) -> str:
    return EXPR.sub(lambda m: _lookup(m.group(1), ctx), text)


def _condition(expr: str, ctx: dict[str, Any]) -> bool:
    m = re.fullmatch(r"\s*([\w.-]+)\s*(==|!=)\s*'([^']*)'\s*", expr)
    assert m, f"unsupported if: {expr!r}"
    value = _lookup(m.group(1), ctx)
    return (value == m.group(3)) == (m.group(2) == "==")


def _fake_cache(step: dict[str, Any], ctx: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    uses = str(step["uses"])
    kind = uses.split("@")[0]
    assert kind in ("actions/cache/restore", "actions/cache/save"), f"only actions/cache is faked here, not {uses}"
    with_ = {k: substitute(str(v), ctx) for k, v in (step.get("with") or {}).items()}
    assert set(with_) <= {"path", "key", "restore-keys"} and with_.get("path") and with_.get("key"), with_
    store = Path(env["ACTIONS_CACHE_FAKE_DIR"]) if env.get("ACTIONS_CACHE_FAKE_DIR") else None
    path = Path(with_["path"])
    if store is None:
        return {"cache-hit": "false"} if kind.endswith("restore") else {}
    entry = store / re.sub(r"[^\w.-]", "_", with_["key"])
    if kind.endswith("save"):
        if path.is_dir() and not entry.exists():
            shutil.copytree(path, entry, symlinks=True)
        return {}
    if entry.is_dir():
        if path.exists():
            shutil.rmtree(path)
        shutil.copytree(entry, path, symlinks=True)
        return {"cache-hit": "true"}
    return {"cache-hit": "false"}


def run_action(action_dir: Path, *, with_: dict[str, str], env: dict[str, str], github: dict[str, str],
               timeout: float = 300) -> ActionRun:
    meta = yaml.safe_load((action_dir / "action.yml").read_text())
    assert meta["runs"]["using"] == "composite"
    inputs: dict[str, str] = {}
    ctx: dict[str, Any] = {"github": github, "env": env, "steps": {}, "inputs": inputs}
    for name, spec in (meta.get("inputs") or {}).items():
        default = str(spec.get("default", "")) if spec.get("default") is not None else ""
        inputs[name] = with_[name] if name in with_ else substitute(default, ctx)
    unknown = set(with_) - set(inputs)
    assert not unknown, f"inputs not declared in action.yml: {unknown}"
    result = ActionRun()
    tmp = Path(env["RUNNER_TEMP"])
    for n, step in enumerate(meta["runs"]["steps"]):
        sid = step.get("id", f"__{n}")
        if "if" in step and not _condition(str(step["if"]), ctx):
            ctx["steps"][sid] = {"outputs": {}, "outcome": "skipped"}
            continue
        if "uses" in step:
            outputs = _fake_cache(step, ctx, env)
            ctx["steps"][sid] = {"outputs": outputs, "outcome": "success"}
            result.steps.append(StepRun(sid, step.get("name", ""), 0, "", "", outputs))
            continue
        assert "run" in step, "only run: steps and actions/cache are supported here"
        assert "${{" not in step["run"], "expressions in a script are an injection risk: pass them through env:"
        shell = step.get("shell")
        assert shell in SHELLS, f"step {n}: shell must be set in a composite action (got {shell!r})"
        out_file = tmp / f"output_{n}"
        out_file.write_text("")
        script = tmp / f"step_{n}.sh"
        script.write_text(step["run"])
        step_env = {**os.environ, **env, "GITHUB_OUTPUT": str(out_file)}
        for k, v in (step.get("env") or {}).items():
            step_env[k] = substitute(str(v), ctx)
        cwd = Path(substitute(step.get("working-directory", ""), ctx) or env["GITHUB_WORKSPACE"])
        argv = [str(script) if a == "{0}" else a for a in SHELLS[shell]]
        p = subprocess.run(argv, cwd=cwd, env=step_env, capture_output=True, text=True, timeout=timeout,
                           check=False)
        outputs = parse_output_file(out_file.read_text())
        ctx["steps"][sid] = {"outputs": outputs, "outcome": "success" if p.returncode == 0 else "failure"}
        result.steps.append(StepRun(sid, step.get("name", ""), p.returncode, p.stdout, p.stderr, outputs))
        if p.returncode != 0:
            break
    for name, spec in (meta.get("outputs") or {}).items():
        result.outputs[name] = substitute(str(spec["value"]), ctx)
    return result
