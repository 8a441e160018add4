"""A generated repository whose history exercises every way a secret lives and dies, for exposure's oracle test.

The history's shape (files, branches, merges, tags, pushes, renames, copies, removals, dates) comes from a seeded
random walk, so it is the same on every run; the secret values are fresh fakes each run. :func:`normalized` maps
an exposure report onto names that do not depend on the values (secret ``S<n>`` by the order the walk first wrote
it, commit ``c<n>`` by the order it was made), so the report of one run can be compared with a recorded one.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import GIT_ENV
from tests.fakes import github_pat, private_key_pem, slack_bot_token, stripe_live_key

SEED = 1616
STEPS = 120
_KINDS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("GITHUB_TOKEN", github_pat), ("STRIPE_KEY", stripe_live_key), ("SLACK_TOKEN", slack_bot_token))


@dataclass
class History:
    path: Path
    values: list[str] = field(default_factory=list)  # in the order the walk first wrote them
    commits: dict[str, str] = field(default_factory=dict)  # sha -> c<n>


def _git(path: Path, *args: str, date: int | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_ENV}
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{date} +0000"
    proc = subprocess.run(["git", *args], cwd=path, env=env, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc


def build(root: Path, seed: int = SEED, steps: int = STEPS) -> History:
    """Make the repository under ``root/repo`` (with a bare ``root/remote.git`` it pushes to)."""
    rng = random.Random(seed)
    path, remote = root / "repo", root / "remote.git"
    path.mkdir(parents=True)
    _git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "commit.gpgsign", "false")
    _git(path, "remote", "add", "origin", str(remote))
    hist = History(path)
    clock = 1_700_000_000
    branches = ["main"]
    current = "main"

    def commit(message: str) -> None:
        nonlocal clock
        # Dates mostly move forward, sometimes back (a rebased or long-lived branch), so "first" and "last" are
        # decided by commit time and history order together.
        clock += rng.choice((3600, 7200, 86400, -5000))
        _git(path, "add", "-A")
        _git(path, "commit", "-q", "--allow-empty", "-m", message, date=clock)
        sha = _git(path, "rev-parse", "HEAD").stdout.strip()
        hist.commits[sha] = f"c{len(hist.commits)}"

    def files() -> list[str]:
        return sorted(_git(path, "ls-files").stdout.split())

    def new_value() -> str:
        value = private_key_pem() if rng.random() < 0.12 else rng.choice(_KINDS)[1]()
        hist.values.append(value)
        return value

    def line_for(value: str) -> str:
        if value.startswith("-----BEGIN"):
            return f'KEY = """{value}"""\n'
        name = next((n for n, make in _KINDS if _looks(value, make)), "TOKEN")
        return f'{name} = "{value}"\n'

    def read(rel: str) -> str:
        return (path / rel).read_text(encoding="utf-8")

    def write(rel: str, text: str) -> None:
        p = path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")

    def secret_lines(text: str) -> list[str]:
        return [ln for ln in text.splitlines(keepends=True) if '"' in ln and "=" in ln and "n = " not in ln]

    commit("start")  # a root commit with nothing in it
    write("app.py", "import os\n\nn = 0\n")
    commit("app")
    for step in range(steps):
        op = rng.choices(("add", "copy", "edit", "drop-line", "delete", "rename", "rename-edit", "branch",
                          "switch", "merge", "evil-merge", "tag", "push", "readd"),
                         weights=(14, 6, 14, 6, 3, 3, 3, 4, 6, 5, 1, 3, 3, 2))[0]
        present = files()
        if op == "add" or (op in ("copy", "drop-line", "readd") and not present):
            rel = rng.choice([*present, f"pkg/m{step}.py", f"conf/settings{step}.py"])
            write(rel, (read(rel) if (path / rel).exists() else "") + line_for(new_value()))
            commit(f"add a secret to {rel}")
        elif op == "copy":
            src = rng.choice(present)
            lines = secret_lines(read(src))
            if not lines:
                continue
            dst = rng.choice([f"copies/c{step}.py", *present])
            write(dst, (read(dst) if (path / dst).exists() else "") + rng.choice(lines))
            commit(f"copy a secret from {src} to {dst}")
        elif op == "edit" and present:
            rel = rng.choice(present)
            write(rel, read(rel) + f"n = {step}\n")
            commit(f"edit {rel}")
        elif op == "drop-line":
            rel = rng.choice(present)
            text = read(rel)
            lines = secret_lines(text)
            if not lines:
                continue
            write(rel, text.replace(rng.choice(lines), "", 1))
            commit(f"remove a secret from {rel}")
        elif op == "delete" and len(present) > 1:
            rel = rng.choice(present)
            _git(path, "rm", "-q", rel)
            commit(f"delete {rel}")
        elif op in ("rename", "rename-edit") and present:
            rel = rng.choice(present)
            dst = f"moved/r{step}_{Path(rel).name}"
            (path / dst).parent.mkdir(parents=True, exist_ok=True)
            _git(path, "mv", rel, dst)
            if op == "rename-edit":
                write(dst, f"# moved in step {step}\n" + read(dst))
            commit(f"{op} {rel} to {dst}")
        elif op == "branch":
            name = f"topic{step}"
            _git(path, "checkout", "-q", "-b", name)
            branches.append(name)
            current = name
        elif op == "switch" and len(branches) > 1:
            current = rng.choice([b for b in branches if b != current])
            _git(path, "checkout", "-q", current)
        elif op in ("merge", "evil-merge") and len(branches) > 1:
            other = rng.choice([b for b in branches if b != current])
            if _git(path, "merge", "-q", "--no-ff", "--no-commit", other, check=False).returncode != 0:
                _git(path, "merge", "--abort", check=False)
                _git(path, "reset", "-q", "--hard")
                continue
            if op == "evil-merge":
                write(f"merged/e{step}.py", line_for(new_value()))
            commit(f"merge {other} into {current}")
        elif op == "tag":
            if rng.random() < 0.5:
                _git(path, "tag", "-a", f"v{step}", "-m", f"release {step}", date=clock)
            else:
                _git(path, "tag", f"light{step}")
        elif op == "push":
            _git(path, "push", "-q", "origin", current, "--tags")
        elif op == "readd" and hist.values:
            rel = rng.choice(present)
            value = rng.choice(hist.values)
            write(rel, read(rel) + line_for(value))
            commit(f"put an old secret back into {rel}")
    _git(path, "checkout", "-q", "main")
    return hist


def _looks(value: str, make: Callable[[], str]) -> bool:
    sample = make()
    return value[:4] == sample[:4]


def normalized(doc: dict[str, Any], exposures_values: dict[str, str], hist: History) -> dict[str, Any]:
    """An exposure JSON document with fingerprints, previews and commit ids replaced by value-independent names.

    ``exposures_values``: fingerprint -> value (from :class:`scanner.exposure.model.Exposure.secret`)."""
    index = {v: i for i, v in reversed(list(enumerate(hist.values)))}
    names = {fp: f"S{index[v]}" for fp, v in exposures_values.items()}
    previews = {e["preview"]: names[e["fingerprint"]] for e in doc["exposures"]}

    def commit(c: dict[str, str]) -> str:
        return hist.commits[c["sha"]]

    def note(text: str) -> str:
        for p, n in previews.items():
            text = text.replace(p, n)
        return text

    out = []
    for e in doc["exposures"]:
        d = dict(e)
        d["fingerprint"] = names[e["fingerprint"]]
        d.pop("preview")
        d.pop("title")  # a rule's wording may change; its id is stable
        d["first_commit"] = commit(e["first_commit"])
        d["last_commit"] = commit(e["last_commit"])
        out.append(d)
    # Secrets first seen in one commit are ordered by fingerprint, which depends on the values: by name here.
    first_seen = {c: i for i, c in reversed(list(enumerate(d["first_commit"] for d in out)))}
    out.sort(key=lambda d: (first_seen[d["first_commit"]], int(d["fingerprint"][1:])))
    rotation = [{"rule_id": r["rule_id"], "secrets": sorted(names[fp] for fp in r["fingerprints"])}
                for r in doc["rotation"]]
    return {"exposures": out, "rotation": rotation, "commits_scanned": doc["commits_scanned"],
            "findings": doc["findings"], "skipped": doc["skipped"], "notes": [note(n) for n in doc["notes"]]}
