"""A history corpus for the fast-path tests, built in one ``git fast-import`` run (hundreds of commits in well under
a second): provider tokens, detect-secrets-only strings, allow comments, non-ASCII case folds, CRLF, files without
a final newline, binaries, renames, deletions, branches, a cherry-pick, a clean merge and an evil merge."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from tests import fakes


def _secret_lines(rnd: random.Random, i: int) -> list[str]:
    kinds = [
        lambda: f'GITHUB_TOKEN = "{fakes.github_pat()}"',
        lambda: f"aws_access_key_id = {fakes.aws_access_key_id()}",
        lambda: f'STRIPE = "{fakes.stripe_live_key()}"',
        lambda: f"slack: {fakes.slack_bot_token()}",
        lambda: f'db_password = "{fakes.password()}"',
        lambda: f"url = 'https://admin:{fakes.url_password()}@db.internal.example:5432/app'",
        lambda: f'blob = "{fakes._rand(fakes.B64, 40)}"',  # only detect-secrets' entropy plugin sees this
        lambda: f"hex_value = '{fakes._rand(fakes.HEX, 40)}'",
        lambda: f"server {rnd.randint(11, 99)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
        lambda: f"discord = {fakes.discord_bot_token()}",
        lambda: f"telegram {fakes.telegram_bot_token()}",
        lambda: f"twilio {fakes.twilio_api_key()}",
        lambda: f"sendgrid: {fakes.sendgrid_key()}",
        lambda: f"AccountKey={fakes.azure_storage_key()}",
        lambda: f'api_key = "{fakes.password()}"  # pragma: allowlist secret',
        lambda: f"# pragma: allowlist nextline secret\npassword = '{fakes.password()}'",
        lambda: f'paſsword = "{fakes.password()}"',  # long s: a case fold of "s" in regexes
        lambda: f'İ_TOKEN = "{fakes.github_pat()}"',  # dotted capital I: lower() changes its length
        lambda: f"iam_key = '{fakes._rand(fakes.ALNUM, 44)}'",  # detect-secrets' IBM Cloud IAM plugin only
    ]
    return [kinds[(i + k) % len(kinds)]() for k in range(rnd.randint(1, 3))]


_FILLER = [
    "def handler(event, context):",
    "    return {'statusCode': 200, 'body': json.dumps(event)}",
    "for key, value in sorted(mapping.items()):",
    "    if not value: continue",
    "class Settings(BaseModel):",
    "    timeout: int = 30",
    "import os, sys  # the usual",
    "SELECT id, name FROM users WHERE active = 1;",
    "<a href=\"https://example.org/docs/index.html\">docs</a>",
    "token = os.environ['API_TOKEN']",
    "password = '${DB_PASSWORD}'",
]


def _data(text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return b"data %d\n" % len(raw) + raw + b"\n"


def build(path: Path, commits: int = 150, seed: int = 7) -> dict[str, str]:
    """Create the corpus repository at ``path``; returns named commit ids (marks) for tests to refer to."""
    rnd = random.Random(seed)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    out: list[bytes] = []
    mark = 0
    when = 1_700_000_000
    heads: dict[str, int] = {}
    named: dict[str, int] = {}
    files: list[str] = []

    def commit(branch: str, msg: str, ops: list[bytes], merge: int | None = None) -> int:
        nonlocal mark, when
        mark += 1
        when += 60
        out.append(f"commit refs/heads/{branch}\nmark :{mark}\n".encode())
        out.append(f"committer Corpus <corpus@example.org> {when} +0000\n".encode())
        out.append(_data(msg))
        if branch in heads:
            out.append(f"from :{heads[branch]}\n".encode())
        if merge is not None:
            out.append(f"merge :{merge}\n".encode())
        out.extend(ops)
        heads[branch] = mark
        return mark

    def put(name: str, text: str | bytes) -> bytes:
        return f"M 100644 inline {name}\n".encode() + _data(text)

    for i in range(commits):
        name = rnd.choice(files) if files and rnd.random() < 0.4 else f"src/mod_{i % 37}/file_{i}.py"
        if name not in files:
            files.append(name)
        body = [rnd.choice(_FILLER) for _ in range(rnd.randint(2, 40))]
        if i % 3 == 0:
            for line in _secret_lines(rnd, i):
                body.insert(rnd.randint(0, len(body)), line)
        text = "\n".join(body)
        if i % 11 == 0:
            text = text.replace("\n", "\r\n")  # CRLF
        if i % 7 != 0:
            text += "\n"  # every 7th file has no final newline ("\ No newline at end of file")
        ops = [put(name, text)]
        if i % 23 == 5:
            ops.append(put(f"assets/logo_{i}.png", b"\x89PNG\r\n\x1a\n\0\0\0" + bytes(rnd.randrange(256)
                                                                                       for _ in range(300))))
        if i % 29 == 9 and len(files) > 3:
            victim = files.pop(0)
            ops.append(f"D {victim}\n".encode())
        if i % 31 == 13 and len(files) > 3:
            src = files.pop(0)
            dst = src.replace("src/", "lib/")
            ops.append(f"R {src} {dst}\n".encode())
            files.append(dst)
        commit("main", f"change {i}", ops)
        if i == commits // 3:
            # A feature branch that later gets merged (clean merge) and one that is cherry-picked elsewhere.
            heads["feature"] = heads["main"]
            heads["release"] = heads["main"]
        if i == commits // 3 + 5:
            same = put("shared/config.py", f'SHARED_TOKEN = "{fakes.github_pat()}"\nflag = True\n')
            named["pick-a"] = commit("feature", "add shared config", [same])
            named["pick-b"] = commit("release", "cherry-pick shared config", [same])
        if i == commits // 2:
            # Evil merge: the merge commit itself adds a line neither parent has.
            named["evil"] = commit("main", "merge feature", [
                put("shared/config.py", f'SHARED_TOKEN = "placeholder"\nflag = True\nEVIL = "{fakes.github_pat()}"\n'),
            ], merge=heads["feature"])
    big = "\n".join(f'key_{k} = "{fakes.password(24)}"' if k % 50 == 0 else rnd.choice(_FILLER)
                    for k in range(3000))
    named["big"] = commit("main", "a large generated file", [put("data/big_settings.py", big + "\n")])
    marks = path / ".git" / "corpus-marks"
    subprocess.run(["git", "fast-import", "--quiet", f"--export-marks={marks}"], cwd=path, input=b"".join(out),
                   check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=path, check=True)
    by_mark = dict(line.split(" ", 1) for line in marks.read_text().split("\n") if line)
    return {name: by_mark[f":{m}"].strip() for name, m in named.items()}
