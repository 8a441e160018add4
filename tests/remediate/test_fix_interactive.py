"""`unleak fix --interactive`: the names typed at a real terminal (a pty) are the names stored and read; Enter keeps
the proposed one; bad names are asked again; no value is ever shown; without a terminal it is a usage error."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from remediate.vault import open_vault
from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat, stripe_live_key


class Terminal:
    def __init__(self, args: list[str], cwd: Path) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.proc = subprocess.Popen([sys.executable, "-m", "unleak", *args], cwd=cwd, stdin=slave, stdout=slave,
                                     stderr=slave, close_fds=True)
        os.close(slave)
        self.seen = b""

    def read_until(self, token: bytes, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while token not in self.seen and time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    return
        assert token in self.seen, self.seen.decode(errors="replace")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode() + b"\r")

    def finish(self) -> int:
        code = self.proc.wait(timeout=60)
        with_rest = time.monotonic() + 0.5
        while time.monotonic() < with_rest:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                break
            try:
                self.seen += os.read(self.master, 4096)
            except OSError:
                break
        os.close(self.master)
        return code


def test_names_typed_at_the_terminal_are_the_names_stored(repo: GitRepo) -> None:
    stripe, gh = stripe_live_key(), github_pat()
    repo.write("app.py", f'import os\nX = "{stripe}"\nT = "{gh}"\n')
    repo.commit("app")
    term = Terminal(["fix", "--apply", "--interactive"], repo.path)
    term.read_until(b"[STRIPE_SECRET_KEY]")
    term.type("bad name!")  # asked again
    term.read_until(b"letters, digits and _")
    term.read_until(b"[STRIPE_SECRET_KEY]: ", timeout=10)
    term.type("GITHUB_TOKEN")  # the other secret's name: asked again
    term.read_until(b"name of another secret")
    term.type("PAYMENTS_STRIPE_KEY")
    term.read_until(b"[GITHUB_TOKEN]")
    term.type("")  # Enter keeps the proposed name
    assert term.finish() == 0, term.seen.decode(errors="replace")
    assert stripe.encode() not in term.seen and gh.encode() not in term.seen
    text = (repo.path / "app.py").read_text()
    assert 'X = os.environ["PAYMENTS_STRIPE_KEY"]' in text and 'T = os.environ["GITHUB_TOKEN"]' in text
    vault = open_vault(repo_path=repo.path)
    assert sorted(e.name for e in vault.names()) == ["GITHUB_TOKEN", "PAYMENTS_STRIPE_KEY"]
    assert vault.get(vault.reference_for("PAYMENTS_STRIPE_KEY")) == stripe
    assert "PAYMENTS_STRIPE_KEY=" in (repo.path / ".env.unleak").read_text()


def test_interactive_without_a_terminal_is_a_usage_error(repo: GitRepo) -> None:
    tok = github_pat()
    repo.write("a.py", f'T = "{tok}"\n')
    for args in (("fix", "--interactive"), ("fix", "--interactive", "--json")):
        r = run_cli(*args, cwd=repo.path, input="")
        assert r.returncode == 2 and "--interactive asks in a terminal" in r.stderr, r.stderr
        assert tok in (repo.path / "a.py").read_text() and tok not in r.stdout + r.stderr
