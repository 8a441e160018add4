"""`unleak fix` on small real-world projects (bench/realworld/<kind>/), measured end to end.

Each project is a tiny app with its own pytest tests; its secrets are ``{{FAKE:<generator>#<n>}}`` placeholders,
filled at bench time with freshly generated values of the right shape (tests/fakes.py), so no credential-shaped
value is ever committed. Per project, in a temporary git repository and a private vault (temporary HOME/XDG dirs):

1. the app's tests pass as written (values inline);
2. the scanner (in process, the confidence `fix` moves) finds N of the generated values;
3. ``unleak fix --json`` is the plan (names, sites, manual steps), ``unleak fix --apply --json`` applies it;
4. every file of the tree is searched for every generated value in every form (raw, JSON-escaped, base64,
   URL-encoded): a hit on a line the plan names (a manual step, or a finding below the confidence moved, listed in
   ``left_alone``) counts as "named", any other as "left" (left behind unmentioned);
5. the app's tests fail without ``unleak run`` and pass under ``unleak run -- python -m pytest`` (each test also
   checks, by digest, that it read exactly the generated value);
6. a second ``unleak fix`` changes nothing (manual steps may still be listed);
7. which of the app's modules no longer import without ``unleak run`` (reads moved to import time).

Nothing here knows the expected answer: it measures. Prints a markdown table and writes JSON.

    python bench/fix_realworld.py                      # every project
    python bench/fix_realworld.py flask_app stripe_client --json-out /tmp/rw.json
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = Path(__file__).resolve().parent / "realworld"
PLACEHOLDER = re.compile(r"\{\{FAKE:([a-z0-9_]+)#(\d+)\}\}")
GIT_ID = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@invalid", "GIT_COMMITTER_NAME": "bench",
          "GIT_COMMITTER_EMAIL": "bench@invalid", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

sys.path.insert(0, str(ROOT))


def generators() -> dict[str, Callable[[], str]]:
    from tests import fakes

    extra: dict[str, Callable[[], str]] = {"alnum40": lambda: fakes._rand(fakes.ALNUM, 40), "hex32": fakes.hex32}
    return {name: fn for name, fn in vars(fakes).items() if callable(fn) and not name.startswith("_")} | extra


def forms(value: str) -> set[str]:
    """Every spelling of a value a file can hold: raw, JSON/Python-escaped, base64, URL-encoded."""
    return {value, json.dumps(value)[1:-1], base64.b64encode(value.encode()).decode(), quote(value, safe=""),
            quote_plus(value)}


@dataclass
class Result:
    project: str
    secrets: int = 0                      # distinct generated values in the project
    detected: int = 0                     # of those, found by the scanner at `fix`'s confidence
    other_findings: int = 0               # findings whose value is not a generated one
    planned: int = 0                      # secrets in the plan (moved to the vault)
    sites: int = 0                        # places the plan rewrites
    manual: int = 0                       # manual steps in the plan
    manual_reasons: list[str] = field(default_factory=list)
    tests_before: bool = False            # the app's tests pass as written
    applied: bool = False                 # `fix --apply` applied its plan
    left: int = 0                         # occurrences of a value on a line no manual step names
    left_where: list[str] = field(default_factory=list)
    manual_left: int = 0                  # occurrences on a line a manual step names
    fails_without_run: bool = False
    passes_under_run: bool = False
    second_fix_noop: bool = False
    import_fails: list[str] = field(default_factory=list)  # app modules that import before, not after (w/o run)
    leaked_to_output: int = 0             # generated values seen in unleak's own stdout/stderr
    names: dict[str, str] = field(default_factory=dict)   # placeholder label -> name chosen (by location)
    reference_file: str = ""
    error: str = ""
    seconds: float = 0.0


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        home = work / "home"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "UNLEAK_"))}
        self.env |= GIT_ID | {"HOME": str(home), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
                              "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ROOT)}
        for var, sub in (("XDG_DATA_HOME", ".local/share"), ("XDG_CONFIG_HOME", ".config"),
                         ("XDG_STATE_HOME", ".local/state"), ("XDG_CACHE_HOME", ".cache")):
            (home / sub).mkdir(parents=True, exist_ok=True)
            self.env[var] = str(home / sub)
        # `unleak run` from a pipe, as on a machine no agent uses: the human's signed policy says so.
        self.run([sys.executable, "-c", "from unleak.agent.policy import policy_path, sign_policy\n"
                  "policy_path().parent.mkdir(parents=True, exist_ok=True)\n"
                  "policy_path().write_text('run_requires_grant = \"never\"\\n')\nsign_policy()"], cwd=work, check=True)

    def run(self, cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, cwd=cwd, env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=300, check=check)

    def unleak(self, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run([sys.executable, "-m", "unleak", *args], cwd=cwd)

    def app_tests(self, cwd: Path, expect: Path, under_run: bool) -> subprocess.CompletedProcess[str]:
        prefix = [sys.executable, "-m", "unleak", "run", "--"] if under_run else []
        # Third-party pytest plugins installed here (xdist, anyio, ...) cost seconds per start and no app needs them.
        env = {"REALWORLD_EXPECT": str(expect), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        return self.run([*prefix, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd,
                        env=env)


def materialise(src: Path, dst: Path, gens: dict[str, Callable[[], str]]) -> tuple[dict[str, str],
                                                                                    dict[str, list[tuple[str, int]]]]:
    """Copy a project with fresh values; returns label -> value and label -> [(path, line)] of its placeholders."""
    values: dict[str, str] = {}
    where: dict[str, list[tuple[str, int]]] = {}
    for path in sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        rel = path.relative_to(src).as_posix()
        text = path.read_text(encoding="utf-8")
        for lineno, line in enumerate(text.splitlines(), 1):
            for m in PLACEHOLDER.finditer(line):
                label = f"{m.group(1)}#{m.group(2)}"
                values.setdefault(label, gens[m.group(1)]())
                where.setdefault(label, []).append((rel, lineno))
        out = PLACEHOLDER.sub(lambda m: values[f"{m.group(1)}#{m.group(2)}"], text)
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        (dst / rel).write_text(out, encoding="utf-8")
    shutil.copy(PROJECTS / "_conftest.py", dst / "tests" / "conftest.py")
    (dst / ".gitignore").write_text("__pycache__/\n.pytest_cache/\n")
    return values, where


def tree_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def occurrences(root: Path, values: dict[str, str]) -> list[tuple[str, str, int]]:
    """(label, path, line) of every occurrence of every value in any form, in every file of the tree."""
    spelled = {label: forms(v) for label, v in values.items()}
    hits = []
    for rel, data in tree_files(root).items():
        text = data.decode("utf-8", "replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            hits += [(label, rel, lineno) for label, fs in spelled.items() if any(f in line for f in fs)]
    return hits


_SCAN_LOCK = threading.Lock()  # the detect-secrets adapter keeps global settings: one scan at a time


_IMPORT_ALL = """import importlib, json, sys
sys.path.insert(0, ".")
bad = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        bad.append(name)
print(json.dumps(bad))
"""


def app_modules(root: Path) -> list[str]:
    """The app's own Python modules (not its tests)."""
    mods = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root)
        if rel.parts[0] in ("tests", ".git") or rel.name == "conftest.py":
            continue
        parts = list(rel.with_suffix("").parts)
        mods.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return [m for m in mods if m]


def import_failures(bench: Bench, root: Path) -> set[str]:
    """Modules that fail to import in a plain environment: where a rewrite moved the failure point to import."""
    out = bench.run([sys.executable, "-c", _IMPORT_ALL, *app_modules(root)], root)
    return set(json.loads(out.stdout)) if out.returncode == 0 and out.stdout.strip() else {"?"}


def detected_values(root: Path) -> set[str]:
    from scanner.api import ScanRequest, scan
    from scanner.finding import Confidence

    with _SCAN_LOCK:
        findings = scan(ScanRequest(root=root)).findings
    return {f.secret.reveal() for f in findings if f.confidence.rank >= Confidence.MEDIUM.rank}


def measure(bench: Bench, name: str, gens: dict[str, Callable[[], str]]) -> Result:
    res, start = Result(name), time.perf_counter()
    base = bench.work / name
    repo = base / name  # the directory's name is the project's: unrelated projects must not look alike
    repo.mkdir(parents=True)
    try:
        values, where = materialise(PROJECTS / name, repo, gens)
        res.secrets = len(set(values.values()))
        expect = base / "expect.json"
        expect.write_text(json.dumps({k: hashlib.sha256(v.encode()).hexdigest() for k, v in values.items()}))
        bench.run(["git", "init", "-q", "-b", "main"], repo, check=True)
        bench.run(["git", "add", "-A"], repo, check=True)
        bench.run(["git", "-c", "commit.gpgsign=false", "commit", "-qm", "app"], repo, check=True)
        res.tests_before = bench.app_tests(repo, expect, under_run=False).returncode == 0
        imports_before = import_failures(bench, repo)

        found = detected_values(repo)
        res.detected = len(found & set(values.values()))
        res.other_findings = len(found - set(values.values()))

        # The plan and the result in one run (`--json` with `--apply` reports the plan it applied).
        applied = bench.unleak(repo, "fix", "--apply", "--json")
        outputs = [applied.stdout, applied.stderr]
        doc = json.loads(applied.stdout) if applied.stdout.strip().startswith("{") else {}
        plan = doc.get("plan", {})
        res.applied = bool(doc.get("applied"))
        if not res.applied:
            res.error = "fix --apply: " + (applied.stderr.strip().splitlines() or ["no result"])[-1][:200]
        res.reference_file = plan.get("reference_file", "")
        res.planned = len(plan.get("secrets", []))
        res.sites = sum(len(s["places"]) for s in plan.get("secrets", []))
        res.manual = len(plan.get("manual", []))
        res.manual_reasons = sorted({f"{m['path']}:{m['line']}: {m['reason']}" for m in plan.get("manual", [])})
        by_place = {(p["path"], p["line"]): s["name"] for s in plan.get("secrets", []) for p in s["places"]}
        for label, locs in sorted(where.items()):  # a label is named by whichever of its places the plan lists
            res.names[label] = next((by_place[loc] for loc in locs if loc in by_place), "")

        # Named by the plan: a manual step, or a finding below the confidence `fix` moves (listed one by one).
        manual_lines = {(m["path"], m["line"]) for m in plan.get("manual", [])} | {
            (x["path"], x["line"]) for x in plan.get("left_alone", [])}
        for label, rel, lineno in occurrences(repo, values):
            if (rel, lineno) in manual_lines:
                res.manual_left += 1
            else:
                res.left += 1
                res.left_where.append(f"{label} in {rel}:{lineno}")

        res.fails_without_run = bench.app_tests(repo, expect, under_run=False).returncode != 0
        res.import_fails = sorted(import_failures(bench, repo) - imports_before)
        under = bench.app_tests(repo, expect, under_run=True)
        res.passes_under_run = under.returncode == 0
        if not res.passes_under_run and not res.error:
            res.error = "under run: " + (under.stdout.strip().splitlines() or [""])[-1][:200]

        tree = tree_files(repo)
        again = bench.unleak(repo, "fix", "--json")
        outputs += [again.stdout, again.stderr]
        again_doc = json.loads(again.stdout) if again.stdout.strip().startswith("{") else {}
        # Manual steps still listed are fine (exit 1 says so); nothing may be planned or written.
        res.second_fix_noop = (again.returncode in (0, 1) and tree_files(repo) == tree
                               and not again_doc.get("plan", {}).get("secrets", [None]))
        res.leaked_to_output = sum(1 for v in values.values() for o in outputs if v in o)
    except Exception as exc:  # a broken project is a row with its error, not a crash of the whole bench
        res.error = f"{type(exc).__name__}: {exc}"[:200]
    res.seconds = round(time.perf_counter() - start, 1)
    return res


def yn(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def table(results: list[Result]) -> str:
    head = ("| project | detected / secrets | moved | sites rewritten | manual steps | tests before | fail w/o run "
            "| pass under run | 2nd fix no-op | values left unmentioned | left, named by the plan "
            "| import fails w/o run | names chosen |")
    rows = [head, "|" + "---|" * 13]
    for r in results:
        names = ", ".join(sorted({n or "—" for n in r.names.values()}))
        rows.append(f"| {r.project} | {r.detected}/{r.secrets} | {r.planned} | {r.sites} | {r.manual} "
                    f"| {yn(r.tests_before)} | {yn(r.fails_without_run)} | {yn(r.passes_under_run)} "
                    f"| {yn(r.second_fix_noop)} | {r.left if r.left == 0 else f'**{r.left}**'} | {r.manual_left} "
                    f"| {len(r.import_fails)} | {names} |")
    total = Result("**total**")
    for r in results:
        for k in ("secrets", "detected", "planned", "sites", "manual", "left", "manual_left"):
            setattr(total, k, getattr(total, k) + getattr(r, k))
    rows.append(f"| {total.project} | {total.detected}/{total.secrets} | {total.planned} | {total.sites} "
                f"| {total.manual} | {sum(r.tests_before for r in results)}/{len(results)} "
                f"| {sum(r.fails_without_run for r in results)}/{len(results)} "
                f"| {sum(r.passes_under_run for r in results)}/{len(results)} "
                f"| {sum(r.second_fix_noop for r in results)}/{len(results)} | {total.left} | {total.manual_left} "
                f"| {sum(len(r.import_fails) for r in results)} | |")
    return "\n".join(rows)


def details(results: list[Result]) -> str:
    out = []
    for r in results:
        lines = [f"- {r.project}: reference file {r.reference_file or '?'}; names "
                 + ", ".join(f"{k}→{v or '(not moved)'}" for k, v in sorted(r.names.items()))]
        lines += [f"  - manual: {m}" for m in r.manual_reasons]
        lines += [f"  - left: {w}" for w in r.left_where]
        if r.import_fails:
            lines.append("  - fails at import without unleak run: " + ", ".join(r.import_fails))
        if r.leaked_to_output:
            lines.append(f"  - **{r.leaked_to_output} value(s) in unleak's output**")
        if r.error:
            lines.append(f"  - error: {r.error}")
        out += lines
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("projects", nargs="*", help="project directories under bench/realworld (default: all)")
    ap.add_argument("--json-out", type=Path, default=ROOT / "bench" / ".work" / "fix_realworld.json")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="work in this (new) directory and keep it, to inspect the repositories")
    args = ap.parse_args(argv)
    names = args.projects or sorted(p.name for p in PROJECTS.iterdir() if p.is_dir() and not p.name.startswith("_"))
    gens = generators()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="unleak-realworld-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        bench = Bench(work)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(lambda n: measure(bench, n, gens), names))
    print(table(results))
    print()
    print(details(results))
    print(f"\n{len(results)} projects in {time.perf_counter() - start:.0f}s")
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
