"""Answer equivalence: whatever an agent sends (tool arguments and the files it plants in the repository), the bytes
of every MCP answer are the same whether the vault holds value A or value B.

Two worlds side by side, each a real `unleak mcp` server over stdio with its own home (vault, grants, audit log)
and a repository of the same name; they differ only in the vault's values. Hypothesis builds the agent's inputs
from random text and from pieces of both values in the forms an oracle would use (prefixes and windows of the raw,
hex and base64 forms), never the whole of a form (an agent that already holds a value learns nothing). The `run`
under a grant injects a secret whose value is the same in both worlds; values that reach a granted child are the
one documented exception to the property, and even those only reach the child.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat
from tests.unleak.test_mcp import CLIENT, Agent

pytest.importorskip("mcp")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402

ECHO = "import sys\nprint(' '.join(sys.argv[1:]))\nprint(open('planted.txt').read())\n"


def _pem(rng: Any) -> str:
    body = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(150))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"


class World:
    def __init__(self, base: Path, values: dict[str, str]) -> None:
        self.home = base / "home"
        self.env = {**os.environ, "HOME": str(self.home)}
        for var, sub in (("XDG_DATA_HOME", ".local/share"), ("XDG_CONFIG_HOME", ".config"),
                         ("XDG_STATE_HOME", ".local/state"), ("XDG_CACHE_HOME", ".cache")):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
            self.env[var] = str(self.home / sub)
        self.repo = GitRepo(base / "repo")
        self.repo.path.mkdir(parents=True)
        self.repo.git("init", "-q", "-b", "main")
        self.repo.commit("app", {"echo.py": ECHO, "planted.txt": "x\n", "README.md": "demo\n",
                                 ".env": "TOKEN=unleak://repo/TOKEN\nOTHER=unleak://repo/OTHER\n",
                                 ".env.run": "OTHER=unleak://repo/OTHER\n"})
        script = ("import sys, json\nfrom remediate.vault import open_vault\n"
                  "for key, v in json.load(sys.stdin).items():\n"
                  "    ns, name = key.split('/')\n"
                  f"    open_vault(namespace=ns, repo_path={str(self.repo.path)!r}).put(name, v)\n")
        import subprocess

        subprocess.run([sys.executable, "-c", script], input=json.dumps(values), text=True, check=True,
                       env=self.env, cwd=self.repo.path)
        res = run_cli("grant", "--secrets", "OTHER", "--command", f"{sys.executable} echo.py *", "--ttl", "30m",
                      cwd=self.repo.path, env={k: v for k, v in self.env.items() if k != "PYTHONPATH"} | {
                          "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
        assert res.returncode == 0, res.stderr

    def plant(self, files: dict[str, str]) -> None:
        for rel, text in files.items():
            (self.repo.path / rel).write_text(text, encoding="utf-8")


@asynccontextmanager
async def _session(world: World) -> AsyncIterator[Agent]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "unleak", "mcp"], cwd=str(world.repo.path),
                                   env=world.env)
    async with stdio_client(params, errlog=sys.stderr) as (read, write), ClientSession(
        read, write, client_info=CLIENT
    ) as session:
        await session.initialize()
        yield Agent(session)


@contextmanager
def _agents(worlds: list[World]) -> Iterator[list[Any]]:
    from anyio.from_thread import start_blocking_portal

    with start_blocking_portal() as portal:
        cms = [portal.wrap_async_context_manager(_session(w)) for w in worlds]
        agents = [cm.__enter__() for cm in cms]
        try:
            yield [(portal, a) for a in agents]
        finally:
            for cm in reversed(cms):
                cm.__exit__(None, None, None)


# Things unleak chooses at random or by the clock; nothing to do with a value.
_VOLATILE = [
    (re.compile(r"\b([rgs])-[a-z2-9]{8}\b"), r"\1-ID"),
    (re.compile(r'("(?:grant_)?expires_in_seconds": )\d+'), r"\g<1>0"),
    (re.compile(r"http://127\.0\.0\.1:\d+/\w+/[\w-]+"), "URL"),
]


def _normalise(answer: dict[str, Any], world: World) -> str:
    text = json.dumps(answer, sort_keys=True, ensure_ascii=False)
    text = text.replace(str(world.repo.path), "<ROOT>").replace(str(world.home), "<HOME>")
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text


def _forms(value: str) -> list[str]:
    raw = value.encode()
    return [value, *value.splitlines(), raw.hex(), base64.b64encode(raw).decode(),
            base64.b64encode(b"\0" + raw).decode()[2:], base64.urlsafe_b64encode(raw).decode()]


@pytest.mark.slow
def test_every_answer_is_the_same_for_value_a_and_value_b(tmp_path: Path) -> None:
    import random

    from unleak.masking import encoded_forms

    rng = random.Random(1313)
    pairs = {"repo/TOKEN": (github_pat(), github_pat()), "payments-prod/STRIPE_KEY": (github_pat(), github_pat()),
             "repo/DEPLOY_KEY": (_pem(rng), _pem(rng))}
    same = {"repo/OTHER": github_pat()}
    worlds = [World(tmp_path / side, {**{k: v[i] for k, v in pairs.items()}, **same})
              for i, side in enumerate("AB")]
    all_values = [v for pair in pairs.values() for v in pair]
    whole = {f for v in all_values for f in encoded_forms(v) if len(f) >= 8} | set(all_values)
    pieces_src = [f for v in all_values for f in _forms(v)]

    @st.composite
    def piece(draw: Any) -> str:
        """A prefix, window or suffix of one form of one value: what a prefix or window oracle plants."""
        src = draw(st.sampled_from(pieces_src))
        start = draw(st.one_of(st.just(0), st.integers(0, max(0, len(src) - 2))))
        stop = draw(st.integers(start + 1, len(src)))
        return src[start:stop]

    noise = st.text("abcXYZ_0189-./ ", max_size=6)
    # A piece at the end of a string is what a prefix oracle plants; in the middle, what a window oracle plants.
    fragment = st.one_of(st.tuples(noise, piece()), st.tuples(piece(), noise), st.tuples(noise, noise)).map("".join)

    ident = fragment.map(lambda s: "Q_" + re.sub(r"[^A-Za-z0-9_]", "_", s))
    hexname = fragment.map(lambda s: "Q_" + s.encode().hex())
    refs = st.sampled_from(["unleak://repo/X", "unleak://payments-prod/Y"])
    planted = st.dictionaries(st.one_of(ident, hexname), refs, max_size=6).map(
        lambda d: "".join(f"{k}={v}\n" for k, v in d.items()))
    # One call of every tool per example (run twice: without a grant, and under the grant).
    calls = st.tuples(
        st.tuples(st.just("list_secrets"), st.just({})),
        st.tuples(st.just("scan"), st.fixed_dictionaries(
            {"paths": st.lists(fragment, max_size=2)},
            optional={"min_confidence": st.sampled_from(["high", "medium", "low", "unlikely"])})),
        st.tuples(st.just("check_diff"), fragment.map(
            lambda s: {"diff": f"--- a/f.py\n+++ b/f.py\n@@ -0,0 +1 @@\n+token = {s!r}\n"})),
        st.tuples(st.just("fix"), st.just({"paths": ["planted.txt"]})),
        st.tuples(st.just("run"), st.fixed_dictionaries({"argv": st.lists(fragment, min_size=1, max_size=3)})),
        st.tuples(st.just("run"), st.lists(fragment, max_size=3).map(
            lambda a: {"argv": [sys.executable, "echo.py", *a], "env_file": ".env.run"})),
        st.tuples(st.just("request_secret"), st.tuples(ident, fragment).map(
            lambda t: {"name": t[0][:100], "reason": t[1]})),
    )

    seen: set[str] = set()
    with _agents(worlds) as agents:

        # No shrinking: each step costs a dozen MCP calls, and the failing example is reported as found.
        @settings(max_examples=int(os.environ.get("UNLEAK_EQUIVALENCE_EXAMPLES", "8")), deadline=None,
                  database=None, suppress_health_check=list(HealthCheck), phases=(Phase.generate,))
        @given(env_text=planted, content=fragment, tool_calls=calls)
        def check(env_text: str, content: str, tool_calls: tuple[tuple[str, dict[str, Any]], ...]) -> None:
            sent = env_text + content + json.dumps(tool_calls)
            hypothesis.assume(not any(f in sent for f in whole))
            for world in worlds:
                world.plant({".env.oracle": env_text, "planted.txt": content + "\n"})
            for name, args in tool_calls:
                answers = [_normalise(portal.call(agent.call, name, args), world)
                           for world, (portal, agent) in zip(worlds, agents, strict=True)]
                assert answers[0] == answers[1], (name, args)
                seen.add(name + ":" + str(json.loads(answers[0]).get("status", "-")))

        check()
    # The examples reached every tool, and runs both under the grant and without one.
    assert {x.split(":")[0] for x in seen} == {"list_secrets", "scan", "check_diff", "fix", "run", "request_secret"}
    assert {"run:ran", "run:approval_required"} <= seen, seen
