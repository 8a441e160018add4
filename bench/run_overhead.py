"""Benchmark of ``unleak run``: throughput of masked output and start-up overhead.

    python bench/run_overhead.py [--size-mb 200] [--runs 5]

Everything happens in a temporary HOME (its own vault, file key, no OS keyring), so the benchmark never touches
a real vault. Three secrets are stored in that vault and referenced from a ``.env``; the child is ``cat`` of a
data file, so the only difference between the rows is what sits between ``cat`` and the reader.

Throughput rows (MB/s = data size / wall time, start-up included, median of --runs):
  * ``cat FILE > /dev/null``                 the floor (the kernel may skip copying into /dev/null)
  * ``cat FILE | cat > /dev/null``           one pipe hop, what any output filter costs at least
  * ``unleak run -- cat FILE > /dev/null``   masked: read the pipe, scan, write
  * ``unleak run --no-masking -- cat FILE``  exec'd, for comparison
Data sets: log-like lines without secrets; the same with a secret (raw or base64) every ~4 KiB; and one long
line without line breaks (the masker must hold back a tail on every chunk).

Start-up rows: ``true`` against ``unleak run -- true`` (median of --runs), plus ``unleak --version`` to show how
much of it is the interpreter and the CLI rather than ``run`` itself.
"""

from __future__ import annotations

import argparse
import base64
import functools
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UNLEAK = [sys.executable, "-m", "unleak"]


def isolated_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(home)
    for var, sub in (("XDG_DATA_HOME", ".local/share"), ("XDG_CONFIG_HOME", ".config"),
                     ("XDG_STATE_HOME", ".local/state"), ("XDG_CACHE_HOME", ".cache")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def store_secrets(env: dict[str, str], project: Path) -> dict[str, str]:
    """Put three random values into the temporary vault (in a subprocess, under the temporary HOME)."""
    values = {
        "API_TOKEN": "tok_" + secrets.token_urlsafe(30),
        "DB_PASSWORD": secrets.token_urlsafe(18),
        "SIGNING_SECRET": secrets.token_hex(32),
    }
    script = (
        "import sys, json; from remediate.vault import open_vault; v = open_vault(namespace='bench'); "
        "vals = json.load(sys.stdin); print('\\n'.join(f'{k}={v.put(k, x)}' for k, x in vals.items()))"
    )
    import json

    proc = subprocess.run([sys.executable, "-c", script], input=json.dumps(values), text=True,
                          capture_output=True, env=env, check=True)
    (project / ".env").write_text(proc.stdout, encoding="utf-8")
    return values


def make_data(path: Path, size: int, kind: str, values: dict[str, str]) -> None:
    rng_line = (secrets.token_hex(40) + " INFO request handled in 12ms status=200\n").encode()
    with open(path, "wb") as f:
        if kind == "lines":
            block = rng_line * (1 << 14)
        elif kind == "lines+secrets":
            token = values["API_TOKEN"].encode()
            b64 = base64.b64encode(values["DB_PASSWORD"].encode())
            unit = rng_line * 24
            block = b"".join(
                unit + b"auth " + (token if i % 2 else b64) + b"\n" for i in range(1 << 10)
            )
        elif kind == "one-line":
            block = secrets.token_hex(1 << 19).encode()
        else:  # pragma: no cover
            raise ValueError(kind)
        written = 0
        while written < size:
            chunk = block[: size - written]
            f.write(chunk)
            written += len(chunk)


def timed(cmd: list[str] | str, env: dict[str, str], cwd: Path, shell: bool = False) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all processes involved). CPU time is what to compare on a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, shell=shell, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {cmd}\n{proc.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def median_of(runs: int, fn: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    samples = [fn() for _ in range(runs)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def masker_cpu_rate(data: Path, values: dict[str, str]) -> float:
    """MB/s of the masker alone (CPU time, 64 KiB chunks as the runner reads them): independent of pipes and of
    how busy the machine is."""
    sys.path.insert(0, str(REPO))
    from unleak.masking import Masker

    masker = Masker(values)
    size = 0
    start = time.process_time()
    with open(data, "rb") as f:
        while chunk := f.read(1 << 16):
            size += len(chunk)
            masker.feed(chunk)
    masker.close()
    return size / 1e6 / (time.process_time() - start)


def verify_masking(root: Path, env: dict[str, str], project: Path, values: dict[str, str]) -> None:
    """A benchmark of a masker that does not mask is worthless: check a smaller data set first."""
    data = root / "verify.dat"
    make_data(data, 8 * 1024 * 1024, "lines+secrets", values)
    proc = subprocess.run([*UNLEAK, "run", "--", "cat", str(data)], env=env, cwd=project,
                          capture_output=True, check=False)
    data.unlink()
    leaked = [name for name, value in values.items() if value.encode() in proc.stdout]
    leaked += [name for name, value in values.items() if base64.b64encode(value.encode()) in proc.stdout]
    masks = proc.stdout.count(b"<unleak:")
    if proc.returncode != 0 or leaked or masks == 0:
        raise SystemExit(f"masking check failed: exit {proc.returncode}, leaked {leaked}, {masks} masks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    size = args.size_mb * 1024 * 1024

    with tempfile.TemporaryDirectory(prefix="unleak-bench-") as tmp:
        root = Path(tmp)
        env = isolated_env(root / "home")
        project = root / "project"
        project.mkdir()
        values = store_secrets(env, project)
        q = sys.executable if " " not in sys.executable else f'"{sys.executable}"'
        unleak_sh = f"{q} -m unleak"

        verify_masking(root, env, project, values)
        print(f"unleak run benchmark: {args.size_mb} MiB per data set, median of {args.runs} runs, "
              f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        print()
        print(f"{'data set':<15} {'command':<44} {'wall s':>7} {'MB/s':>8} {'cpu s':>7}")
        print("-" * 85)
        masked_rates: list[float] = []
        for kind in ("lines", "lines+secrets", "one-line"):
            data = root / f"{kind}.dat"
            make_data(data, size, kind, values)
            rows = [
                ("cat FILE > /dev/null", f"cat '{data}' > /dev/null"),
                ("cat FILE | cat > /dev/null", f"cat '{data}' | cat > /dev/null"),
                ("unleak run -- cat FILE > /dev/null", f"{unleak_sh} run -- cat '{data}' > /dev/null"),
                ("unleak run -- cat FILE | cat > /dev/null", f"{unleak_sh} run -- cat '{data}' | cat > /dev/null"),
                ("unleak run --no-masking -- cat FILE", f"{unleak_sh} run --no-masking -- cat '{data}' > /dev/null"),
            ]
            for label, cmd in rows:
                t, cpu = median_of(args.runs, functools.partial(timed, cmd, env, project, shell=True))
                rate = size / 1e6 / t
                if label.startswith("unleak run -- cat FILE >"):
                    masked_rates.append(rate)
                print(f"{kind:<15} {label:<44} {t:>7.3f} {rate:>8.1f} {cpu:>7.3f}")
            in_process = masker_cpu_rate(data, values)
            print(f"{kind:<15} {'Masker.feed in-process (CPU time)':<44} {'':>7} {in_process:>8.1f}")
            data.unlink()
            print()

        print(f"{'start-up':<60} {'wall s':>7} {'overhead':>8} {'cpu s':>7}")
        print("-" * 85)
        base = median_of(args.runs, lambda: timed(["true"], env, project))
        version = median_of(args.runs, lambda: timed([*UNLEAK, "--version"], env, project))
        run_true = median_of(args.runs, lambda: timed([*UNLEAK, "run", "--", "true"], env, project))
        run_nomask = median_of(args.runs, lambda: timed([*UNLEAK, "run", "--no-masking", "--", "true"], env, project))
        for label, times in (
            ("true", base),
            ("unleak --version (interpreter + CLI import)", version),
            ("unleak run -- true (3 references, masked)", run_true),
            ("unleak run --no-masking -- true", run_nomask),
        ):
            print(f"{label:<60} {times[0]:>7.3f} {times[0] - base[0]:>+8.3f} {times[1]:>7.3f}")
        print()
        print(f"masked throughput (worst data set): {min(masked_rates):.1f} MB/s  (target >= 50)")
        print(f"start-up overhead of unleak run -- true: {run_true[0] - base[0]:.3f} s  (target <= 0.3)")


if __name__ == "__main__":
    main()
