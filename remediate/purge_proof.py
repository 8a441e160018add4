"""The purge's proof: the rewritten mirror compared with the untouched original, commit by commit (same parents,
authors, committers and messages, same trees but for the replaced values), tag by tag and note by note; then every
object of the mirror searched for a purged value, and a history scan of it for a purged fingerprint."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from remediate.purge import PurgeError, Replacement, apply
from scanner import git

_BINARY_SNIFF = 8192  # git-filter-repo leaves blobs with a NUL byte in their first 8 KiB alone


@dataclass
class Proof:
    commits: int = 0
    blobs_changed: int = 0
    messages_changed: int = 0
    refs: int = 0
    objects_searched: int = 0
    signatures_dropped: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # expected losses, reported but not failures

    @property
    def ok(self) -> bool:
        return not self.problems



def notes_of(repo: Path, bare: bool = True) -> dict[str, dict[str, str]]:
    """Every notes ref (``refs/notes/*``) of ``repo`` (the mirror, or with ``bare=False`` the user's clone):
    annotated object -> note blob."""
    out: dict[str, dict[str, str]] = {}
    for ref, _sha in git.ref_targets(repo, ("refs/notes",)):
        where = [f"--git-dir={repo}"] if bare else []
        listed = git.run([*where, "notes", f"--ref={ref}", "list"], repo)
        out[ref] = {obj: blob for blob, obj in (line.split() for line in listed.splitlines() if len(line.split()) == 2)}
    return out



def _compare_notes(original: Path, mirror: Path, reps: list[Replacement], commit_map: dict[str, str],
                   proof: Proof) -> None:
    """Each notes ref: the same notes, on the rewritten commits, equal modulo the replaced values."""
    new_notes = notes_of(mirror)
    with git.CatFile(original) as old_cat, git.CatFile(mirror) as new_cat:
        for ref, entries in notes_of(original, bare=False).items():
            got = new_notes.get(ref, {})
            expected_keys = {commit_map.get(obj, obj) for obj in entries}
            if set(got) != expected_keys:
                proof.problems.append(f"{ref}: the notes are not on the rewritten commits")
                continue
            for obj, blob in entries.items():
                o, n = old_cat.read(blob), new_cat.read(got[commit_map.get(obj, obj)])
                if o is None or n is None or n[1] != apply(reps, o[1]):
                    proof.problems.append(f"{ref}: a note differs beyond the replaced values")
                    break
            else:
                proof.notes.append(f"{ref}: {len(entries)} note(s) moved to the rewritten commits; its history "
                                   "was replaced by one commit")



_SIGNATURES = (b"gpgsig", b"gpgsig-sha256", b"mergetag")
_CORE_HEADERS = (b"tree", b"parent", b"author", b"committer", b"encoding")


@dataclass
class _Commit:
    tree: bytes
    parents: list[bytes]
    core: dict[bytes, bytes]  # author, committer, encoding
    extra: list[bytes]  # names of other headers: signatures and tool-specific ones (gitbutler-*, ...)
    message: bytes


def _commit_fields(data: bytes) -> _Commit:
    head, _, message = data.partition(b"\n\n")
    c = _Commit(tree=b"", parents=[], core={}, extra=[], message=message)
    for line in head.split(b"\n"):
        if line.startswith(b" "):  # continuation of a multi-line header (gpgsig, mergetag)
            continue
        key, _, val = line.partition(b" ")
        if key == b"tree":
            c.tree = val
        elif key == b"parent":
            c.parents.append(val)
        elif key in _CORE_HEADERS:
            c.core[key] = val
        else:
            c.extra.append(key)
    return c


def _same_message(old: _Commit, new: _Commit, reps: list[Replacement]) -> bool:
    expected = apply(reps, old.message)
    if new.message == expected:
        return True
    # fast-export re-encodes messages in a legacy encoding to UTF-8 and drops the header
    enc = old.core.get(b"encoding", b"").decode("ascii", "replace")
    if enc and b"encoding" not in new.core:
        try:
            return new.message == expected.decode(enc).encode("utf-8")
        except (LookupError, UnicodeDecodeError):
            return False
    return False


def _tree_entries(data: bytes) -> dict[bytes, tuple[bytes, str]]:
    entries: dict[bytes, tuple[bytes, str]] = {}
    i = 0
    while i < len(data):
        sp = data.index(b" ", i)
        nul = data.index(b"\0", sp)
        entries[data[sp + 1:nul]] = (data[i:sp], data[nul + 1:nul + 21].hex())
        i = nul + 21
    return entries


class _TreeCompare:
    def __init__(self, old: git.CatFile, new: git.CatFile, reps: list[Replacement], proof: Proof) -> None:
        self.old, self.new, self.reps, self.proof = old, new, reps, proof
        self.done: set[tuple[str, str]] = set()

    def _read(self, cat: git.CatFile, oid: str) -> bytes:
        obj = cat.read(oid)
        if obj is None:
            raise PurgeError(f"object {oid} is missing; the mirror is incomplete")
        return obj[1]

    def tree(self, old: str, new: str, path: str) -> None:
        if old == new or (old, new) in self.done:
            return
        self.done.add((old, new))
        a = _tree_entries(self._read(self.old, old))
        b = _tree_entries(self._read(self.new, new))
        if a.keys() != b.keys():
            self.proof.problems.append(f"{path or '/'}: the file names differ after the rewrite")
            return
        for name, (mode, oid) in a.items():
            nmode, noid = b[name]
            sub = f"{path}{name.decode('utf-8', 'replace')}"
            if mode != nmode:
                self.proof.problems.append(f"{sub}: mode changed")
            elif oid == noid:
                continue
            elif mode == b"40000":
                self.tree(oid, noid, sub + "/")
            elif mode == b"160000":
                self.proof.problems.append(f"{sub}: submodule commit changed")
            else:
                self.blob(oid, noid, sub)

    def blob(self, old: str, new: str, path: str) -> None:
        if (old, new) in self.done:
            return
        self.done.add((old, new))
        before = self._read(self.old, old)
        after = self._read(self.new, new)
        expected = before if b"\0" in before[:_BINARY_SNIFF] else apply(self.reps, before)
        if after != expected:
            self.proof.problems.append(f"{path}: content differs beyond the replaced values")
        else:
            self.proof.blobs_changed += 1


def read_map(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for line in path.read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


def prove(original: Path, mirror: Path, reps: list[Replacement], fingerprints: set[str],
          refs_before: set[str]) -> Proof:
    """Compare the rewritten mirror with the untouched original, commit by commit, then search it for values."""
    proof = Proof()
    lost_headers: dict[str, int] = {}  # non-standard commit header -> commits that lost it
    commit_map = read_map(mirror / "filter-repo" / "commit-map")
    if not commit_map:
        proof.problems.append("git-filter-repo wrote no commit map; cannot compare histories")
        return proof
    # Notes histories are not rewritten commit by commit (see purge_run._rewrite_notes); they are compared note by note.
    old_commits = set(git.run(["rev-list", "--exclude=refs/notes/*", "--all"], original).split())
    missing = old_commits - commit_map.keys()
    if missing:
        proof.problems.append(f"{len(missing)} commit(s) of the original were not rewritten")
    with git.CatFile(original) as old_cat, git.CatFile(mirror) as new_cat:
        trees = _TreeCompare(old_cat, new_cat, reps, proof)
        for old, new in commit_map.items():
            if set(new) == {"0"}:
                proof.problems.append(f"commit {old[:10]} was dropped by the rewrite")
                continue
            o = old_cat.read(old)
            n = new_cat.read(new)
            if o is None or n is None:
                proof.problems.append(f"commit {old[:10]} cannot be read on both sides")
                continue
            oc, nc = _commit_fields(o[1]), _commit_fields(n[1])
            proof.commits += 1
            if [commit_map.get(p.decode(), p.decode()) for p in oc.parents] != [p.decode() for p in nc.parents]:
                proof.problems.append(f"commit {old[:10]}: parents differ")
            if {k: v for k, v in oc.core.items() if k != b"encoding"} != \
                    {k: v for k, v in nc.core.items() if k != b"encoding"}:
                proof.problems.append(f"commit {old[:10]}: author or committer differ")
            if not _same_message(oc, nc, reps):
                proof.problems.append(f"commit {old[:10]}: message differs beyond the replaced values")
            elif nc.message != oc.message:
                proof.messages_changed += 1
            for key in set(oc.extra) - set(nc.extra):
                if key in _SIGNATURES:
                    proof.signatures_dropped += 1
                else:
                    name = key.decode("ascii", "replace")
                    lost_headers[name] = lost_headers.get(name, 0) + 1
            trees.tree(oc.tree.decode(), nc.tree.decode(), "")
        _compare_tags(mirror, old_cat, new_cat, reps, proof)
    _compare_notes(original, mirror, reps, commit_map, proof)
    if proof.signatures_dropped:
        proof.notes.append(f"{proof.signatures_dropped} commit signature(s) dropped (a rewritten commit cannot keep "
                           "its signature; re-sign if you need them)")
    for header, count in sorted(lost_headers.items()):
        proof.notes.append(f"{count} commit(s) lost their non-standard '{header}' header (git fast-export does not "
                           "carry tool-specific headers)")
    refs_after = {name for name, _ in git.ref_targets(mirror, ("refs/",))}
    proof.refs = len(refs_after)
    lost = sorted(refs_before - refs_after)
    if lost:
        proof.problems.append(f"{len(lost)} ref(s) missing in the mirror: {', '.join(lost[:5])}")
    _search_values(mirror, reps, proof)
    _history_scan(mirror, fingerprints, proof)
    return proof


_SIG = b"-----BEGIN PGP SIGNATURE-----"


def _compare_tags(mirror: Path, old_cat: git.CatFile, new_cat: git.CatFile, reps: list[Replacement],
                  proof: Proof) -> None:
    """Annotated tags: same name, type and tagger; message equal modulo the replaced values (a signature, which
    cannot survive a rewrite, may be gone)."""
    path = mirror / "filter-repo" / "ref-map"
    rows = path.read_text().splitlines()[1:] if path.is_file() else []
    for row in rows:
        parts = row.split()
        if len(parts) != 3 or not parts[2].startswith("refs/tags/"):
            continue
        o, n = old_cat.read(parts[0]), new_cat.read(parts[1])
        if o is None or o[0] != "tag":
            continue
        if n is None or n[0] != "tag":
            proof.problems.append(f"{parts[2]}: the annotated tag became something else")
            continue
        ohead, _, omsg = o[1].partition(b"\n\n")
        nhead, _, nmsg = n[1].partition(b"\n\n")
        strip = [h for h in ohead.split(b"\n") if not h.startswith(b"object ")]
        if strip != [h for h in nhead.split(b"\n") if not h.startswith(b"object ")]:
            proof.problems.append(f"{parts[2]}: tag name, type or tagger differ")
        expected = apply(reps, omsg)
        if nmsg != expected and nmsg != expected.split(_SIG, 1)[0]:
            proof.problems.append(f"{parts[2]}: tag message differs beyond the replaced values")


def _search_values(mirror: Path, reps: list[Replacement], proof: Proof) -> None:
    """Every object in the mirror, reachable or not: none may hold a purged value."""
    found: dict[str, int] = {}
    with git.CatFile(mirror) as cat:
        for oid, _otype, _size in git.all_object_ids(mirror):
            obj = cat.read(oid)
            if obj is None:
                continue
            proof.objects_searched += 1
            if any(form in obj[1] for r in reps for form in r.forms):
                found[obj[0]] = found.get(obj[0], 0) + 1
    for otype, n in sorted(found.items()):
        hint = " (git-filter-repo does not rewrite binary files)" if otype == "blob" else ""
        proof.problems.append(f"{n} {otype} object(s) in the mirror still hold a purged value{hint}")


def _history_scan(mirror: Path, fingerprints: set[str], proof: Proof) -> None:
    """The plain history scan (``unleak scan --history``'s reference path: multi-line blocks widened, archives read
    member by member, nothing excluded), over the (bare) mirror."""
    from scanner import archives, sources
    from scanner.engine import Engine
    from scanner.result import Stats

    engine = Engine()
    left: set[str] = set()
    for chunk in sources.commits(mirror, ["--all"], Stats(), sources.PathFilter(),
                                 archive_depth=archives.DEFAULT_DEPTH):
        left.update(f.fingerprint for f in engine.scan_chunk(chunk) if f.fingerprint in fingerprints)
    for chunk in sources.messages(mirror, ["--all"], Stats(), tags=True):  # commit and tag messages too
        left.update(f.fingerprint for f in engine.scan_chunk(chunk) if f.fingerprint in fingerprints)
    if left:
        proof.problems.append(f"a history scan of the mirror still finds {len(left)} purged secret(s)")
