"""Wire moved secrets into GitHub Actions workflows: ``env:`` on the steps that run the repository's code.

Once ``unleak fix`` against the repository's Actions secrets has rewritten the code to read ``NAME`` from the
environment, the workflows that run that code must pass ``NAME: ${{ secrets.NAME }}`` to it. The secret goes to
the narrowest place that works — the ``env:`` of each ``run:`` step — never to a whole job or workflow (where every
third-party action of the job would see it) and never to a ``uses:`` step.

Which steps: in a job that checks the repository out (``actions/checkout``), the ``run:`` steps after the checkout
whose commands name a rewritten file (its path, its directory or its module) or run code (a test runner, an
interpreter, a build tool) and are not only installing dependencies. A workflow or job that already sets ``NAME``
is left alone; a step whose ``env:`` is not a plain block mapping (an expression, a flow mapping) is reported
instead of edited.

As in :mod:`remediate.codemods.workflow`, PyYAML only finds places; the edit inserts lines into the text, so
comments and layout stay. The result is parsed again: every value that was there reads the same, and each wired
step's ``env`` holds exactly the expected entries, else the file is left as it was.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from remediate.codemods.workflow import _compose, _scalars

if TYPE_CHECKING:
    from yaml import MappingNode, Node

# A command that runs code (the repository's, through a runner) ...
_RUNS_CODE = re.compile(
    r"(?:^|[\s;&|(])(?:pytest|py\.test|tox|nox|python[0-9.]*|pipenv\s+run|poetry\s+run|uv\s+run|hatch\s+run|"
    r"pdm\s+run|node|npm|npx|yarn|pnpm|bun|deno|go\s+(?:test|run)|cargo\s+(?:test|run)|make|mvn|\./mvnw|gradle|"
    r"\./gradlew|rake|bundle\s+exec|ruby|php|composer\s+(?:test|run)|dotnet\s+(?:test|run)|java|flask|django-admin|"
    r"uvicorn|gunicorn|celery|manage\.py|\./[\w./-]+|bash\s+[\w./-]+|sh\s+[\w./-]+)(?=$|[\s;&|)])")
# ... unless all it does is install or set up.
_SETUP_ONLY = re.compile(
    r"^\s*(?:python[0-9.]*\s+-m\s+)?(?:pip[0-9.]*\s+install|pipx\s+install|npm\s+(?:ci|install|i)|yarn(?:\s+install)?"
    r"|pnpm\s+(?:install|i)|bun\s+install|poetry\s+install|uv\s+(?:sync|pip\s+install)|pdm\s+install|"
    r"bundle(?:\s+install)?|composer\s+install|go\s+mod\s+download|cargo\s+fetch|apt(?:-get)?\s|sudo\s|echo\s|"
    r"cd\s|export\s|git\s|mkdir\s|ls\b|cat\s|python[0-9.]*\s+--version|node\s+--version)")


@dataclass
class Wiring:
    """What wiring one workflow did: the new text (None: unchanged) and what to tell the reviewer."""

    text: str | None = None
    wired: list[str] = field(default_factory=lambda: [])  # "job `test`, step `pytest`: NAME, OTHER"
    manual: list[str] = field(default_factory=lambda: [])


def _get(node: Node, key: str) -> Node | None:
    from yaml import MappingNode, ScalarNode

    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == key:
                found: Node = v
                return found
    return None


def _keys_of(node: Node | None) -> set[str]:
    from yaml import MappingNode, ScalarNode

    if not isinstance(node, MappingNode):
        return set()
    return {str(k.value) for k, _ in node.value if isinstance(k, ScalarNode)}


def _hints(code_paths: Collection[str]) -> set[str]:
    """Words that, in a command, name a rewritten file: its path, its file name, its directories, its module."""
    out: set[str] = set()
    for raw in code_paths:
        p = PurePosixPath(raw.replace("\\", "/"))
        out |= {str(p), p.name}
        if p.suffix:
            stem = p.with_suffix("")
            out.add(".".join(stem.parts))  # app/payments.py -> app.payments
        out |= {part for part in p.parts[:-1] if len(part) > 2 and part not in (".", "src", "lib")}
    return {h for h in out if h}


def runs_code(command: str, hints: Collection[str]) -> bool:
    """Whether a ``run:`` script runs the repository's code (and so may read the moved secrets)."""
    for line in command.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if any(re.search(r"(?<![\w.-])" + re.escape(h) + r"(?![\w-])", line) for h in hints):
            return True
        if _RUNS_CODE.search(" " + line) and not _SETUP_ONLY.match(line):
            return True
    return False


def _steps(root: Node) -> Iterator[tuple[str, Node, int, MappingNode]]:
    """(job id, job, index, step) for every step after a checkout in each job."""
    from yaml import MappingNode, ScalarNode, SequenceNode

    jobs = _get(root, "jobs")
    if not isinstance(jobs, MappingNode):
        return
    for k, job in jobs.value:
        steps = _get(job, "steps")
        if not isinstance(k, ScalarNode) or not isinstance(steps, SequenceNode):
            continue
        checked_out = False
        for i, step in enumerate(steps.value):
            if not isinstance(step, MappingNode):
                continue
            uses = _get(step, "uses")
            if isinstance(uses, ScalarNode) and str(uses.value).split("@", 1)[0].lower() == "actions/checkout":
                checked_out = True
                continue
            if checked_out:
                yield str(k.value), job, i, step


def _end_line(node: Node) -> int:
    """The 0-based line before which text placed after ``node`` goes."""
    from yaml import MappingNode, SequenceNode

    children: list[Node] = []
    if isinstance(node, MappingNode):
        children = [n for kv in node.value for n in kv]
    elif isinstance(node, SequenceNode):
        children = list(node.value)
    if children:
        return max(_end_line(c) for c in children)
    end = node.end_mark
    return int(end.line) if end.column == 0 else int(end.line) + 1


def _step_label(step: Node, index: int) -> str:
    from yaml import ScalarNode

    name = _get(step, "name")
    if isinstance(name, ScalarNode) and name.value:
        return f"`{name.value}`"
    run = _get(step, "run")
    first = str(run.value).strip().splitlines()[0] if isinstance(run, ScalarNode) and run.value.strip() else ""
    return f"#{index + 1} (`{first[:60]}`)" if first else f"#{index + 1}"


def wire(text: str, expressions: Mapping[str, str], code_paths: Collection[str]) -> Wiring:
    """Add ``NAME: <expression>`` to the ``env:`` of each step in ``text`` that runs the code in ``code_paths``.

    ``expressions`` maps each environment variable the code now reads to the workflow expression that supplies it
    (``${{ secrets.NAME }}``)."""
    from yaml import MappingNode, ScalarNode

    root = _compose(text)
    if isinstance(root, str) or root is None or not expressions:
        return Wiring()
    hints = _hints(code_paths)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    inserts: list[tuple[int, list[str]]] = []
    expected: dict[tuple[str, int], dict[str, str]] = {}
    out = Wiring()
    set_above = _keys_of(_get(root, "env"))
    for job_id, job, index, step in _steps(root):
        run = _get(step, "run")
        if not isinstance(run, ScalarNode) or not runs_code(str(run.value), hints):
            continue
        env = _get(step, "env")
        have = set_above | _keys_of(_get(job, "env")) | _keys_of(env)
        missing = [n for n in expressions if n not in have]
        if not missing:
            continue
        where = f"job `{job_id}`, step {_step_label(step, index)}"
        if step.flow_style or (env is not None and (
                not isinstance(env, MappingNode) or env.flow_style or not env.value)):
            why = "the step is written in flow style" if step.flow_style else "its `env:` is not a block mapping"
            out.manual.append(f"{where}: {why}; add " +
                              ", ".join(f"`{n}: {expressions[n]}`" for n in missing) + " by hand")
            continue
        if isinstance(env, MappingNode):
            indent = int(env.value[0][0].start_mark.column)
            new = [" " * indent + f"{n}: {expressions[n]}\n" for n in missing]
            at = _end_line(env)
        else:
            indent = int(step.value[0][0].start_mark.column)
            new = [" " * indent + "env:\n"] + [" " * (indent + 2) + f"{n}: {expressions[n]}\n" for n in missing]
            at = _end_line(step)
        inserts.append((min(at, len(lines)), new))
        expected[(job_id, index)] = {n: expressions[n] for n in missing}
        out.wired.append(f"{where}: " + ", ".join(missing))
    if not inserts:
        return out
    # Each insertion goes before the blank lines that end its step where that reads the same (a `|+` script keeps
    # them as its own).
    tidy = [False] * len(inserts)
    if not _reads_as_intended(text, _insert(lines, inserts, tidy), expected):
        return Wiring(manual=[*out.manual, *(f"{w} — could not be added without changing the workflow's meaning; "
                                            "add it by hand" for w in out.wired)])
    for i in range(len(inserts)):
        tidy[i] = True
        tidy[i] = _reads_as_intended(text, _insert(lines, inserts, tidy), expected)
    out.text = _insert(lines, inserts, tidy)
    return out


def _insert(lines: list[str], inserts: list[tuple[int, list[str]]], tidy: list[bool]) -> str:
    out = list(lines)
    for (at, new), back in sorted(zip(inserts, tidy, strict=True), key=lambda x: x[0][0], reverse=True):
        while back and at > 0 and not out[at - 1].strip():
            at -= 1
        out[at:at] = new
    return "".join(out)


def _reads_as_intended(before: str, after: str, expected: Mapping[tuple[str, int], Mapping[str, str]]) -> bool:
    """Every scalar of ``before`` reads the same in ``after``, and the only new ones are the expected env entries."""
    old = _compose(before)
    new = _compose(after)
    if isinstance(new, str) or new is None or isinstance(old, str) or old is None:
        return False
    got = {path: node.value for path, node, _ in _scalars(new)}
    want: dict[tuple[Any, ...], Any] = {path: node.value for path, node, _ in _scalars(old)}
    for (job_id, index), entries in expected.items():
        for n, expr in entries.items():
            want[("jobs", job_id, "steps", index, "env", n)] = expr
    return got == want
