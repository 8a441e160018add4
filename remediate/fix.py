"""``unleak fix`` as a library: scan -> plan -> (on apply) vault, files, confirmation, reference file.

Order and safety (ARCHITECTURE.md, invariant 2):

1. every value is put into the vault and read back equal, before any file changes;
2. the rewritten files are written atomically, all or nothing;
3. the touched files are read again and scanned: the moved values must be gone;
4. the reference file (a ``.env`` whose values are references, safe to commit) is written last.

If any step fails, the files written so far are restored, vault entries this run created are removed again, and
:class:`FixError` says what happened and that nothing changed. Running ``fix`` again on the fixed tree finds nothing
to do.
"""

from __future__ import annotations

import contextlib
import hmac
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self

from remediate import dotenv, patch, staging
from remediate.plan import build
from remediate.plan_model import Plan
from remediate.vault import Vault
from remediate.vault.refs import REFERENCE_FILE
from scanner import git
from scanner.api import ScanRequest, scan
from scanner.errors import UnleakError, UsageError
from scanner.finding import Confidence
from scanner.result import ScanResult

DEFAULT_REFERENCE_FILE = REFERENCE_FILE
_LEFT_SHOWN = 10


class FixError(UnleakError):
    """The fix could not be applied; the files are as they were (the message says so, or says what to check)."""


@dataclass
class FixResult:
    stored: list[str] = field(default_factory=lambda: [])  # names put into (or confirmed in) the vault
    written: list[str] = field(default_factory=lambda: [])  # files rewritten, the reference file last
    confirmed: bool = False  # touched files re-read and re-scanned: the values are gone

    def to_dict(self) -> dict[str, Any]:
        return {"stored": self.stored, "written": self.written, "confirmed": self.confirmed}


def project_root(start: Path) -> Path:
    return (git.toplevel(start) or start).resolve()


def plan_fix(request: ScanRequest, vault: Vault, *, reference_file: str = DEFAULT_REFERENCE_FILE,
             min_confidence: Confidence = Confidence.MEDIUM, names: Mapping[str, str] | None = None
             ) -> tuple[Plan, ScanResult]:
    """Scan the working tree (``request.paths`` or everything) and plan the fix. Reads only, once a fix that was
    killed mid-way has been finished (:func:`remediate.staging.recover`; the plan's notes say what it did).

    Findings below ``min_confidence`` (by default the low-confidence entropy guesses, which are mostly hashes and
    ids) are not moved; the plan's notes say how many were left and how to include them.
    """
    with _NotedInterrupts():
        return _plan_fix(request, vault, reference_file=reference_file, min_confidence=min_confidence, names=names)


def _reference_file_notes(plan: Plan, root: Path) -> list[str]:
    """What would make the reference files useless or harmful: git-ignored (collaborators and CI get code that
    reads variables and no references), or a file dotenv loaders read (a program started without `unleak run`
    gets reference strings as values instead of failing on a missing variable)."""
    notes: list[str] = []
    refs = [c.path for c in plan.changes if c.reference_file]
    if not refs:
        return notes
    if git.toplevel(root) is not None:
        for path in refs:
            if git.is_ignored(root, path):
                notes.append(f"{path} is ignored by git, so collaborators and CI will not get its references: "
                             f"commit it anyway (`git add -f {path}`) or un-ignore it; it holds no values")
    for path in refs:
        if dotenv.loaded_by_programs(path):
            notes.append(f"{path} is read by dotenv loaders (python-dotenv, compose, Node): a program started "
                         f"without `unleak run` gets reference strings instead of failing; the default reference "
                         f"file {REFERENCE_FILE} is read by `unleak run` only")
    return notes


def _plan_fix(request: ScanRequest, vault: Vault, *, reference_file: str, min_confidence: Confidence,
              names: Mapping[str, str] | None) -> tuple[Plan, ScanResult]:
    root = project_root(request.root)
    # A fix killed mid-way is finished (or its rollback is) before anything is planned on a half-written tree.
    try:
        recovered = staging.recover(root)
    except OSError as exc:
        raise FixError(f"could not finish an interrupted `unleak fix` under {staging.staging_home(root)} "
                       f"({type(exc).__name__}: {exc.strerror or 'failed'}); fix the permissions or free space "
                       "and run `unleak fix` again") from None
    request = replace(request, modes=("files",))
    scope: list[str] = []
    for p in request.paths:
        try:
            scope.append(str((request.root / p).resolve().relative_to(root)))
        except ValueError:
            raise UsageError(f"{p} is outside {root}; run `unleak fix` in the repository that holds it") from None
    result = scan(request)
    kept = [f for f in result.findings if f.confidence.rank >= min_confidence.rank]
    left = [f for f in result.findings if f.confidence.rank < min_confidence.rank]
    files: list[str] = []
    everything: list[str] = []
    if git.toplevel(root) is not None:
        everything = git.ls_files(root, [])
        files = git.ls_files(root, scope) if scope else everything
        if request.named_ignored:  # a named file git ignores (a local .env): the user asked for it by name
            named = [s for s in scope if s not in files and (root / s).is_file() and not (root / s).is_symlink()]
            files, everything = [*files, *named], [*everything, *named]
    python_files = [p for p in files if p.endswith((".py", ".pyi"))]
    dotenv_files = [p for p in files if dotenv.is_dotenv_path(p)]
    plan = build(root, kept, vault, python_files=python_files, dotenv_files=dotenv_files,
                 reference_file=reference_file, redact_also=result.all_findings, search_files=everything,
                 renames=names)
    plan.notes[:0] = recovered.notes()
    plan.notes += _reference_file_notes(plan, root)
    if plan.secrets and git.toplevel(root) is not None and git.has_head(root):
        _record_history(plan, request)
    if left:
        # Named one by one (never silently left behind): the user decides whether they are secrets.
        plan.left_alone = [(f.path, f.line, f.rule_id, f.confidence.value) for f in left]
        lowest = min((f.confidence for f in left), key=lambda c: c.rank)
        shown = ", ".join(f"{f.path}:{f.line} {f.rule_id}" for f in left[:_LEFT_SHOWN])
        more = f" and {len(left) - _LEFT_SHOWN} more (--json lists them all)" if len(left) > _LEFT_SHOWN else ""
        plan.notes.append(f"{len(left)} finding(s) below {min_confidence.value} confidence left alone: {shown}{more}; "
                          f"move them too with `unleak fix --min-confidence {lowest.value}`, or mark the ones that "
                          "are not secrets with an allow comment or the baseline")
    return plan, result


def _record_history(plan: Plan, request: ScanRequest) -> None:
    """Rotation comes first: per moved secret, whether git history holds it (since when, on which refs) and where
    its provider revokes it; a note points to `unleak exposure` and `unleak purge`."""
    from remediate.plan_model import History
    from scanner.exposure.analysis import analyze
    from scanner.rules import all_rules

    report = analyze(plan.root, request)
    by_value = {e.secret.reveal(): e for e in report.exposures if e.secret.reveal()}
    rules = all_rules()
    for s in plan.secrets:
        revoke = next((rules[r].revoke for r in s.rule_ids if r in rules and rules[r].revoke), "")
        e = by_value.get(s.value)
        if e is None:
            s.history = History(committed=False, revoke=revoke)
            continue
        refs = tuple(dict.fromkeys((*e.branches, *e.tags, *e.remote_refs)))
        s.history = History(committed=True, first_commit=e.first.sha[:12], first_date=e.first.date, refs=refs,
                            pushed=e.pushed, revoke=revoke or (rules[e.rule_id].revoke if e.rule_id in rules else ""))
    committed = [s.name for s in plan.secrets if s.history is not None and s.history.committed]
    if committed:
        plan.notes.append(
            f"{len(committed)} of the {len(plan.secrets)} secrets moved are in git history ({', '.join(committed)}): "
            "moving them into the vault does not un-leak them. Rotate each one first (where: see each secret's "
            "revoke location), then check `unleak exposure` and remove the old values with `unleak purge`")


def _values_left(plan: Plan, path: str, text: str) -> bool:
    change = next(c for c in plan.changes if c.path == path)
    return any(v and v in text for v in change.removes)


def _scan_finds_moved(plan: Plan, path: str, text: str) -> bool:
    change = next(c for c in plan.changes if c.path == path)
    moved = {form for s in plan.secrets for form in (s.value, *s.raws)} - change.keeps
    result = scan(ScanRequest(root=plan.root, modes=(), text=text, text_path=path))
    return any(f.secret.reveal() in moved for f in result.findings)


def apply_fix(plan: Plan, vault: Vault, *, write: patch.Writer | None = None,
              confirm: Callable[[Plan, str, str], bool] | None = None) -> FixResult:
    """Perform ``plan``. ``write`` replaces the atomic file writer and ``confirm`` the post-write check (tests
    inject failures through them)."""
    with _HeldInterrupts() as held:
        return _apply(plan, vault, held, write, confirm)


def _apply(plan: Plan, vault: Vault, held: _HeldInterrupts, write: patch.Writer | None,
           confirm: Callable[[Plan, str, str], bool] | None) -> FixResult:
    res = FixResult()
    root = plan.root
    # 0. Nothing changed under us since planning.
    for c in plan.changes:
        target = root / c.path
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != c.before:
            raise FixError(f"{c.path} changed since the plan was made; nothing was changed — run `unleak fix` again")

    # 1. Vault: put, read back, compare. No file is touched until every value is safe.
    before: set[str] | None = None
    created: list[str] = []
    try:
        held.check()
        before = {e.name for e in vault.names()}
        # Every name this run may create, known before the first write: an entry stored a moment before an
        # interrupt is removed again as surely as one whose write had been recorded.
        created = [s.name for s in plan.secrets if s.name not in before]
        for s in plan.secrets:
            held.check()
            ref = vault.put(s.name, s.value, overwrite=False)
            if ref != s.reference:
                raise FixError(f"the vault returned {ref} for {s.name}, expected {s.reference}")
            # A write-only store (GitHub Actions secrets) cannot be read back; its put() has confirmed the write
            # the only way it can (the API's answer and the secret listed as just updated).
            if not getattr(vault, "write_only", False):
                back = vault.get(ref)
                if not hmac.compare_digest(back.encode("utf-8"), s.value.encode("utf-8")):
                    raise FixError(f"{s.name} did not read back equal from the vault")
            res.stored.append(s.name)
    except BaseException as exc:
        removed = _forget(vault, created)
        if not isinstance(exc, (UnleakError, OSError)):
            raise  # interrupted: no file was touched yet
        why = str(exc) if isinstance(exc, UnleakError) else f"{type(exc).__name__} ({exc.strerror or 'I/O error'})"
        raise FixError(f"storing the values failed: {why}. No file was changed"
                       + (f"; the {len(removed)} new vault entries were removed again" if removed else "")) from None

    # 2-4. Files, confirmation, reference file last. Every new content is staged (written and fsync()ed under
    # .git/unleak) and checked before the first file is replaced; then all are renamed into place under a journal
    # that the next run finishes if this process is killed (remediate.staging).
    body = [c for c in plan.changes if not c.reference_file]
    ref_changes = [c for c in plan.changes if c.reference_file]
    check = confirm or _confirm
    txn: staging.Transaction | None = None
    try:
        held.check()
        txn = staging.stage(root, body + ref_changes, write)
        for c in body:
            held.check()
            if not check(plan, c.path, c.after):
                raise FixError(f"after rewriting, a moved value is still found in {c.path}")
        for c in ref_changes:
            if not check(plan, c.path, c.after):
                raise FixError(f"the reference file {c.path} would still hold a moved value")
        # The last point where Ctrl-C stops the fix: after the journal's commit the renames are finished (here, or
        # by the next run if this process is killed).
        held.check()
        txn.commit()
        for c in body + ref_changes:
            if not check(plan, c.path, (root / c.path).read_text(encoding="utf-8")):
                raise FixError(f"after writing, a moved value is still found in {c.path}")
    except BaseException as exc:
        # Also on Ctrl-C: a half-applied fix must not stay behind.
        failed_apply = exc if isinstance(exc, patch.ApplyError) else None
        not_restored = list(failed_apply.not_restored) if failed_apply else []
        written = len(txn.renamed) if txn is not None else 0
        rolled_back = txn.rollback(write) if txn is not None and txn.renamed else []
        if txn is not None:
            txn.close()
        not_restored += rolled_back
        restored = (failed_apply.restored if failed_apply else 0) + written - len(rolled_back)
        # A file left rewritten reads its values from the vault: those entries are the only copy now, so they stay.
        needed = _needed_by(plan, not_restored)
        removed = _forget(vault, [n for n in created if n not in needed])
        if not isinstance(exc, (UnleakError, OSError)):
            raise
        what = (failed_apply.failure if failed_apply else str(exc) if isinstance(exc, UnleakError)
                else f"{type(exc).__name__} while checking the files")
        if not_restored:
            refs = {sec.name: sec.reference for sec in plan.secrets}
            holding = "; ".join(f"{path} reads {', '.join(refs[n] for n in names)}" if names else path
                                for path in not_restored for names in [_needed_by(plan, [path])])
            raise FixError(
                f"{what}; could NOT restore {', '.join(not_restored)}, still rewritten ({holding}). Those values were "
                "kept in the vault (`unleak secrets list`); check the files with `git diff`"
                + (f"; the other {restored} file(s) were restored" if restored else "")
                + (f"; {len(removed)} other new vault entr{'y was' if len(removed) == 1 else 'ies were'} removed"
                   if removed else "")) from None
        files = (f"the {restored} file(s) already written were restored" if restored
                 else "no file had been written yet")
        raise FixError(f"{what}; {files}, nothing changed"
                       + (" and the new vault entries were removed" if removed else "")) from None
    txn.close()
    res.written = [c.path for c in body + ref_changes]
    res.confirmed = True
    return res


class _SigintHandler:
    """Installs :meth:`_on_sigint` for SIGINT inside the ``with`` block and restores the previous handler after it.
    Only the main thread may set handlers; a caller that set its own (or ignores SIGINT) keeps it."""

    def __init__(self) -> None:
        self._old: Any = None

    def __enter__(self) -> Self:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._old = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def _on_sigint(self, signum: int, frame: Any) -> None:
        raise NotImplementedError

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


class _NotedInterrupts(_SigintHandler):
    """Ctrl-C while planning ends the run even when a library swallows the KeyboardInterrupt it becomes.

    An interrupt that lands inside native code (libcst's parser) can come back as that code's own error, which the
    codemods report as one file they could not rewrite: the fix would go on, short of that file. Here SIGINT still
    raises KeyboardInterrupt as usual, and is also remembered, so that planning that seems to finish raises it again.
    """

    seen = False

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def __exit__(self, exc_type: object, *exc: object) -> None:
        super().__exit__(exc_type, *exc)
        if self.seen and exc_type is None:
            raise KeyboardInterrupt


class _HeldInterrupts(_SigintHandler):
    """Ctrl-C while the fix is applied is held until a point where stopping leaves nothing half done.

    A KeyboardInterrupt can otherwise land anywhere: between a vault write and the bookkeeping of what was created,
    or inside the rollback itself. Here SIGINT only sets a flag; :meth:`check` (called before each vault write and
    each file write) turns it into KeyboardInterrupt once, so the rollback that follows runs to its end. After the
    last file is written the fix is complete and an interrupt no longer undoes it.
    """

    pending = False
    raised = False

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.pending = True

    def check(self) -> None:
        if self.pending and not self.raised:
            self.raised = True
            raise KeyboardInterrupt


def _confirm(plan: Plan, path: str, text: str) -> bool:
    return not _values_left(plan, path, text) and not _scan_finds_moved(plan, path, text)


def _needed_by(plan: Plan, paths: list[str]) -> list[str]:
    """Names of the secrets that the rewritten ``paths`` read from the vault (their values or references)."""
    changes = [c for c in plan.changes if c.path in paths]
    return [s.name for s in plan.secrets
            if any(({s.value, *s.raws} & c.removes) or s.reference in c.after for c in changes)]


def _forget(vault: Vault, names: list[str]) -> list[str]:
    """Remove the entries this run created; returns those removed (one that cannot be removed simply stays)."""
    removed = []
    for name in names:
        with contextlib.suppress(UnleakError, OSError):
            vault.delete(name)
            removed.append(name)
    return removed
