"""Sending probes, safely: HTTPS to the provider's own host only, certificates checked, no redirects, per-host
concurrency and rate limits, one time budget for the whole run, bounded answers.

httpx is imported here and only here, and this module is imported only when verifying: a scan without
``--verify`` opens no socket.

Tests and benchmarks play the providers on this machine through ``UNLEAK_VERIFY_OVERRIDE`` (``host=URL`` pairs
separated by commas, ``*`` for every host), which accepts loopback addresses only, and ``UNLEAK_VERIFY_CA_FILE``,
the CA that the loopback server's certificate chains to; that CA is trusted for overridden requests and nothing
else.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scanner.errors import UsageError
from scanner.verify.model import Status, Verification, unknown
from scanner.verify.specs import Answer, Credential, Probe, Verifier

MAX_BODY = 64 * 1024
OVERRIDE_ENV = "UNLEAK_VERIFY_OVERRIDE"
CA_ENV = "UNLEAK_VERIFY_CA_FILE"


@dataclass(frozen=True)
class Limits:
    budget: float = 60.0  # seconds for the whole run; what is not answered by then is unknown
    per_host: int = 4  # requests in flight to one provider host
    rate: float = 10.0  # requests per second to one provider host
    request_timeout: float = 10.0


@dataclass(frozen=True)
class Job:
    key: str
    verifier: Verifier
    cred: Credential


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def overrides(env: dict[str, str] | None = None) -> dict[str, str]:
    """Provider host → loopback base URL, from ``UNLEAK_VERIFY_OVERRIDE``. Anything else is a usage error."""
    raw = (os.environ if env is None else env).get(OVERRIDE_ENV, "").strip()
    out: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in raw.split(","))):
        host, sep, url = item.partition("=")
        parts = urlsplit(url)
        if not sep or parts.scheme != "https" or not parts.hostname or not _loopback(parts.hostname):
            raise UsageError(f"{OVERRIDE_ENV}: each entry must be HOST=https://<loopback address>[:port] "
                             "(verification is only ever redirected to this machine, for tests)")
        out[host.strip()] = url.rstrip("/")
    return out


def _target(probe: Probe, table: dict[str, str]) -> tuple[str, bool]:
    base = table.get(probe.host) or table.get("*")
    if base:
        return base + probe.path, True
    return f"https://{probe.host}{probe.path}", False


def _scrub(v: Verification, cred: Credential) -> Verification:
    """An answer field that carries the credential itself (an echo) is dropped, so no output can show it."""
    secrets = [s for s in (cred.value, cred.pair, cred.target) if s]

    def clean(text: str) -> str:
        return "" if any(s in text for s in secrets) else text

    scopes = tuple(s for s in v.scopes if clean(s))
    return Verification(v.status, v.provider, clean(v.reason), clean(v.account), scopes, clean(v.expires))


def run(jobs: Sequence[Job], limits: Limits) -> dict[str, Verification]:
    """Verify every job; returns a verdict per job key. Never raises for a network or provider failure."""
    if not jobs:
        return {}
    from scanner.verify import databases

    return asyncio.run(_run(list(jobs), limits, overrides(), databases.overrides()))


async def _run(jobs: list[Job], limits: Limits, table: dict[str, str],
               db_table: dict[str, tuple[str, int]] | None = None) -> dict[str, Verification]:
    import httpx

    results: dict[str, Verification] = {}
    sems: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(max(1, limits.per_host)))
    slots: dict[str, float] = defaultdict(float)
    slot_lock = asyncio.Lock()
    loop = asyncio.get_running_loop()
    interval = 1.0 / limits.rate if limits.rate > 0 else 0.0

    async def wait_slot(host: str) -> None:
        async with slot_lock:
            now = loop.time()
            start = max(now, slots[host])
            slots[host] = start + interval
        if start > now:
            await asyncio.sleep(start - now)

    ca = os.environ.get(CA_ENV)
    test_ctx: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca and table else True
    timeout = httpx.Timeout(limits.request_timeout)
    async with httpx.AsyncClient(follow_redirects=False, timeout=timeout, trust_env=True) as real, \
            httpx.AsyncClient(follow_redirects=False, timeout=timeout, trust_env=False, verify=test_ctx) as test:

        async def login(job: Job, connect: Any) -> None:
            from scanner.verify import databases

            t = databases.parse(job.cred.target)
            host = t.host if t is not None else ""
            async with sems[host]:
                if t is not None:
                    await wait_slot(host)
                # A driver call blocks: it runs in a thread, bounded by its own connect timeout.
                verdict = await asyncio.to_thread(connect, job.cred, limits.request_timeout, db_table or {})
            results[job.key] = _scrub(verdict, job.cred)

        async def one(job: Job) -> None:
            provider = job.verifier.provider
            if job.verifier.connect is not None:
                await login(job, job.verifier.connect)
                return
            probe = job.verifier.build(job.cred)
            if probe is None:
                results[job.key] = unknown(provider, "no side-effect-free check for this kind of credential"
                                           if not job.verifier.pair_rules or job.cred.pair else
                                           "needs its other half in the same file to be checked")
                return
            if not job.verifier.host_re.fullmatch(probe.host) or not probe.path.startswith("/"):
                results[job.key] = unknown(provider, "refused: not the provider's own host")
                return
            url, overridden = _target(probe, table)
            headers = dict(probe.headers)
            if overridden:
                headers["Host"] = probe.host  # the request is exactly the one the provider would get
            client = test if overridden else real
            async with sems[probe.host]:
                # The rate slot is taken only once a request may go (holding a slot while waiting for the
                # concurrency limit would let queued requests leave in a burst).
                await wait_slot(probe.host)
                try:
                    async with client.stream(probe.method, url, headers=headers, content=probe.body or None) as r:
                        body = b""
                        async for part in r.aiter_bytes():
                            body += part
                            if len(body) >= MAX_BODY:
                                body = body[:MAX_BODY]
                                break
                        ans = Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, body)
                except httpx.TimeoutException:
                    results[job.key] = unknown(provider, "timed out")
                    return
                except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
                    # The type only: an exception's text can hold the URL, and for a webhook the URL is the secret.
                    results[job.key] = unknown(provider, f"network error ({type(exc).__name__})")
                    return
            try:
                verdict = job.verifier.read(ans)
            except Exception as exc:  # a provider answer unleak did not expect must not end the run
                verdict = unknown(provider, f"unexpected answer ({type(exc).__name__})")
            results[job.key] = _scrub(verdict, job.cred)

        tasks = [asyncio.create_task(one(j)) for j in jobs]
        _done, pending = await asyncio.wait(tasks, timeout=limits.budget)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for t in _done:
            exc: Any = t.exception()
            if exc is not None:
                raise exc
    for job in jobs:
        results.setdefault(job.key, unknown(job.verifier.provider, "time budget exceeded"))
    return results


def planned_hosts(jobs: Sequence[Job]) -> dict[str, int]:
    """Which hosts would be contacted, and for how many credentials (for the notice before anything is sent)."""
    from scanner.verify import databases

    table = databases.overrides()
    out: dict[str, int] = defaultdict(int)
    for job in jobs:
        if job.verifier.connect is not None:
            t = databases.parse(job.cred.target)
            if t is not None and (t.host in table or databases.contactable(t)):
                out[f"{t.host}:{t.port} ({t.kind})"] += 1
            continue
        probe = job.verifier.build(job.cred)
        if probe is not None and job.verifier.host_re.fullmatch(probe.host):
            out[probe.host] += 1
    return dict(sorted(out.items()))


__all__ = ["Job", "Limits", "Status", "planned_hosts", "run"]
