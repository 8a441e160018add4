"""Connection-URL verifiers: does ``postgres://user:password@host/db`` (MySQL/MariaDB, Redis alike) still log in?

A check connects to the URL's own host and port, authenticates, and disconnects: no query is run, nothing is read or
written. The driver is an optional extra (``pip install 'unleak[verify-db]'``: psycopg, PyMySQL, redis) imported
only here and only when such a URL is verified; without it the verdict is ``unknown`` and says which package to
install.

The credential goes to one place only, the host written in the URL. Hosts that resolve to this machine or to a
private, link-local or reserved address are not contacted (``unknown``): a login there would test the scanning
machine's own network — a developer's local database, a CI service container — not where the credential came from.
Transport is what the URL asks for (``sslmode``, ``ssl``, ``rediss://``); PostgreSQL's SCRAM and MD5 and MySQL's
native and SHA-2 logins never send the password itself over the wire.

Tests reach real local servers through ``UNLEAK_VERIFY_DB_OVERRIDE`` (``host=127.0.0.1:port`` pairs separated by
commas), which accepts loopback addresses only and replaces only where the connection goes.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from scanner.errors import UsageError
from scanner.verify.model import Status, Verification, unknown

DB_OVERRIDE_ENV = "UNLEAK_VERIFY_DB_OVERRIDE"

# The URL around a password found by UL220, re-read from its line.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,30}://[^\s'\"<>`]+")

_SCHEMES = {
    "postgres": "postgresql", "postgresql": "postgresql", "postgresql+psycopg": "postgresql",
    "postgresql+psycopg2": "postgresql", "postgresql+asyncpg": "postgresql", "postgresql+pg8000": "postgresql",
    "mysql": "mysql", "mariadb": "mysql", "mysql+pymysql": "mysql", "mysql+mysqldb": "mysql",
    "mysql+mysqlconnector": "mysql", "mysql+asyncmy": "mysql", "mysql+aiomysql": "mysql", "mariadb+pymysql": "mysql",
    "redis": "redis", "rediss": "redis",
}
_PORTS = {"postgresql": 5432, "mysql": 3306, "redis": 6379}
EXTRA = "pip install 'unleak[verify-db]'"


@dataclass(frozen=True)
class Target:
    kind: str  # postgresql | mysql | redis
    scheme: str
    user: str
    password: str = field(repr=False)
    host: str
    port: int
    database: str
    params: dict[str, str]


def url_at(line: str, column: int) -> str:
    """The URL on ``line`` that holds the character at 1-based ``column`` (the password UL220 found), or ''."""
    for m in _URL.finditer(line):
        if m.start() < column <= m.end():
            return m.group(0).rstrip(".,;)]}")
    return ""


def parse(url: str) -> Target | None:
    """A connection URL unleak knows how to check, or None (another scheme, no password, no host)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    kind = _SCHEMES.get(parts.scheme.lower())
    if kind is None or not parts.hostname or parts.password is None:
        return None
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    db = unquote(parts.path.lstrip("/"))
    return Target(kind, parts.scheme.lower(), unquote(parts.username or ""), unquote(parts.password), parts.hostname,
                  port or _PORTS[kind], db, params)


def supported(url: str) -> bool:
    return parse(url) is not None


def overrides(env: dict[str, str] | None = None) -> dict[str, tuple[str, int]]:
    """Host → loopback (address, port), from ``UNLEAK_VERIFY_DB_OVERRIDE``. Anything else is a usage error."""
    raw = (os.environ if env is None else env).get(DB_OVERRIDE_ENV, "").strip()
    out: dict[str, tuple[str, int]] = {}
    for item in filter(None, (x.strip() for x in raw.split(","))):
        host, sep, addr = item.partition("=")
        ip, _, port = addr.rpartition(":")
        try:
            ok = bool(sep) and ipaddress.ip_address(ip.strip("[]")).is_loopback and 0 < int(port) < 65536
        except ValueError:
            ok = False
        if not ok:
            raise UsageError(f"{DB_OVERRIDE_ENV}: each entry must be HOST=<loopback address>:<port> "
                             "(verification is only ever redirected to this machine, for tests)")
        out[host.strip()] = (ip.strip("[]"), int(port))
    return out


def _public_address(host: str, port: int) -> str | None:
    """The address to connect to when every address ``host`` resolves to is public; None otherwise."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    addrs = [str(info[4][0]) for info in infos]
    for a in addrs:
        ip = ipaddress.ip_address(a.split("%")[0])
        if not ip.is_global:
            return None
    return addrs[0] if addrs else None


def contactable(t: Target) -> bool:
    return _public_address(t.host, t.port) is not None


def check(url: str, timeout: float, table: dict[str, tuple[str, int]] | None = None) -> Verification:
    """Log in with the URL's user and password at the URL's host, then disconnect. Never raises."""
    t = parse(url)
    if t is None:
        return unknown("database", "no check for this kind of URL")
    if t.host in (table or {}):
        addr, port = (table or {})[t.host]
    else:
        addr, port = _public_address(t.host, t.port) or "", t.port
        if not addr:
            return unknown(t.kind, "local, private or unresolvable host: not contacted")
    checker = _CHECKS[t.kind]
    try:
        return checker(t, addr, port, max(1.0, timeout))
    except ModuleNotFoundError:
        return unknown(t.kind, f"driver not installed ({EXTRA})")
    except Exception as exc:  # a driver failure unleak did not foresee: unknown, in unleak's words only
        return unknown(t.kind, f"unexpected answer ({type(exc).__name__})")


def _valid(t: Target) -> Verification:
    who = f"user {t.user}" if t.user else ""
    return Verification(Status.VALID, t.kind, "logged in, then disconnected", who)


def _postgres(t: Target, addr: str, port: int, timeout: float) -> Verification:
    import psycopg

    kw: dict[str, object] = {"host": t.host, "hostaddr": addr, "port": port, "user": t.user or None,
                             "password": t.password, "dbname": t.database or "postgres",
                             "connect_timeout": int(timeout), "sslmode": t.params.get("sslmode", "prefer"),
                             "application_name": "unleak-verify"}
    try:
        conn = psycopg.connect(**kw)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        state = getattr(exc, "sqlstate", None)
        text = str(exc)
        if state in ("28P01", "28000") or "password authentication failed" in text:
            return Verification(Status.INVALID, t.kind, "rejected (authentication failed)")
        if state == "3D000" or "does not exist" in text:
            # The server accepted the login before it looked for the database (PostgreSQL checks the password
            # first), so the credential works.
            return _valid(t)
        if "timeout" in text.lower():
            return unknown(t.kind, "timed out")
        return unknown(t.kind, "could not connect")
    conn.close()
    return _valid(t)


def _mysql(t: Target, addr: str, port: int, timeout: float) -> Verification:
    import pymysql

    ssl: dict[str, object] | None = None
    if t.params.get("ssl", t.params.get("ssl-mode", "")).lower() in ("true", "1", "required", "verify_ca",
                                                                      "verify_identity"):
        ssl = {}
    try:
        conn = pymysql.connect(host=addr, port=port, user=t.user, password=t.password, database=None,
                               connect_timeout=int(timeout), read_timeout=int(timeout), ssl=ssl,
                               autocommit=None)  # None: no SET AUTOCOMMIT query after the login
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else 0
        if code in (1045, 1698):  # ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR
            return Verification(Status.INVALID, t.kind, "rejected (access denied)")
        return unknown(t.kind, "could not connect")
    conn.close()
    return _valid(t)


def _redis(t: Target, addr: str, port: int, timeout: float) -> Verification:
    import redis

    kw: dict[str, object] = {"host": addr, "port": port, "password": t.password, "username": t.user or None,
                             "socket_timeout": timeout, "socket_connect_timeout": timeout,
                             "ssl": t.scheme == "rediss", "single_connection_client": True}
    client = None
    try:
        # With a single connection the login (HELLO/AUTH) happens here; PING answers only once it was accepted.
        client = redis.Redis(**kw)  # type: ignore[arg-type]
        client.ping()
    except redis.exceptions.AuthenticationError:
        return Verification(Status.INVALID, t.kind, "rejected (wrong password)")
    except redis.exceptions.ResponseError as exc:
        if "WRONGPASS" in str(exc) or "invalid password" in str(exc).lower():
            return Verification(Status.INVALID, t.kind, "rejected (wrong password)")
        return unknown(t.kind, "unexpected answer")
    except redis.exceptions.TimeoutError:
        return unknown(t.kind, "timed out")
    except redis.exceptions.ConnectionError:
        return unknown(t.kind, "could not connect")
    finally:
        if client is not None:
            client.close()
    return _valid(t)


_CHECKS: dict[str, Callable[[Target, str, int, float], Verification]] = {
    "postgresql": _postgres, "mysql": _mysql, "redis": _redis,
}
