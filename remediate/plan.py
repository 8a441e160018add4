"""Findings -> a plan: which values go to the vault under which names, which files change, what is left by hand.

Planning reads files and the vault's names, and never writes. Where each value sits is found by
:mod:`remediate.locate`, the names come from :mod:`remediate.naming`, the records are in :mod:`remediate.plan_model`;
this module decides the names, the variables the reference file defines and each file's new text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path

from remediate import codemods, configfiles, copies, dotenv
from remediate.codemods import javascript, notebook, workflow
from remediate.codemods.sites import Site
from remediate.locate import (
    PYTHON_SUFFIXES,
    Found,
    Located,
    copy_step,
    findings_by_path,
    first_finding_by_value,
    locate,
    locate_env_reads,
    other_copies,
    read_text,
)
from remediate.naming import choose_name, free_name, provider_name, suggest_name
from remediate.plan_model import FileChange, ManualStep, Place, Plan, PlannedSecret
from remediate.vault import Vault
from remediate.vault.refs import NAME_RE, REFERENCE_FILE, is_reference
from scanner import archives
from scanner.errors import UsageError
from scanner.finding import Finding

# Rewritten to os.environ["NAME"] (a settings field: its default dropped).
CODE_KINDS = {"assign", "keyword", "dict", "call-arg", "partial", "other", "settings-field"}
_RANK = {"env-default": 0, "dotenv": 0, "settings-field": 0, "interpolate": 1, "workflow": 1, "assign": 1,
         "keyword": 2, "dict": 2,
         "partial": 3, "call-arg": 4, "other": 4, "comment": 5}


def build(root: Path, findings: Iterable[Finding], vault: Vault, *, python_files: Iterable[str] = (),
          dotenv_files: Iterable[str] = (), reference_file: str = REFERENCE_FILE, redact_also: Iterable[Finding] = (),
          search_files: Iterable[str] = (), renames: Mapping[str, str] | None = None) -> Plan:
    """Plan the fix of ``findings`` (working-tree findings, paths relative to ``root``).

    ``python_files`` are further Python files to check for environment reads that need a change (secret defaults,
    ``dotenv_values`` reads, ``load_dotenv(override=True)``); ``dotenv_files`` further ``.env`` files whose
    reference values tell which keys are secrets. ``search_files`` are searched for every other copy of each value
    found (raw copies are rewritten like findings where they can be, everything else becomes a manual step).
    ``renames`` maps a name the plan would choose to the name the user wants (``--name OLD=NEW``).
    """
    renames = dict(renames or {})
    root = root.resolve()
    if (root / reference_file).is_symlink():
        # An atomic write would replace the link with a file; writing through it could land outside the repository.
        raise UsageError(f"{reference_file} is a symbolic link; pass the file it points to with --env-file")
    plan = Plan(root=root, namespace=vault.namespace, scheme=vault.scheme, reference_file=reference_file)
    findings = list(findings)
    _hide(plan, [*findings, *redact_also])
    by_path = findings_by_path(findings)
    rule_of = first_finding_by_value(by_path)
    located = Located()
    locate(plan, by_path, other_copies(root, search_files, rule_of), rule_of, located)
    locate_env_reads(root, python_files, by_path, rule_of, located)
    auto = [x for x in located.found if x.site.kind != "manual"]
    ref_text = (located.texts.get(reference_file) if reference_file in located.texts
                else read_text(root, reference_file))
    ref_entries = {e.key: e.value for e in dotenv.entries(ref_text)} if ref_text else {}
    ref_only = set(ref_entries)
    top = None
    if reference_file != dotenv.LEGACY_REFERENCE_FILE:
        # The top-level .env's keys count as defined: a program's own loader sets them when `unleak run` does not.
        top = located.texts.get(dotenv.LEGACY_REFERENCE_FILE) or read_text(root, dotenv.LEGACY_REFERENCE_FILE)
        ref_entries = {e.key: e.value for e in dotenv.entries(top or "")} | ref_entries
    by_value = _by_value(auto)
    _name_values(plan, vault, by_value, rule_of, ref_entries, renames)
    secret_of_value = {s.value: s for s in plan.secrets}
    _report_manual(plan, located.found, secret_of_value)
    needed, dropped = _reference_variables(plan, auto, by_value, secret_of_value, ref_entries, ref_only)
    auto = [x for x in auto if x not in dropped]
    _rewrite_files(plan, auto, located, secret_of_value, _secret_dotenv_keys(root, located.texts, dotenv_files, auto))
    _workflow_notes(plan)
    _plan_reference_file(plan, needed, ref_text, secret_of_value, located.texts, top)
    _mention_every_copy(plan, search_files, rule_of)
    _archive_members(plan, findings)
    return plan


def _archive_members(plan: Plan, findings: list[Finding]) -> None:
    """A value inside an archive (``app.war!/…``) cannot be rewritten in place: a manual step says what to do."""
    for f in findings:
        if f.source == archives.SOURCE and f.secret.reveal():
            archive, _member = archives.split(f.path)
            plan.manual.append(ManualStep(f.path, f.line, f"inside the archive {archive}: rebuild it from sources that "
                                          "read the value from the vault, and rotate the value", f.rule_id,
                                          f.preview, f.secret.reveal()))


def _hide(plan: Plan, findings: Iterable[Finding]) -> None:
    """Every secret text seen gets a label, so the patch redacts it even where this plan leaves it alone."""
    for f in findings:
        if f.secret.reveal():
            plan.hidden[f.secret.reveal()] = f"[REDACTED:{f.rule_id}:{f.fingerprint[:8]}]"


# ------------------------------------------------------------------------------- 3. one name per value


def _by_value(auto: list[Found]) -> dict[str, list[Found]]:
    by_value: dict[str, list[Found]] = {}
    for x in sorted(auto, key=lambda x: (x.path, x.site.line)):
        by_value.setdefault(x.site.value, []).append(x)
    return by_value


def _name_values(plan: Plan, vault: Vault, by_value: dict[str, list[Found]], rule_of: dict[str, Finding],
                 ref_entries: dict[str, str | None], renames: dict[str, str]) -> None:
    """One vault entry per value, under a name no other value holds (in this plan, the vault or the reference
    file), or the name the user asked for."""
    ref_path = plan.reference_file
    existing = {e.name for e in vault.names()}
    # Names another owner holds in the backend (a 1Password item unleak did not create): never planned, so the
    # collision is found now rather than at apply.
    foreign: set[str] = getattr(vault, "foreign_names", lambda: set())()
    taken: dict[str, str] = {}  # name -> value
    for value, xs in by_value.items():
        ranked = sorted(xs, key=lambda x: _RANK.get(x.site.kind, 9))
        f0 = rule_of.get(xs[0].site.raw) or rule_of.get(value)
        base = choose_name([x.site for x in ranked], f0.rule_id if f0 else "", value)
        chosen, wanted = base, renames.get(base)
        if wanted is None:
            # The name shown in a plan may be the base with a suffix (DEPLOY_TOKEN_2): renaming that one counts too.
            proposed = free_name(base, value, taken, existing | foreign, vault, ref_entries)
            chosen, wanted = proposed, renames.get(proposed)
        if wanted is not None:
            if not NAME_RE.fullmatch(wanted):
                raise UsageError(f"--name {chosen}={wanted}: not a valid variable name (A-Z, 0-9 and _)")
            base = wanted
        name = free_name(base, value, taken, existing | foreign, vault, ref_entries)
        if wanted is not None and name != wanted:
            raise UsageError(f"--name {chosen}={wanted}: {wanted} already holds another value (in this plan, the "
                             f"vault or {ref_path}); choose another name")
        taken[name] = value
        ps = PlannedSecret(name=name, reference=vault.reference_for(name), value=value,
                           raws={x.site.raw for x in xs} | {value},
                           places=[Place(x.path, x.site.line, x.site.kind, x.site.env_key) for x in xs],
                           rule_ids=sorted({x.rule_id for x in xs if x.rule_id}),
                           preview=(f0.preview if f0 else xs[0].preview), in_vault=name in existing)
        plan.secrets.append(ps)


def _report_manual(plan: Plan, found: list[Found], secret_of_value: dict[str, PlannedSecret]) -> None:
    """Manual steps are reported, never dropped; where the value is moved elsewhere anyway, say under which name."""
    for x in found:
        if x.site.kind == "manual":
            moved = secret_of_value.get(x.site.value)
            also = f" (the value is in the vault as {moved.name} after this fix)" if moved else ""
            # A reason may name the variable to use ({NAME}): the one the value is moved under, else the one the
            # place suggests.
            name = moved.name if moved else suggest_name(x.site) or provider_name(x.rule_id, x.site.value) or "SECRET"
            plan.manual.append(ManualStep(x.path, x.site.line,
                                          (x.site.manual or "fix it by hand").replace("{NAME}", name) + also,
                                          x.rule_id, x.preview, x.site.value))


# ------------------------------------------------------------------------------- 4. the variables to define


def _reference_variables(plan: Plan, auto: list[Found], by_value: dict[str, list[Found]],
                         secret_of_value: dict[str, PlannedSecret], ref_entries: dict[str, str | None],
                         ref_only: set[str]) -> tuple[dict[str, PlannedSecret], list[Found]]:
    """Which environment variables must the reference file define, and can it? Returns them, and the places
    dropped to manual steps because their variable already holds another value."""
    ref_path = plan.reference_file
    needed: dict[str, PlannedSecret] = {}
    dropped: list[Found] = []
    env_var_owner: dict[str, str] = {}  # variable a rewritten read needs -> value
    owner_place: dict[str, str] = {}  # variable -> where that value sits
    for x in auto:
        ps = secret_of_value[x.site.value]
        # An env read and a pydantic-settings field read the variable they name, whatever the vault entry is called.
        var = x.site.env_key if x.site.kind in ("env-default", "settings-field") else (
            ps.name if x.site.kind in CODE_KINDS or x.site.kind in ("interpolate", "workflow") else None)
        if x.site.kind == "dotenv" and x.path != ref_path and dotenv.reference_file_for(x.path, ref_path) == ref_path:
            var = x.site.env_key  # the top-level .env's variable, read from the reference file now
        if var is None:
            continue
        other = env_var_owner.get(var)
        current = ref_entries.get(var)
        dotenv_here = any(y.site.kind == "dotenv" and y.path == ref_path and y.site.env_key == var
                          for y in by_value.get(x.site.value, []))
        conflict = (other is not None and other != x.site.value) or (
            current is not None and current != ps.reference and not dotenv_here and current != x.site.value)
        if conflict:
            dropped.append(x)
            where = (f"at {owner_place[var]}, which this fix moves too" if other is not None and other != x.site.value
                     else f"in {ref_path}" if var in ref_only else f"in {dotenv.LEGACY_REFERENCE_FILE}")
            plan.manual.append(ManualStep(x.path, x.site.line, f"{var} is already defined with another value "
                                          f"{where}: move this value by hand", x.rule_id, x.preview,
                                          x.site.value))
            continue
        env_var_owner[var] = x.site.value
        owner_place[var] = f"{x.path}:{x.site.line}"
        needed[var] = ps
    return needed, dropped


# ------------------------------------------------------------------------------- 5. the new file contents


def _secret_dotenv_keys(root: Path, texts: dict[str, str], dotenv_files: Iterable[str],
                        auto: list[Found]) -> set[str]:
    """The ``.env`` keys that hold secrets: those whose value is a reference already, and those this fix moves."""
    dotenv_keys = set()
    for path in set(texts) | set(dotenv_files):
        if dotenv.is_dotenv_path(path):
            t = texts.get(path) if path in texts else read_text(root, path)
            for e in dotenv.entries(t or ""):
                if e.value and is_reference(e.value):
                    dotenv_keys.add(e.key)
    dotenv_keys |= {x.site.env_key for x in auto if x.site.kind == "dotenv" and x.site.env_key}
    return dotenv_keys


def _needs_rewrite(sites: list[Site], dotenv_keys: set[str], flip: bool) -> bool:
    return any((s.kind == "dotenv-read" and s.env_key in dotenv_keys) or (s.kind == "override" and flip)
               for s in sites)


def _rewrite_files(plan: Plan, auto: list[Found], located: Located, secret_of_value: dict[str, PlannedSecret],
                   dotenv_keys: set[str]) -> None:
    """A file change for every file whose values move or whose environment reads must change; a file whose
    rewrite fails, or would keep a copy of a value, becomes manual steps instead."""
    flip = bool(plan.secrets) or bool(dotenv_keys)
    files = sorted({x.path for x in auto} | {p for p, ss in located.env_sites.items()
                                             if _needs_rewrite(ss, dotenv_keys, flip)})
    for path in files:
        xs = [x for x in auto if x.path == path]
        text = located.texts[path]
        manual_raws = {m.site.raw for m in located.found if m.path == path and m.site.kind == "manual"}
        removes = {form for x in xs for form in (x.site.raw, x.site.value) if form} - manual_raws
        after = _rewrite(plan, path, text, xs, secret_of_value, dotenv_keys, flip)
        if after is None:
            continue
        left = {v for v in removes if v in after}
        if after != text and not left:
            plan.changes.append(FileChange(path, text, after, removes, keeps=manual_raws))
        elif removes:
            # Applying would fail its own re-scan; keep the file out of the fix instead of blocking the rest.
            plan.manual += [ManualStep(path, x.site.line, "the rewrite would leave a copy of the value in the file: "
                                       "fix it by hand", x.rule_id, x.preview, x.site.value) for x in xs]


def _rewrite(plan: Plan, path: str, text: str, xs: list[Found], secret_of_value: dict[str, PlannedSecret],
             dotenv_keys: set[str], flip: bool) -> str | None:
    """One file's new text, by the rewriter of its kind; None (and manual steps) when the rewriter fails."""
    if path.endswith(PYTHON_SUFFIXES) or notebook.is_notebook(path):
        names = {x.site.raw: secret_of_value[x.site.value].name for x in xs if x.site.kind != "env-default"}
        defaults = {x.site.raw: x.site.env_key for x in xs if x.site.kind == "env-default" and x.site.env_key}
        rewrite = notebook.rewrite if notebook.is_notebook(path) else codemods.rewrite
        outcome = rewrite(text, list(names) + list(defaults), names=names, default_names=defaults,
                          dotenv_keys=dotenv_keys, flip_override=flip)
        if not outcome.ok or outcome.code is None:
            plan.manual += [ManualStep(path, x.site.line, outcome.error or "", x.rule_id, x.preview,
                                       x.site.value) for x in xs]
            return None
        return outcome.code
    if dotenv.is_dotenv_path(path):
        refs = {x.site.env_key: secret_of_value[x.site.value].reference for x in xs
                if x.site.kind == "dotenv" and x.site.env_key}
        markers = {x.site.raw: codemods.comment_marker(secret_of_value[x.site.value].name) for x in xs
                   if x.site.kind == "comment"}
        target = dotenv.reference_file_for(path, plan.reference_file)
        if target == path:
            return dotenv.rewrite(text, refs, markers)
        if target != plan.reference_file:
            plan.side_references.setdefault(target, {}).update(refs)
        return dotenv.move_out(text, dict.fromkeys(refs, target), markers)
    if javascript.handles(path) or workflow.handles(path):
        names = {x.site.raw: secret_of_value[x.site.value].name for x in xs}
        new, error = (javascript.rewrite(path, text, names) if javascript.handles(path)
                      else workflow.rewrite(text, names))
        if new is None:
            plan.manual += [ManualStep(path, x.site.line, error or "", x.rule_id, x.preview) for x in xs]
        return new
    return configfiles.rewrite(text, {x.site.raw: secret_of_value[x.site.value].name for x in xs})


def _workflow_notes(plan: Plan) -> None:
    """Rewritten workflows read Actions secrets, which only the user can create: say how, without the value."""
    rewritten = {c.path for c in plan.changes}
    for ps in plan.secrets:
        flows = {p.path for p in ps.places if p.kind == "workflow" and p.path in rewritten}
        if flows:
            plan.notes.append(workflow.gh_step(ps.name, flows))


# ------------------------------------------------------------------------------- 6. the reference file


def _plan_reference_file(plan: Plan, needed: dict[str, PlannedSecret], ref_text: str | None,
                         secret_of_value: dict[str, PlannedSecret], texts: Mapping[str, str],
                         top_text: str | None) -> None:
    """The reference file: every variable the rewritten code and configs read, and what the top-level ``.env``
    held that belongs there; then the reference files of other dotenv files. Written last (invariant 2)."""
    refs_needed = {var: s.reference for var, s in sorted(needed.items())}
    refs_needed |= _move_top_env(plan, refs_needed, ref_text, secret_of_value, top_text)
    plan.reference_entries = _write_references(plan, plan.reference_file, refs_needed, ref_text, secret_of_value)
    for path, refs in sorted(plan.side_references.items()):
        _write_references(plan, path, refs, texts.get(path) if path in texts else read_text(plan.root, path), {})
        plan.notes.append(f"the references of {path.removesuffix('.unleak')} are in {path}: run the program that "
                          f"reads it with `unleak run --env-file {path} -- <command>`")


def _move_top_env(plan: Plan, refs_needed: Mapping[str, str], ref_text: str | None,
                  secret_of_value: Mapping[str, PlannedSecret], top_text: str | None) -> dict[str, str]:
    """Keys of the top-level ``.env`` that hold a reference (written there before ``.env.unleak`` existed) or a
    value this fix moves (a git-ignored ``.env`` the scan does not see): their bindings become comments and their
    references go to the reference file, so no loader reads a reference or a plaintext copy stays behind. A key the
    reference file already defines otherwise is left alone."""
    top = dotenv.LEGACY_REFERENCE_FILE
    if plan.reference_file == top or (plan.root / top).is_symlink():
        return {}
    change = next((c for c in plan.changes if c.path == top), None)
    text = change.after if change else top_text
    if not text:
        return {}
    defined = {e.key: e.value for e in dotenv.entries(ref_text or "")}
    moved: dict[str, str] = {}
    for e in dotenv.entries(text):
        if e.value is None:
            continue
        ref = e.value if is_reference(e.value) else (
            secret_of_value[e.value].reference if e.value in secret_of_value else None)
        if ref is None or refs_needed.get(e.key, ref) != ref or defined.get(e.key, ref) != ref:
            continue
        moved[e.key] = ref
    if moved:
        after = dotenv.move_out(text, dict.fromkeys(moved, plan.reference_file))
        if change is None:
            removes = {v for v in (e.value for e in dotenv.entries(text) if e.key in moved)
                       if v and v in secret_of_value}
            plan.changes.append(FileChange(top, text, after, removes))
        else:
            change.after = after
    return moved


def _write_references(plan: Plan, ref_path: str, refs_needed: Mapping[str, str], ref_text: str | None,
                      secret_of_value: Mapping[str, PlannedSecret]) -> dict[str, str]:
    """Plan ``ref_path`` so it defines ``refs_needed`` (variable -> reference); the entries it gains."""
    change = next((c for c in plan.changes if c.path == ref_path), None)
    base_text = change.after if change else (ref_text or "")
    defined = {e.key: e.value for e in dotenv.entries(base_text)}
    missing = {k: v for k, v in refs_needed.items() if defined.get(k) != v}
    in_place = {k: v for k, v in missing.items() if k in defined}
    # The reference file may be one the scan does not see (a git-ignored file): a key there holding a value this
    # fix moves gets the reference too, so no plaintext copy stays behind next to the references.
    in_place |= {k: secret_of_value[v].reference for k, v in defined.items()
                 if v is not None and v in secret_of_value and k not in in_place}
    after = dotenv.append_references(dotenv.rewrite(base_text, in_place) if in_place else base_text, missing)
    if after != base_text:
        if change is None:
            change = FileChange(ref_path, ref_text, after)
            plan.changes.append(change)
        change.after = after
    if change is not None:
        change.reference_file = True
        plan.changes.remove(change)
        plan.changes.append(change)  # written last (invariant 2 order)
    return missing if after != base_text else {}


def _mention_every_copy(plan: Plan, search_files: Iterable[str], rule_of: dict[str, Finding]) -> None:
    """The last word: any form of a moved value still in a file after this plan is a manual step (never silent),
    and a rewritten file knowingly keeps it (the post-write re-scan does not count it)."""
    moved = {s.value: s for s in plan.secrets}
    if not moved:
        return
    listed = {(m.path, m.value) for m in plan.manual}
    changed = {c.path: c for c in plan.changes}
    paths = sorted(set(search_files) | set(changed))
    built = copies.automaton(moved)
    for c in copies.find(plan.root, [p for p in paths if p not in changed], built):
        if (c.path, c.value) not in listed:
            plan.manual.append(copy_step(c, rule_of, f"left where it is (it is in the vault as {moved[c.value].name} "
                                         "after this fix)"))
            listed.add((c.path, c.value))
    for path, change in changed.items():
        for c in copies.in_text(change.after, built):
            if (path, c.value) not in listed:
                plan.manual.append(copy_step(dataclasses.replace(c, path=path), rule_of, "left in the rewritten "
                                             f"file (it is in the vault as {moved[c.value].name} after this fix)"))
                listed.add((path, c.value))
            change.keeps.add(c.value)
