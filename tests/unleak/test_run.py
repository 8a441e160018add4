"""``unleak run`` with real child processes: through the library API (with an injected resolver) and through the
real CLI against the real local vault.

Children are small Python scripts that try hard to leak what they were given: raw, in every encoding, split
across writes with a pause between halves, on stderr, from a forked grandchild, line by line. Every test checks
both that the child really ran (a marker line or exit code) and that no form of any value reached the output.
"""

from __future__ import annotations

import hashlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scanner.errors import BadReferenceError, UsageError
from tests.conftest import run_cli
from tests.fakes import github_pat, password
from tests.fakes_op import FakeOp
from tests.unleak.test_masking import fake_pem, secret_fragments
from unleak import run as runner

pytestmark = pytest.mark.usefixtures("human_runs")

PY = sys.executable

LEAKER = r"""
import base64, binascii, json, os, sys, time, urllib.parse

def out(text, stream=sys.stdout):
    stream.write(text)
    stream.flush()

for name in sys.argv[1:]:
    v = os.environ[name]
    b = v.encode()
    forms = [
        v,
        base64.b64encode(b).decode(),
        base64.b64encode(b).decode().rstrip("="),
        base64.urlsafe_b64encode(b).decode(),
        base64.urlsafe_b64encode(b).decode().rstrip("="),
        base64.b64encode(b"x" + b + b"y").decode(),
        base64.b64encode(b"xy" + b + b"z").decode(),
        binascii.hexlify(b).decode(),
        binascii.hexlify(b).decode().upper(),
        urllib.parse.quote(v, safe=""),
        urllib.parse.quote(v),
        urllib.parse.quote_plus(v),
        json.dumps(v),
        json.dumps({"key": v}, ensure_ascii=False),
    ]
    for form in forms:
        out(f"{name} form: {form}\n")
    out(f"{name} on stderr: {v}\n", sys.stderr)
    half = len(v) // 2
    out(f"{name} split: {v[:half]}")
    time.sleep(0.15)
    out(f"{v[half:]} end\n")
    out(f"{name} no newline: {v}")
    time.sleep(0.1)
    out("\n")
    for line in v.splitlines():
        out(line + "\n")
    pid = os.fork()
    if pid == 0:
        out(f"{name} grandchild: {v}\n")
        out(f"{name} grandchild err: {v}\n", sys.stderr)
        os._exit(0)
    os.waitpid(pid, 0)
out("LEAKER DONE\n")
"""


def make_secrets() -> dict[str, str]:
    return {"TOKEN": github_pat(), "DB_PASSWORD": password(20) + "/é ü", "SIGNING_KEY": fake_pem()}


def dict_resolver(table: dict[str, str]) -> tuple[Callable[[str], str], Callable[[str], bool]]:
    """Resolution without the vault, for tests of process handling and masking."""

    def resolve(ref: str) -> str:
        if ref not in table:
            raise BadReferenceError(f"unknown reference {ref}")
        return table[ref]

    return resolve, lambda s: s.startswith("unleak://")


def write_env(path: Path, refs: dict[str, str], plain: dict[str, str] | None = None) -> Path:
    lines = [f"{k}={v}" for k, v in refs.items()] + [f"{k}={v}" for k, v in (plain or {}).items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_no_leak(output: bytes | str, values: dict[str, str]) -> None:
    text = output.encode() if isinstance(output, str) else output
    for name, value in values.items():
        for fragment in secret_fragments(value):
            assert fragment.encode() not in text, f"a form of {name} leaked"


def drain(master: int) -> bytes:
    """Read a pty master until the other side closes (EOF, or EIO once the last writer is gone) or 10 s of
    silence, then close it."""
    seen = b""
    while select.select([master], [], [], 10)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return seen


def run_lib(
    tmp_path: Path, cmd: list[str], values: dict[str, str], *, masking: bool = True,
    stdin_data: bytes = b"", extra_plain: dict[str, str] | None = None,
) -> tuple[int, bytes, bytes]:
    """Run through the library API with file descriptors for stdout/stderr; returns (status, out, err)."""
    refs = {name: f"unleak://test/{name}" for name in values}
    env_file = write_env(tmp_path / "refs.env", refs, extra_plain)
    resolve, is_ref = dict_resolver({refs[n]: v for n, v in values.items()})
    (tmp_path / "in").write_bytes(stdin_data)
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err, \
            open(tmp_path / "in", "rb") as inp:
        status = runner.run(
            cmd, env_files=[env_file], masking=masking, resolver=resolve, is_reference=is_ref,
            stdin=inp.fileno(), stdout=out.fileno(), stderr=err.fileno(), use_pty=False, cwd=tmp_path,
        )
    return status, (tmp_path / "out").read_bytes(), (tmp_path / "err").read_bytes()


# ------------------------------------------------------------------------------------------ library API


def test_library_leaker_every_form_every_channel_is_masked(tmp_path: Path) -> None:
    values = make_secrets()
    status, out, err = run_lib(tmp_path, [PY, "-c", LEAKER, *values], values)
    assert status == 0
    assert b"LEAKER DONE" in out
    for name, value in values.items():
        # A PEM key's armour line is the same in every key of its kind and stays readable; its body is masked.
        shown = value.splitlines()[0] + "\n" if value.startswith("-----") else ""
        assert f"{name} grandchild: {shown}<unleak:{name}>".encode() in out
        assert f"{name} on stderr: {shown}<unleak:{name}>".encode() in err
        assert f"{name} grandchild err: {shown}<unleak:{name}>".encode() in err
    assert b"TOKEN split: <unleak:TOKEN> end" in out
    assert_no_leak(out + err, values)


def test_library_without_masking_shows_values(tmp_path: Path) -> None:
    # The counter-test: the same child really does print the values when nothing masks them.
    values = {"TOKEN": github_pat()}
    status, out, _err = run_lib(tmp_path, [PY, "-c", LEAKER, "TOKEN"], values, masking=False)
    assert status == 0
    assert values["TOKEN"].encode() in out


@pytest.mark.parametrize("code", [0, 1, 42, 255])
def test_library_exit_code_passes_through(tmp_path: Path, code: int) -> None:
    status, _, _ = run_lib(tmp_path, [PY, "-c", f"import sys; sys.exit({code})"], {"TOKEN": github_pat()})
    assert status == code


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV])
def test_library_child_killed_by_signal_reports_128_plus_n(tmp_path: Path, sig: signal.Signals) -> None:
    cmd = [PY, "-c", f"import os; os.kill(os.getpid(), {int(sig)})"]
    status, _, _ = run_lib(tmp_path, cmd, {"TOKEN": github_pat()})
    assert status == 128 + int(sig)


def test_library_stdin_passes_through(tmp_path: Path) -> None:
    cmd = [PY, "-c", "import sys; print(sys.stdin.read().upper())"]
    status, out, _ = run_lib(tmp_path, cmd, {"TOKEN": github_pat()}, stdin_data=b"hello child\n")
    assert status == 0
    assert out == b"HELLO CHILD\n\n"


def test_library_plain_values_pass_unmasked_and_marker_is_set(tmp_path: Path) -> None:
    cmd = [PY, "-c", "import os; print(os.environ['PORT'], os.environ['UNLEAK_RUN'])"]
    status, out, _ = run_lib(tmp_path, cmd, {"TOKEN": github_pat()}, extra_plain={"PORT": "8080"})
    assert status == 0
    assert out == b"8080 1\n"


def test_library_unresolvable_reference_fails_before_the_child_starts(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    env_file = write_env(tmp_path / "refs.env", {"TOKEN": "unleak://test/TOKEN", "MISSING": "unleak://test/NOPE"})
    resolve, is_ref = dict_resolver({"unleak://test/TOKEN": github_pat()})
    with pytest.raises(BadReferenceError) as info:
        runner.run(
            [PY, "-c", f"open({str(marker)!r}, 'w').close()"], env_files=[env_file],
            resolver=resolve, is_reference=is_ref, use_pty=False,
        )
    assert "unleak://test/NOPE" in str(info.value) and "MISSING" in str(info.value)
    assert not marker.exists()


def test_library_missing_reference_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        runner.prepare([tmp_path / "nope.env"], resolver=str, is_reference=lambda s: False)


def test_library_no_command_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no command"):
        runner.run_child([], runner.InjectionPlan(env={}, secrets={}))


def test_library_command_not_found_exits_127(tmp_path: Path) -> None:
    with pytest.raises(runner.CommandNotFoundError) as info:
        run_lib(tmp_path, ["definitely-not-a-command-xyz"], {"TOKEN": github_pat()})
    assert info.value.exit_code == 127


def test_plan_repr_and_errors_never_show_values(tmp_path: Path) -> None:
    value = github_pat()
    plan = runner.InjectionPlan(env={"TOKEN": value}, secrets={"TOKEN": value}, plain=())
    assert value not in repr(plan) and "TOKEN" in repr(plan)


@pytest.mark.parametrize(
    ("override", "expected_source"), [(True, "injected"), (False, "outer")]
)
def test_build_env_override(override: bool, expected_source: str) -> None:
    env = runner.build_env({"TOKEN": "outer", "KEEP": "1"}, {"TOKEN": "injected"}, override=override)
    assert env["TOKEN"] == expected_source and env["KEEP"] == "1" and env["UNLEAK_RUN"] == "1"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["cwd/.env"], "cwd/.env"),
        ([".env"], ".env"),
        ([], None),
        # .env.unleak (the file `unleak fix` writes) wins wherever it is; .env is read only without one
        (["cwd/.env", ".env", "cwd/.env.unleak", ".env.unleak"], "cwd/.env.unleak"),
        (["cwd/.env", ".env.unleak"], ".env.unleak"),
        (["cwd/.env.unleak", ".env"], "cwd/.env.unleak"),
        # a directory of that name is not a file
        (["cwd/.env.unleak/", ".env"], ".env"),
    ],
)
def test_default_env_file(tmp_path: Path, files: list[str], expected: str | None) -> None:
    (tmp_path / ".git").mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for rel in files:
        if rel.endswith("/"):
            (tmp_path / rel).mkdir()
        else:
            (tmp_path / rel).write_text("A=1\n")
    found = runner.default_env_file(cwd)
    assert found == (tmp_path / expected if expected else None)


# ------------------------------------------------------------------------------------------ real CLI + vault


@pytest.fixture
def vault_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A project directory whose .env references values stored in the real local vault."""
    from remediate.vault import open_vault

    values = make_secrets()
    vault = open_vault(namespace="run-test")
    refs = {name: vault.put(name, value) for name, value in values.items()}
    project = tmp_path / "project"
    project.mkdir()
    write_env(project / ".env", refs, {"PLAIN_SETTING": "visible-setting"})
    return project, values


def test_cli_leaker_is_masked_on_stdout_and_stderr(vault_env: tuple[Path, dict[str, str]]) -> None:
    project, values = vault_env
    proc = run_cli("run", "--", PY, "-c", LEAKER, *values, cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "LEAKER DONE" in proc.stdout
    assert "TOKEN form: <unleak:TOKEN>" in proc.stdout
    assert "DB_PASSWORD on stderr: <unleak:DB_PASSWORD>" in proc.stderr
    assert_no_leak(proc.stdout + proc.stderr, values)


def test_cli_no_masking_passes_values_through(vault_env: tuple[Path, dict[str, str]]) -> None:
    project, values = vault_env
    proc = run_cli("run", "--no-masking", "--", PY, "-c", "import os; print(os.environ['TOKEN'])", cwd=project)
    assert proc.returncode == 0
    assert proc.stdout.strip() == values["TOKEN"]
    assert "masking is off" in proc.stderr


@pytest.mark.parametrize("code", [0, 1, 42])
@pytest.mark.parametrize("masking", [True, False])
def test_cli_exit_code_passes_through(vault_env: tuple[Path, dict[str, str]], code: int, masking: bool) -> None:
    project, _ = vault_env
    flags = [] if masking else ["--no-masking"]
    proc = run_cli("run", *flags, "--", PY, "-c", f"import sys; sys.exit({code})", cwd=project)
    assert proc.returncode == code


@pytest.mark.parametrize("masking", [True, False])
def test_cli_child_killed_by_signal(vault_env: tuple[Path, dict[str, str]], masking: bool) -> None:
    project, _ = vault_env
    flags = [] if masking else ["--no-masking"]
    proc = run_cli("run", *flags, "--", PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
                   cwd=project)
    # Masked: we report it as a shell would (128 + N). Unmasked we exec the command, so our own process dies of
    # the same signal and the caller's shell reports 128 + N itself.
    assert proc.returncode == (128 + signal.SIGKILL if masking else -signal.SIGKILL)


TRAPPER = r"""
import os, signal, sys, time
marker, ready = sys.argv[1], sys.argv[2]
def handler(signum, frame):
    with open(marker, "w") as f:
        f.write(f"{signum} {os.environ['TOKEN'] == os.environ['EXPECT_SHA'] or 'ok'}")
    sys.exit(7)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, handler)
open(ready, "w").close()
time.sleep(30)
sys.exit(0)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
@pytest.mark.parametrize("masking", [True, False])
def test_cli_signal_is_forwarded_to_the_child(
    vault_env: tuple[Path, dict[str, str]], tmp_path: Path, sig: signal.Signals, masking: bool
) -> None:
    project, _ = vault_env
    marker, ready = tmp_path / "marker", tmp_path / "ready"
    flags = [] if masking else ["--no-masking"]
    proc = subprocess.Popen(
        [PY, "-m", "unleak", "run", *flags, "--", PY, "-c", TRAPPER, str(marker), str(ready)],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "EXPECT_SHA": "x"},
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert time.monotonic() < deadline, "child never started"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(sig)
        _out, _err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert marker.read_text().startswith(str(int(sig)))
    assert proc.returncode == 7


def test_cli_stdin_passes_through(vault_env: tuple[Path, dict[str, str]]) -> None:
    project, values = vault_env
    script = "import os, sys; line = sys.stdin.readline(); print(line.strip() == os.environ['TOKEN'], line.strip())"
    # The user pipes the value itself in; the child compares it, and the echo of it is masked.
    proc = run_cli("run", "--", PY, "-c", script, cwd=project, input=values["TOKEN"] + "\n")
    assert proc.returncode == 0
    assert proc.stdout == "True <unleak:TOKEN>\n"


def test_cli_prompt_without_newline_appears_before_input(vault_env: tuple[Path, dict[str, str]]) -> None:
    project, _ = vault_env
    script = "import sys; sys.stdout.write('Name? '); sys.stdout.flush(); print('hi ' + sys.stdin.readline())"
    proc = subprocess.Popen(
        [PY, "-m", "unleak", "run", "--", PY, "-c", script], cwd=project,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    seen = b""
    deadline = time.monotonic() + 20
    os.set_blocking(proc.stdout.fileno(), False)
    while b"Name? " not in seen:
        assert time.monotonic() < deadline, f"prompt never appeared: {seen!r}"
        chunk = proc.stdout.read()
        seen += chunk or b""
        time.sleep(0.01)
    proc.stdin.write(b"Ada\n")
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0
    os.set_blocking(proc.stdout.fileno(), True)
    seen += proc.stdout.read()
    assert seen == b"Name? hi Ada\n\n"


def test_cli_short_value_is_warned_by_name(tmp_path: Path) -> None:
    from remediate.vault import open_vault

    vault = open_vault(namespace="short-test")
    (tmp_path / ".env").write_text(f"PIN={vault.put('PIN', 'a1b')}\nTOKEN={vault.put('TOKEN', github_pat())}\n")
    proc = run_cli("run", "--", PY, "-c", "print('ran')", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "ran\n"
    assert "PIN" in proc.stderr and "not masked" in proc.stderr
    assert "TOKEN" not in proc.stderr and "a1b" not in proc.stderr


def test_cli_unresolvable_reference_exit_2_and_child_not_started(
    vault_env: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    project, values = vault_env
    env_text = (project / ".env").read_text() + "MISSING=unleak://run-test/NOT_STORED\nBROKEN=unleak://\n"
    (project / ".env").write_text(env_text)
    marker = tmp_path / "started"
    proc = run_cli("run", "--", PY, "-c", f"open({str(marker)!r}, 'w').close()", cwd=project)
    assert proc.returncode == 2
    assert "unleak://run-test/NOT_STORED" in proc.stderr and "MISSING" in proc.stderr and "BROKEN" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not marker.exists()
    assert_no_leak(proc.stdout + proc.stderr, values)


def test_cli_missing_env_file_and_missing_command(tmp_path: Path) -> None:
    proc = run_cli("run", "--env-file", "nope.env", "--", "true", cwd=tmp_path)
    assert proc.returncode == 2 and "nope.env" in proc.stderr
    proc = run_cli("run", "--", "true", cwd=tmp_path)  # no .env anywhere
    assert proc.returncode == 2 and "--env-file" in proc.stderr
    (tmp_path / ".env").write_text("A=1\n")
    proc = run_cli("run", "--", "definitely-not-a-command-xyz", cwd=tmp_path)
    assert proc.returncode == 127 and "definitely-not-a-command-xyz" in proc.stderr


@pytest.mark.parametrize(("flags", "expected"), [([], "vault"), (["--no-override"], "outer")])
def test_cli_override(vault_env: tuple[Path, dict[str, str]], flags: list[str], expected: str) -> None:
    project, values = vault_env
    script = "import hashlib, os; print(hashlib.sha256(os.environ['TOKEN'].encode()).hexdigest())"
    proc = run_cli("run", *flags, "--", PY, "-c", script, cwd=project, env={"TOKEN": "outer-value"})
    want = values["TOKEN"] if expected == "vault" else "outer-value"
    assert proc.returncode == 0
    assert proc.stdout.strip() == hashlib.sha256(want.encode()).hexdigest()


def test_cli_later_env_file_wins_and_plain_values_pass(vault_env: tuple[Path, dict[str, str]]) -> None:
    project, _ = vault_env
    (project / "override.env").write_text("PLAIN_SETTING=second\n")
    script = "import os; print(os.environ['PLAIN_SETTING'], os.environ['UNLEAK_RUN'])"
    proc = run_cli("run", "--env-file", ".env", "--env-file", "override.env", "--", PY, "-c", script, cwd=project)
    assert proc.returncode == 0 and proc.stdout == "second 1\n"


def test_cli_plain_values_are_interpolated_like_load_dotenv(tmp_path: Path) -> None:
    # Plain values reach the program exactly as its own load_dotenv() would have read them.
    (tmp_path / ".env").write_text("DATA_DIR=${HOME}/data\nQUOTED='single ${HOME}'\nRAW=a$b\n")
    show = "import os; print(os.environ['DATA_DIR'], os.environ['QUOTED'], os.environ['RAW'])"
    proc = run_cli("run", "--", PY, "-c", show, cwd=tmp_path)
    own = subprocess.run([PY, "-c", "from dotenv import load_dotenv; load_dotenv('.env'); " + show],
                         cwd=tmp_path, capture_output=True, text=True, check=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == own.stdout
    assert proc.stdout.startswith(f"{os.environ['HOME']}/data ")


ARGV_CHECK = r"""
import os
values = [os.environ[n].encode() for n in ("TOKEN", "DB_PASSWORD")]
own = open("/proc/self/cmdline", "rb").read()
parent = open(f"/proc/{os.getppid()}/cmdline", "rb").read()
print("argv-leak" if any(v in own or v in parent for v in values) else "argv-clean")
print("env-has-values" if all(v for v in values) else "env-missing")
"""


def test_cli_reader_going_away_stops_the_child(vault_env: tuple[Path, dict[str, str]]) -> None:
    # `unleak run -- yes | head`: without us yes dies of SIGPIPE; with us it must not run forever.
    project, _ = vault_env
    proc = subprocess.run(
        f"'{PY}' -m unleak run -- yes | head -n 3", shell=True, cwd=project, capture_output=True, timeout=30,
    )
    assert proc.stdout == b"y\ny\ny\n"


def test_cli_value_typed_on_the_command_line_is_masked_in_the_audit_log(
    vault_env: tuple[Path, dict[str, str]],
) -> None:
    from unleak.audit import AuditLog

    project, values = vault_env
    proc = run_cli("run", "--", PY, "-c", "print('ran')", values["TOKEN"], cwd=project)
    assert proc.returncode == 0, proc.stderr
    log = AuditLog().path.read_text(encoding="utf-8")
    assert '"run.start"' in log and '"run.end"' in log and "<unleak:TOKEN>" in log
    assert_no_leak(log, values)


def test_cli_values_never_on_a_command_line(vault_env: tuple[Path, dict[str, str]]) -> None:
    project, _ = vault_env
    proc = run_cli("run", "--", PY, "-c", ARGV_CHECK, cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "argv-clean\nenv-has-values\n"


def test_cli_load_dotenv_in_the_child_keeps_injected_values(vault_env: tuple[Path, dict[str, str]]) -> None:
    project, values = vault_env
    script = (
        "import hashlib, os; from dotenv import load_dotenv; load_dotenv('.env'); "
        "print(hashlib.sha256(os.environ['TOKEN'].encode()).hexdigest())"
    )
    proc = run_cli("run", "--", PY, "-c", script, cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == hashlib.sha256(values["TOKEN"].encode()).hexdigest()


def test_cli_child_on_a_terminal_stays_a_terminal_and_is_masked(vault_env: tuple[Path, dict[str, str]]) -> None:
    import pty

    project, values = vault_env
    master, slave = pty.openpty()
    script = (
        "import os, sys; print(sys.stdout.isatty(), os.environ['TOKEN']); "
        "print(os.environ['TOKEN'], file=sys.stderr)"
    )
    proc = subprocess.Popen(
        [PY, "-m", "unleak", "run", "--", PY, "-c", script], cwd=project,
        stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
    )
    os.close(slave)
    seen = drain(master)
    assert proc.wait(timeout=20) == 0
    assert b"True <unleak:TOKEN>" in seen
    assert seen.count(b"<unleak:TOKEN>") == 2
    assert_no_leak(seen, values)


def test_cli_interactive_terminal_input_reaches_the_child(vault_env: tuple[Path, dict[str, str]]) -> None:
    """With a terminal on stdin and stdout the child gets a full pty: /dev/tty works (getpass), keystrokes are
    relayed, prompts appear before the input, and the echo of a typed value is masked too."""
    import pty

    project, values = vault_env
    script = (
        "import getpass, os, sys; name = input('Name: '); pin = getpass.getpass('PIN: '); "
        "print('got', name, pin, sys.stdin.isatty(), os.environ['TOKEN'])"
    )
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [PY, "-m", "unleak", "run", "--", PY, "-c", script], cwd=project, stdin=slave, stdout=slave, stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    seen = b""

    def read_until(token: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 20
        while token not in seen:
            assert time.monotonic() < deadline, f"never saw {token!r}: {seen!r}"
            if select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 4096)

    read_until(b"Name: ")
    os.write(master, values["TOKEN"].encode() + b"\r")
    read_until(b"PIN: ")
    os.write(master, b"4321\r")
    read_until(b"got ")
    seen += drain(master)
    assert proc.wait(timeout=20) == 0
    assert b"got <unleak:TOKEN> 4321 True <unleak:TOKEN>" in seen
    assert_no_leak(seen, values)


def test_cli_op_references_resolve_through_the_fake_op_cli(tmp_path: Path, fake_op: FakeOp) -> None:
    """op:// references (1Password syntax) resolve through `op` — here the FAKE op CLI — and are masked too."""
    from remediate.vault import open_vault

    op_value, local_value = github_pat(), password(24)
    op_ref = open_vault("op", namespace="shop", op_vault="dev").put("STRIPE_KEY", op_value)
    local_ref = open_vault(namespace="shop").put("DB_PASSWORD", local_value)
    assert op_ref.startswith("op://")
    (tmp_path / ".env").write_text(f"STRIPE_KEY={op_ref}\nDB_PASSWORD={local_ref}\n")
    script = "import os; print(os.environ['STRIPE_KEY'], os.environ['DB_PASSWORD'])"
    proc = run_cli("run", "--", PY, "-c", script, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "<unleak:STRIPE_KEY> <unleak:DB_PASSWORD>\n"
    assert any(argv[:1] == ["read"] for argv in fake_op.argvs())
    for argv in fake_op.argvs():
        assert op_value not in "\0".join(argv)


def test_signal_arriving_before_the_child_exists_is_delivered_to_it() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with runner._SignalForwarder() as forwarder:
        os.kill(os.getpid(), signal.SIGTERM)  # would kill the test process if it were not caught
        child = subprocess.Popen(["sleep", "30"], start_new_session=True)
        forwarder.started(child.pid)
        assert child.wait(timeout=10) == -signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before


def test_library_large_interleaved_output_arrives_complete_and_masked(tmp_path: Path) -> None:
    """Megabytes on both streams at once: nothing lost, nothing reordered within a stream, every value masked."""
    value = github_pat()
    script = (
        "import os, sys\n"
        "v = os.environ['TOKEN']\n"
        "for i in range(20000):\n"
        "    sys.stdout.write(f'{i:06d} out {v} ' + 'x' * 100 + '\\n')\n"
        "    if i % 3 == 0:\n"
        "        sys.stderr.write(f'{i:06d} err {v}\\n')\n"
    )
    status, out, err = run_lib(tmp_path, [PY, "-c", script], {"TOKEN": value})
    assert status == 0
    out_lines = out.decode().splitlines()
    assert len(out_lines) == 20000
    assert all(line.startswith(f"{i:06d} out <unleak:TOKEN> ") for i, line in enumerate(out_lines))
    err_lines = err.decode().splitlines()
    assert [int(line[:6]) for line in err_lines] == list(range(0, 20000, 3))
    assert value.encode() not in out + err


def test_library_background_grandchild_holding_the_pipe_does_not_keep_us_waiting(tmp_path: Path) -> None:
    started = time.monotonic()
    status, out, _ = run_lib(tmp_path, ["sh", "-c", "sleep 6 & echo started"], {"TOKEN": github_pat()})
    assert status == 0 and out == b"started\n"
    assert time.monotonic() - started < 5  # the child exited at once; we linger ~2 s for late output, not 6


def _state(pid: int) -> str:
    # /proc/<pid>/stat: "pid (comm) S ..." — the state letter follows the last ')'
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_cli_ctrl_z_stops_and_fg_continues_the_child(vault_env: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    project, _ = vault_env
    pid_file = tmp_path / "pid"
    script = (
        f"import os, sys, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
        "[time.sleep(0.05) for _ in range(20)]; print('finished')"
    )
    proc = subprocess.Popen([PY, "-m", "unleak", "run", "--", PY, "-c", script], cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        child = int(pid_file.read_text())
        proc.send_signal(signal.SIGTSTP)
        deadline = time.monotonic() + 10
        while _state(child) != "T" or _state(proc.pid) != "T":
            assert time.monotonic() < deadline, (_state(child), _state(proc.pid))
            time.sleep(0.02)
        time.sleep(1.5)  # longer than the child's own run time: it really is stopped
        assert _state(child) == "T"
        proc.send_signal(signal.SIGCONT)
        out, _err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert out == b"finished\n"


@pytest.mark.parametrize(
    ("name", "value", "masked"),
    [
        ("LEGACY_API_KEY", "plain-" + "k" * 20, True),
        ("DB_PASSWORD", "correct-horse-battery", True),
        ("SESSION_SECRET", "s" * 7, False),  # too short to tell
        ("FEATURE_KEY_ENABLED", "true", False),
        ("PORT", "8080808080", False),
        ("PUBLIC_URL", "https://example.com/app", False),
    ],
)
def test_plaintext_secret_named_values_are_flagged(name: str, value: str, masked: bool) -> None:
    assert (name in runner.plaintext_secrets({name: value})) is masked


def test_cli_plaintext_secret_in_reference_file_is_masked_and_reported(tmp_path: Path) -> None:
    legacy = github_pat()
    (tmp_path / ".env").write_text(f"LEGACY_API_KEY={legacy}\nPORT=8080\n")
    proc = run_cli("run", "--", PY, "-c", "import os; print(os.environ['LEGACY_API_KEY'], os.environ['PORT'])",
                   cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout == "<unleak:LEGACY_API_KEY> 8080\n"
    assert "LEGACY_API_KEY" in proc.stderr and "unleak fix" in proc.stderr
    assert legacy not in proc.stderr


def test_cli_leaker_on_a_terminal_is_masked(vault_env: tuple[Path, dict[str, str]]) -> None:
    """The pty path (stdout and stderr are terminals) masks every form, split writes and the grandchild too."""
    import pty

    project, values = vault_env
    out_master, out_slave = pty.openpty()
    err_master, err_slave = pty.openpty()
    proc = subprocess.Popen(
        [PY, "-m", "unleak", "run", "--", PY, "-c", LEAKER, *values], cwd=project,
        stdin=subprocess.DEVNULL, stdout=out_slave, stderr=err_slave,
    )
    os.close(out_slave)
    os.close(err_slave)
    seen = {out_master: b"", err_master: b""}
    open_fds = set(seen)
    deadline = time.monotonic() + 60
    while open_fds and time.monotonic() < deadline:
        for fd in select.select(list(open_fds), [], [], 1)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if chunk:
                seen[fd] += chunk
            else:
                open_fds.discard(fd)
    for fd in seen:
        os.close(fd)
    assert proc.wait(timeout=20) == 0
    out, err = seen[out_master], seen[err_master]
    assert b"LEAKER DONE" in out
    assert b"TOKEN split: <unleak:TOKEN> end" in out
    assert b"DB_PASSWORD on stderr: <unleak:DB_PASSWORD>" in err
    assert_no_leak(out + err, values)
