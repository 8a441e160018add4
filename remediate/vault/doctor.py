"""``unleak secrets doctor``: what is wrong with a local vault file, and recovery of every entry that still opens.

The whole-file MAC makes any change to a namespace file fatal to reading it: one flipped byte inside one entry's
ciphertext and no entry of the namespace reads. But each entry is sealed on its own (AES-256-GCM with its own
reference as associated data), so an entry that still authenticates is exactly the value unleak sealed under that
name. The doctor checks, per namespace, whether the file parses, whether this machine holds its key, whether the
MAC holds and which write (generation) it is; and per entry whether it authenticates.

Repair (after a failed MAC or damaged entries) keeps the damaged file next to the vault (0600,
``<ns>.vault.damaged-<UTC timestamp>``), rewrites the namespace with every entry that authenticates under a fresh
MAC and a new generation, reads each one back, and lists by name what it could not recover.

Caveat, said in the output too: repair trusts each entry's own seal, not the file's. An entry copied in from an
older copy of the same namespace (a single entry rolled back to a value it once had) authenticates and comes back;
the MAC and the generation, which would have caught that, are what repair replaces. Check recovered values.
Nothing is repaired when the file does not parse, belongs to another namespace, or was sealed with a key this
machine does not have: those cases leave the file exactly as it is. No value is ever returned or printed.
"""

from __future__ import annotations

import hmac
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediate.vault.envelope import FORMAT, VERSION, VaultFile
from remediate.vault.local import LocalVault, user_data_dir
from remediate.vault.privatefs import check_private_dir, flocked, read_private, write_new_private
from remediate.vault.refs import NAME_RE, NAMESPACE_RE
from scanner.errors import UsageError, VaultError


@dataclass
class Repair:
    """What a repair did: names only."""

    damaged_copy: str
    recovered: list[str]
    lost: list[str]
    generation: int

    def to_dict(self) -> dict[str, Any]:
        return {"damaged_copy": self.damaged_copy, "recovered": self.recovered, "lost": self.lost,
                "generation": self.generation}


@dataclass
class Checkup:
    """One namespace file. ``None`` for a check that could not be made (no key: no MAC, no entries)."""

    namespace: str
    path: str
    problem: str | None = None  # why the file cannot be read as a vault at all (then nothing else was checked)
    key_present: bool | None = None
    mac_ok: bool | None = None
    generation: int | None = None
    seen_generation: int = 0
    entries: dict[str, bool] = field(default_factory=lambda: {})  # name -> authenticates
    repair: Repair | None = None

    @property
    def damaged(self) -> list[str]:
        return sorted(n for n, ok in self.entries.items() if not ok)

    @property
    def rolled_back(self) -> bool:
        """A whole file, but an older write than this machine last saw (put back from a backup or a sync)."""
        return self.problem is None and (self.generation or 0) < self.seen_generation

    @property
    def repairable(self) -> bool:
        """A MAC that fails or an entry that does not open, in a file this machine can otherwise read."""
        return (self.problem is None and bool(self.key_present)
                and (self.mac_ok is False or bool(self.damaged)))

    @property
    def recoverable(self) -> bool:
        """Repairable, and something is left to keep (a namespace of which no entry opens is left as it is)."""
        return self.repairable and (any(self.entries.values()) or not self.entries)

    @property
    def healthy(self) -> bool:
        return (self.problem is None and bool(self.key_present) and bool(self.mac_ok) and not self.damaged
                and not self.rolled_back)

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "path": self.path, "healthy": self.healthy, "problem": self.problem,
                "key_present": self.key_present, "mac_ok": self.mac_ok, "generation": self.generation,
                "seen_generation": self.seen_generation,
                "entries": [{"name": n, "authenticates": ok} for n, ok in sorted(self.entries.items())],
                "repair": self.repair.to_dict() if self.repair else None}


def namespaces(data_dir: Path) -> list[str]:
    """Every namespace with a vault file (``<ns>.vault``; damaged copies kept by a repair are not namespaces)."""
    return sorted(p.stem for p in (data_dir / "vaults").glob("*.vault") if NAMESPACE_RE.fullmatch(p.stem))


def doctor(namespace: str | None = None, *, repair: bool = False, data_dir: str | os.PathLike[str] | None = None,
           use_keyring: bool | None = None) -> list[Checkup]:
    """Check ``namespace`` (default: every namespace in the data directory); with ``repair``, repair each one that
    needs it. Raises :class:`VaultError` when a repair is asked for a file that cannot be repaired."""
    base = Path(data_dir) if data_dir is not None else user_data_dir()
    names = [namespace] if namespace is not None else namespaces(base)
    out = []
    for ns in names:
        vault = LocalVault(ns, data_dir=base, repo_path=base, use_keyring=use_keyring)
        if namespace is not None and not vault.path.exists():
            raise UsageError(f"there is no vault file for namespace {ns!r} ({vault.path}); the namespaces here "
                             f"are: {', '.join(namespaces(base)) or 'none'}")
        if not repair:
            out.append(check(vault)[0])
            continue
        with flocked(vault.lock_path):  # no writer between the check and the rewrite
            vault._remove_stale_temp_files()
            found, sealed = check(vault)
            if found.recoverable:
                found.repair = _repair(vault, found, sealed)
            elif namespace is not None and not found.healthy and not found.rolled_back:
                raise VaultError(_refusal(found))
            out.append(found)
    return out


def check(vault: LocalVault) -> tuple[Checkup, VaultFile | None]:
    """The checkup of one namespace file, and its parsed body when this machine's key opened it."""
    check_private_dir(vault.data_dir)
    check_private_dir(vault.vault_dir)
    found = Checkup(vault.namespace, str(vault.path), seen_generation=vault._seen_generation())
    raw = read_private(vault.path)
    if raw is None:
        found.problem = "there is no vault file"
        return found, None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        found.problem = "not valid JSON"
        return found, None
    if not isinstance(doc, dict):
        doc = {}
    entries, kid, ns, gen = (doc.get(k) for k in ("entries", "key_id", "namespace", "generation"))
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        found.problem = "not an unleak vault file of a version this unleak reads"
    elif not isinstance(entries, dict) or not isinstance(kid, str) or not isinstance(ns, str) or not (
            gen is None or (type(gen) is int and gen >= 1)):
        found.problem = "unexpected structure"
    elif ns != vault.namespace:
        found.problem = f"it belongs to namespace {ns!r}"
    if found.problem is not None:
        return found, None
    assert isinstance(entries, dict) and isinstance(kid, str) and isinstance(ns, str)
    found.generation = gen
    master = vault.keys.find(kid)
    if master is None:
        vault.keys.forget()
        master = vault.keys.find(kid)
    found.key_present = master is not None
    if master is None:
        return found, None
    vf = VaultFile(ns, kid, entries, gen)
    mac = doc.get("mac")
    found.mac_ok = isinstance(mac, str) and hmac.compare_digest(vault._mac(master, vf), mac)
    for name, entry in entries.items():
        found.entries[name] = _opens(vault, vf, master, name, entry)
    return found, vf


def _opens(vault: LocalVault, vf: VaultFile, master: bytes, name: str, entry: object) -> bool:
    if not NAME_RE.fullmatch(name) or not isinstance(entry, dict) or not all(
            isinstance(v, str) for v in entry.values()):
        return False
    try:
        vault._open_entry(vf, master, name)  # the value is dropped here: only whether it opened leaves
    except VaultError:
        return False
    return True


def _refusal(found: Checkup) -> str:
    where = found.path
    if found.problem is not None:
        return (f"the vault file {where} cannot be repaired: {found.problem}. Nothing was changed; restore it from a "
                "backup, or move it aside to start an empty vault")
    if not found.key_present:
        return (f"the vault file {where} was sealed with a key this machine does not have: the doctor cannot tell "
                "damage from a foreign key and repairs nothing. Restore that key (the vault.key file or OS keyring "
                "entry it was sealed with); nothing was changed")
    if not any(found.entries.values()):
        return f"no entry of {where} authenticates: there is nothing to recover. Nothing was changed"
    return f"the vault file {where} needs no repair"


def _repair(vault: LocalVault, found: Checkup, sealed: VaultFile | None) -> Repair:
    assert sealed is not None
    keep = [n for n, ok in found.entries.items() if ok]
    master = vault.keys.find(sealed.key_id)
    assert master is not None
    copy = _keep_damaged_copy(vault)
    plain = {n: vault._open_entry(sealed, master, n) for n in keep}
    fresh = VaultFile(vault.namespace, sealed.key_id, {n: sealed.entries[n] for n in keep}, sealed.generation)
    vault._store(fresh, master)  # a fresh MAC and a generation past every one this machine has seen
    back = vault._load()
    if back is None or set(back[0].entries) != set(keep) or not all(
            hmac.compare_digest(vault._open_entry(back[0], back[1], n), v) for n, v in plain.items()):
        raise VaultError(f"the repaired vault file {vault.path} did not read back as written; the damaged file is "
                         f"kept as {copy}")
    return Repair(str(copy), sorted(keep), found.damaged, back[0].generation or 0)


def _keep_damaged_copy(vault: LocalVault) -> Path:
    """The damaged file as it was, next to it (0600, never overwriting an earlier copy)."""
    raw = read_private(vault.path)
    assert raw is not None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for n in range(100):
        copy = vault.vault_dir / f"{vault.path.name}.damaged-{stamp}{f'-{n}' if n else ''}"
        try:
            write_new_private(copy, raw)
        except FileExistsError:
            continue
        return copy
    raise VaultError(f"could not keep a copy of the damaged vault file {vault.path}; nothing was changed")
