"""Live verification (opt-in): does a found credential still work, and what can it do?

For each distinct secret (by fingerprint, once per run) whose rule has a verifier, unleak calls the provider's
documented, side-effect-free identity endpoint and records ``valid``, ``invalid`` or ``unknown`` (a network error, a
rate limit, an unexpected answer: never guessed), and what the answer says beyond that (owner, scopes, expiry).
Credentials that come in two halves (an AWS key id and its secret key, a Twilio API key SID and its secret) are
paired with the nearest other half in the same file of the same commit.

Verdicts are cached by fingerprint under ``.git/unleak/verify-cache.json`` (never the value) for ``cache_ttl``
seconds; ``unknown`` is never cached. The file carries a MAC under the scan cache's key
(:func:`scanner.cache.mac_key`): a coding agent can write there, and a verdict it forged ("invalid": already
revoked) would send a live credential to the bottom of the rotation list. A file whose MAC does not hold is
ignored; without the key nothing is cached. This package is imported only when verifying.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.finding import Finding, fingerprint
from scanner.verify.model import Status, Verification, unknown
from scanner.verify.specs import Credential, Verifier, by_rule, pair_rule_ids

CACHE_FILE = "verify-cache.json"
CACHE_VERSION = 2  # 2: signed


@dataclass(frozen=True)
class VerifyOptions:
    budget: float = 60.0
    per_host: int = 4
    rate: float = 10.0
    cache_dir: Path | None = None  # a repository's .git/unleak; None: no cache
    cache_ttl: float = 24 * 3600.0
    # The text of a finding's line (its file in the work tree, or its blob in history), for checks that need more
    # than the value: a database login needs the whole URL around the password.
    read_line: Callable[[Finding], str | None] | None = None


@dataclass
class VerifyReport:
    results: dict[str, Verification] = field(default_factory=dict)  # by finding fingerprint
    hosts: dict[str, int] = field(default_factory=dict)  # provider host → credentials sent there
    sent: int = 0
    cached: int = 0


@dataclass(frozen=True)
class _Plan:
    key: str  # cache key: fingerprint, plus the other half's fingerprint for paired credentials
    fingerprints: tuple[str, ...]  # findings this verdict belongs to
    verifier: Verifier
    cred: Credential


def plan(findings: Iterable[Finding], read_line: Callable[[Finding], str | None] | None = None) -> list[_Plan]:
    """One job per distinct secret with a verifier, pairs matched by place."""
    table = by_rule()
    pair_ids = pair_rule_ids()
    findings = list(findings)
    halves: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        if f.rule_id in pair_ids and f.secret.reveal():
            halves.setdefault((f.path, f.commit.sha if f.commit else ""), []).append(f)
    out: dict[str, _Plan] = {}
    for f in findings:
        verifier = table.get(f.rule_id)
        if verifier is None or f.fingerprint in out:
            continue
        value = f.secret.reveal()
        pair: Finding | None = None
        if verifier.pair_rules:
            near = [h for h in halves.get((f.path, f.commit.sha if f.commit else ""), [])
                    if h.rule_id in verifier.pair_rules]
            pair = min(near, key=lambda h: (abs(h.line - f.line), h.line), default=None)
        key = f.fingerprint + (":" + pair.fingerprint if pair else "")
        fps = (f.fingerprint, pair.fingerprint) if pair else (f.fingerprint,)
        target = ""
        if verifier.connect is not None:
            target = _target(f, read_line)
            if not target and value:
                continue  # not a URL unleak can log in with (another scheme): no verdict rather than noise
            key += ":" + fingerprint("db-url", target)  # one verdict per place the password logs in
        out[f.fingerprint] = _Plan(key, fps, verifier,
                                   Credential(value, pair.secret.reveal() if pair else "", target))
    return list(out.values())


def _target(f: Finding, read_line: Callable[[Finding], str | None] | None) -> str:
    """The connection URL around ``f``'s password, when its line is at hand and unleak can check that scheme."""
    from scanner.verify import databases

    line = read_line(f) if read_line is not None and f.secret.reveal() else None
    url = databases.url_at(line, f.column) if line else ""
    return url if url and databases.supported(url) and f.secret.reveal() in url else ""


def _mac(key: bytes, entries: dict[str, Any]) -> str:
    import hashlib
    import hmac

    body = json.dumps(entries, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hmac.new(key, b"verify-cache\0" + body, hashlib.sha256).hexdigest()


def _cache_key(opts: VerifyOptions) -> bytes | None:
    from scanner.cache import mac_key

    return mac_key() if opts.cache_dir is not None else None


def _load_cache(opts: VerifyOptions) -> dict[str, Any]:
    import hmac

    key = _cache_key(opts)
    if key is None or opts.cache_dir is None:
        return {}
    try:
        data = json.loads((opts.cache_dir / CACHE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("entries"), dict):
        return {}
    mac = data.get("mac")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(key, data["entries"])):
        return {}  # not written by unleak with this user's key: every verdict is asked for again
    return dict(data["entries"])


def _save_cache(opts: VerifyOptions, entries: dict[str, Any]) -> None:
    key = _cache_key(opts)
    if key is None or opts.cache_dir is None:
        return
    from scanner.fileio import state_dir, write_state_file

    now = time.time()
    keep = {k: v for k, v in entries.items() if now - float(v.get("checked", 0)) < opts.cache_ttl}
    doc = {"version": CACHE_VERSION, "entries": keep, "mac": _mac(key, keep)}
    # .git/unleak only as unleak's own directory: never through a symbolic link an agent planted there.
    home = state_dir(opts.cache_dir.parent, opts.cache_dir.name)
    if home is None:
        return
    try:
        write_state_file(home / CACHE_FILE, (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode("utf-8"))
    except OSError:
        return  # a read-only .git: the verdicts are still right, only not remembered


def prepare(findings: Iterable[Finding], opts: VerifyOptions) -> tuple[list[_Plan], dict[str, Any]]:
    """The jobs still to send (not answered by the cache) and the cache entries, for the notice before sending."""
    entries = _load_cache(opts)
    now = time.time()
    todo = []
    for p in plan(findings, opts.read_line):
        hit = entries.get(p.key)
        if not (isinstance(hit, dict) and now - float(hit.get("checked", 0)) < opts.cache_ttl):
            todo.append(p)
    return todo, entries


def hosts_for(plans: list[_Plan]) -> dict[str, int]:
    from scanner.verify import client

    return client.planned_hosts([client.Job(p.key, p.verifier, p.cred) for p in plans])


def verify(findings: Iterable[Finding], opts: VerifyOptions | None = None) -> VerifyReport:
    """Verify every distinct secret among ``findings`` that has a verifier. Values go only to their provider."""
    from scanner.verify import client

    opts = opts or VerifyOptions()
    findings = list(findings)
    plans = plan(findings, opts.read_line)
    todo, entries = prepare(findings, opts)
    report = VerifyReport()
    fresh: dict[str, Verification] = {}
    if todo:
        jobs = [client.Job(p.key, p.verifier, p.cred) for p in todo if p.cred.value]
        report.hosts = client.planned_hosts(jobs)
        fresh = client.run(jobs, client.Limits(budget=opts.budget, per_host=opts.per_host, rate=opts.rate))
        report.sent = sum(report.hosts.values())
        now = time.time()
        for key, v in fresh.items():
            if v.status is not Status.UNKNOWN:
                entries[key] = {**v.to_dict(), "checked": now}
        _save_cache(opts, entries)
    for p in plans:
        if p.key in fresh:
            v = fresh[p.key]
        elif isinstance(entries.get(p.key), dict) and p.cred.value:
            v = Verification.from_dict(entries[p.key])
            v = Verification(v.status, v.provider, v.reason, v.account, v.scopes, v.expires, cached=True)
            report.cached += 1
        else:
            v = unknown(p.verifier.provider, "value not at hand (a cached history record keeps none)")
        for fp in p.fingerprints:
            report.results.setdefault(fp, v)
    return report


def line_reader(root: Path) -> Callable[[Finding], str | None]:
    """Reads a finding's line back: from the work tree for files, from its commit's blob for history."""
    from scanner import git

    def read(f: Finding) -> str | None:
        data: bytes | None
        if f.commit is not None:
            data = git.blob_at(root, f.commit.sha, f.path)
        else:
            try:
                with open(root / f.path, "rb") as fh:
                    data = fh.read(1 << 20)
            except OSError:
                data = None
        if data is None:
            return None
        lines = data.decode("utf-8", "replace").splitlines()
        return lines[f.line - 1] if 0 < f.line <= len(lines) else None

    return read


def cache_dir_for(root: Path) -> Path | None:
    """``.git/unleak`` of the repository at ``root``, or None outside one."""
    from scanner import git

    if git.toplevel(root) is None:
        return None
    try:
        return git.common_git_dir(root) / "unleak"
    except Exception:
        return None


__all__ = [
    "Status",
    "Verification",
    "VerifyOptions",
    "VerifyReport",
    "cache_dir_for",
    "line_reader",
    "plan",
    "verify",
]

