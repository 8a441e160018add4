"""A fixed set of commands run on a generated repository, their outputs normalised so that two checkouts of unleak
can be compared byte for byte: scan in every mode and format, the fix plan, exposure, and the MCP server's answers.

The repository is rebuilt the same way on every run (seeded fake secrets, pinned author, dates and directory
names), so fingerprints and commit ids are stable. Normalisation replaces the temporary paths and timings only.
Values never reach the recording: every command's output is redacted, and :func:`record` refuses to return a
text that contains one of the planted values.

Record (from the checkout whose behaviour is the reference)::

    PYTHONPATH=/path/to/checkout python -m tests.recorded.outputs tests/data/recorded_outputs.json
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests import fakes
from tests.conftest import GIT_ENV

SEED = 18


@contextmanager
def _seeded() -> Iterator[None]:
    """tests.fakes draws from the ``secrets`` module; a seeded generator makes the same values every run."""
    rng = random.Random(SEED)
    real = fakes.secrets

    class _Seeded:
        choice = staticmethod(rng.choice)

    fakes.secrets = _Seeded  # type: ignore[assignment]
    try:
        yield
    finally:
        fakes.secrets = real


def _values() -> dict[str, str]:
    with _seeded():
        return {"pat": fakes.github_pat(), "aws_id": fakes.aws_access_key_id(), "aws_key": fakes.aws_secret_key(),
                "stripe": fakes.stripe_live_key(), "slack": fakes.slack_bot_token(), "pw": fakes.password(),
                "openai": fakes.openai_key(), "anthropic": fakes.anthropic_key(), "groq": fakes.groq_key()}


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True).stdout


def _write(repo: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text, encoding="utf-8")


def build(repo: Path, v: dict[str, str]) -> None:
    """History with a secret that was removed, committed .env and config files, a staged file, an unstaged
    change, and a diff file."""
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    for key, val in (("user.name", GIT_ENV["GIT_AUTHOR_NAME"]), ("user.email", GIT_ENV["GIT_AUTHOR_EMAIL"]),
                     ("commit.gpgsign", "false")):
        _git(repo, "config", key, val)

    def commit(message: str, files: dict[str, str]) -> None:
        _write(repo, files)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", message)

    commit("init", {"README.md": "# shop\n", "app.py": f"import os\n\nTOKEN = '{v['pat']}'\n",
                    "config/aws.yaml": f"aws_access_key_id: {v['aws_id']}\naws_secret_access_key: {v['aws_key']}\n"})
    commit("settings", {".env": f"STRIPE_API_KEY={v['stripe']}\nDB_PASSWORD={v['pw']}\nDEBUG=1\n",
                        "shop/settings.py": f"SLACK_TOKEN = \"{v['slack']}\"\nNAME = 'shop'\n"})
    commit("read the token from the environment", {"app.py": "import os\n\nTOKEN = os.environ['TOKEN']\n"})
    _write(repo, {"shop/llm.py": f"OPENAI_API_KEY = '{v['openai']}'\n"})
    _git(repo, "add", "shop/llm.py")
    _write(repo, {"README.md": f"# shop\n\nexport ANTHROPIC_API_KEY={v['anthropic']}\n"})
    (repo.parent / "change.diff").write_text(
        "diff --git a/shop/ai.py b/shop/ai.py\nnew file mode 100644\n--- /dev/null\n+++ b/shop/ai.py\n"
        f"@@ -0,0 +1,2 @@\n+import os\n+GROQ_API_KEY = \"{v['groq']}\"\n", encoding="utf-8")


FORMATS = ("text", "json", "sarif", "github")
COMMANDS: list[tuple[str, ...]] = [
    *(("scan", "--format", f) for f in FORMATS),
    *(("scan", "--staged", "--format", f) for f in FORMATS),
    ("scan", "--changes"),
    ("scan", "--changes", "--format", "json"),
    *(("scan", "--history", "--format", f) for f in FORMATS),
    ("scan", "--range", "HEAD~2..HEAD"),
    ("scan", "--range", "HEAD~2..HEAD", "--format", "json"),
    ("scan", "--diff", "../change.diff"),
    ("scan", "--diff", "../change.diff", "--format", "sarif"),
    ("scan", "--explain", "--min-confidence", "low"),
    ("scan", "--exit-zero", "shop/settings.py"),
    ("scan", "--no-group"),
    ("fix",),
    ("fix", "--json"),
    ("exposure",),
    ("exposure", "--format", "json"),
    ("exposure", "--format", "markdown"),
    ("secrets", "list"),
    ("scan", "--bogus-option-for-the-recording"),
]
# Outputs that changed on purpose with the restructuring (one format for usage errors), not compared.
INTENDED_CHANGES = {"scan --bogus-option-for-the-recording"}

_TIMING = re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|s|seconds?)\b")
_JSON_TIMING = re.compile(r'("(?:elapsed|duration|seconds|elapsed_ms|duration_ms|time_ms)"\s*:\s*)[0-9.e+-]+')


def normalise(text: str, repo: Path, home: Path, namespace: str | None = None) -> str:
    for path, name in ((repo, "<REPO>"), (repo.parent, "<TMP>"), (home, "<HOME>")):
        text = text.replace(str(path), name).replace(str(path.resolve()), name)
    if namespace is not None:  # the repository's own namespace carries a hash of where it is: recorded as "shop"
        text = text.replace(namespace, repo.name)
    text = _JSON_TIMING.sub(r"\1<T>", text)
    return _TIMING.sub("<T>", text)


def _mcp_answers(repo: Path, env: dict[str, str], v: dict[str, str]) -> dict[str, str]:
    import anyio
    from mcp import ClientSession, StdioServerParameters, stdio_client
    from mcp.types import Implementation

    diff = (repo.parent / "change.diff").read_text(encoding="utf-8")
    calls: list[tuple[str, dict[str, Any]]] = [
        ("scan", {}), ("scan", {"mode": "staged"}), ("scan", {"mode": "history"}),
        ("scan", {"mode": "range", "range": "HEAD~2..HEAD"}), ("check_diff", {"diff": diff}),
        ("list_secrets", {}), ("fix", {})]
    out: dict[str, str] = {}

    async def main() -> None:
        params = StdioServerParameters(command=sys.executable, args=["-m", "unleak", "mcp", "--read-only"],
                                       cwd=str(repo), env=env)
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(
                    read, write, client_info=Implementation(name="recorder", version="1")) as session:
                await session.initialize()
                tools = await session.list_tools()
                out["mcp tools"] = json.dumps(sorted(t.name for t in tools.tools))
                for name, args in calls:
                    res = await session.call_tool(name, args)
                    texts = [getattr(c, "text", "") for c in res.content]
                    out[f"mcp {name} {json.dumps(args, sort_keys=True) if name != 'check_diff' else '<diff>'}"] = (
                        json.dumps({"error": bool(res.is_error), "text": texts,
                                    "structured": res.structured_content}, indent=1, sort_keys=True))

    anyio.run(main)
    return out


def record(runner: Callable[..., subprocess.CompletedProcess[str]] | None = None) -> dict[str, str]:
    """Every command's exit code, stdout and stderr, normalised; keyed by the command line."""
    v = _values()
    with tempfile.TemporaryDirectory(prefix="unleak-rec-") as tmp:
        base = Path(tmp).resolve()
        home = base / "home"
        env = {k: val for k, val in os.environ.items() if not k.startswith(("GIT_", "UNLEAK_", "XDG_"))}
        env.update(GIT_ENV)
        env.update({"HOME": str(home), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
                    "NO_COLOR": "1", "COLUMNS": "120"})
        env.pop("GITHUB_ACTIONS", None)
        env.pop("FORCE_COLOR", None)
        for var, sub in (("XDG_DATA_HOME", ".local/share"), ("XDG_CONFIG_HOME", ".config"),
                         ("XDG_STATE_HOME", ".local/state"), ("XDG_CACHE_HOME", ".cache")):
            (home / sub).mkdir(parents=True, exist_ok=True)
            env[var] = str(home / sub)
        repo = base / "work" / "shop"
        build(repo, v)
        from remediate.vault.identity import repository_namespace

        ns = repository_namespace(repo, data_dir=home / ".local/share" / "unleak").namespace
        out: dict[str, str] = {}
        for args in COMMANDS:
            p = subprocess.run([sys.executable, "-m", "unleak", *args], cwd=repo, env=env, capture_output=True,
                               text=True, timeout=600)
            out[" ".join(args)] = normalise(f"exit {p.returncode}\n--- stdout\n{p.stdout}--- stderr\n{p.stderr}",
                                            repo, home, ns)
        for key, text in _mcp_answers(repo, env, v).items():
            out[key] = normalise(text, repo, home, ns)
    for key, text in out.items():
        for val in v.values():
            if val in text:
                raise AssertionError(f"a planted value appears in the output of {key}")
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {target}")
