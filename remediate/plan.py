"""Findings -> a plan: which values go to the vault under which names, which files change, what is left by hand.

Planning reads files and the vault's names, and never writes. The plan holds values (it must, to store them)
but nothing in it prints one: values live in fields excluded from ``repr`` and :meth:`Plan.to_dict`.

Names come from the place the value sits (the ``.env`` key or the variable an environment read names, then the
variable it is assigned to, then the keyword or dict key, qualified by the callee, class or outer dict when the key
alone is generic, e.g. ``OpenAI(api_key=…)`` -> ``OPENAI_API_KEY``), in UPPER_SNAKE_CASE. The same value found in
several places becomes one vault entry with one name; two different values never share a name (``_2``, ``_3``…).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediate import codemods, configfiles, copies, dotenv
from remediate.codemods import javascript, notebook, workflow
from remediate.codemods.sites import Site
from remediate.vault import Vault
from remediate.vault.refs import NAME_RE, is_reference
from scanner.errors import UnleakError, UsageError
from scanner.finding import Finding

# What a provider's token is usually called, for values nothing in the code names.
RULE_NAMES = {
    "UL001": "GITHUB_TOKEN", "UL010": "AWS_ACCESS_KEY_ID", "UL012": "AWS_SECRET_ACCESS_KEY",
    "UL013": "AWS_SESSION_TOKEN", "UL020": "STRIPE_SECRET_KEY", "UL030": "SLACK_TOKEN", "UL100": "PRIVATE_KEY",
}
# Slack's token kinds by prefix: the variable names Slack's own SDK documentation uses.
_SLACK_KINDS = {"xoxb-": "SLACK_BOT_TOKEN", "xoxp-": "SLACK_USER_TOKEN", "xapp-": "SLACK_APP_TOKEN"}


def _provider_name(rule_id: str, value: str = "") -> str:
    """What the provider's own documentation calls a credential of this rule (``STRIPE_SECRET_KEY``), '' for
    rules that know no provider (generic assignments, URLs)."""
    if rule_id.startswith("UL03"):
        for prefix, name in _SLACK_KINDS.items():
            if value.startswith(prefix):
                return name
    if rule_id in RULE_NAMES:
        return RULE_NAMES[rule_id]
    from scanner.rules import all_rules

    rule = all_rules().get(rule_id)
    return rule.env_name if rule is not None and rule.env_name else ""


# Words that say nothing about whose credential a name holds: `X`, `KEY`, `URL`, `TOKEN_3`, `API_KEY`, `WEB_TOKEN`.
_WEAK_WORDS = frozenset({
    "X", "Y", "Z", "S", "V", "K", "KEY", "KEYS", "URL", "URI", "TOKEN", "TOKENS", "SECRET", "SECRETS", "PASSWORD",
    "PASS", "PASSWD", "PWD", "API", "AUTH", "ACCESS", "CLIENT", "WEB", "FIELD", "VALUE", "VAL", "CREDENTIAL",
    "CREDENTIALS", "CRED", "CREDS", "BEARER", "PRIVATE", "APP", "DEFAULT", "MY", "THE", "CONFIG", "SETTINGS", "DATA",
    "VAR", "CONST", "TMP", "TEMP", "STR", "STRING", "HEADER", "HEADERS", "AUTHORIZATION", "LIVE", "PROD", "TEST",
})


# Generic, but the one-word names applications conventionally use for their own single credential (Django's
# SECRET_KEY, a service's TOKEN): kept as the code has them.
_CONVENTIONAL = frozenset({"TOKEN", "PASSWORD", "SECRET_KEY"})


def weak_name(name: str) -> bool:
    """Whether ``name`` says nothing but "a secret" (numbered copies such as ``TOKEN_3`` and ``_2`` included)."""
    if name in _CONVENTIONAL:
        return False
    core = re.sub(r"(?:_\d+)+$", "", name).strip("_")
    words = [w for w in core.split("_") if w]
    return len(core) <= 2 or all(w in _WEAK_WORDS or w.isdigit() for w in words)


def choose_name(sites: list[Site], rule_id: str, value: str) -> str:
    """The name for one value found at ``sites`` (best ranked first).

    A variable the code already reads (an environment read's key, a ``.env`` key, a settings field) is kept as it
    is. Otherwise the code's own name wins when it says whose credential this is (``STRIPE_KEY``,
    ``DATABASE_PASSWORD``); a name that only says "a secret" (``KEY``, ``API_KEY``, ``WEB_TOKEN``) gives way to
    the provider's name (``STRIPE_SECRET_KEY``, ``SLACK_BOT_TOKEN``), as a reviewer would rename it.
    """
    named = [(s, n) for s in sites for n in [suggest_name(s)] if n]
    read = [n for s, n in named if s.kind in ("env-default", "dotenv", "settings-field")]
    if read:
        return read[0]
    strong = [n for _, n in named if not weak_name(n)]
    if strong:
        return strong[0]
    provider = _provider_name(rule_id, value)
    if provider:
        return provider
    return named[0][1] if named else "SECRET"


# A target called only this says nothing about whose secret it is: qualify it by its scope.
GENERIC = {
    "password", "passwd", "pwd", "pass", "secret", "token", "key", "api_key", "apikey", "access_token",
    "auth_token", "secret_key", "auth", "credential", "credentials", "client_secret", "private_key", "access_key",
    "value", "bearer", "authorization",
}
# Callees whose name says nothing useful as a prefix, or says "database".
_DB_CALLEES = {"connect", "create_engine", "create_async_engine", "create_connection", "connection", "database"}
_BLAND_CALLEES = {"client", "session", "login", "authenticate", "auth", "init", "__init__", "setup", "configure",
                  "dict", "get", "post", "put", "request", "config", "settings", "update", "set", "from_env", "build"}
_PLURAL_SCOPES = {"databases": "DATABASE", "caches": "CACHE", "credentials": "", "secrets": "", "fields": "",
                  "field": "", "headers": "", "params": "", "data": "", "payload": "", "options": "", "kwargs": ""}
_STEM_SUFFIX = re.compile(r"_(?:URL|URI|DSN|CONN|CONNECTION|CONNECTION_STRING|CONN_STR|ENDPOINT)$")

# Rewritten to os.environ["NAME"] (a settings field: its default dropped).
CODE_KINDS = {"assign", "keyword", "dict", "call-arg", "partial", "other", "settings-field"}
_RANK = {"env-default": 0, "dotenv": 0, "settings-field": 0, "interpolate": 1, "workflow": 1, "assign": 1,
         "keyword": 2, "dict": 2,
         "partial": 3, "call-arg": 4, "other": 4, "comment": 5}
_PY = (".py", ".pyi")
_ENV_KINDS = ("env-default", "dotenv-read", "override")
# A cheap pre-check for the environment reads the codemods change (parsing is the expensive part): an env read of a
# secret-like key with a string default, a dotenv_values read, load_dotenv(override=True) / read_env(overwrite=True).
_ENV_HINT = re.compile(
    r"""(?:getenv|environ\.get|config|env(?:\.\w+)?)\(\s*[rRuU]?["'][\w.-]*"""
    r"""(?i:passw|pwd|secret|token|key|credential)[\w.-]*["'][^)\n]*[,=]\s*[rRuU]?["']"""
    r"|dotenv_values|load_dotenv\([^)]*override\s*=\s*True|read_env\([^)]*overwrite\s*=\s*True"
)


def upper_snake(text: str) -> str:
    """``apiKey`` -> ``API_KEY``, ``db-password`` -> ``DB_PASSWORD``; '' if nothing usable is left."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").upper()
    s = re.sub(r"_+", "_", s)
    if s and s[0].isdigit():
        s = "_" + s
    return s if s and NAME_RE.fullmatch(s) else ""


def _scope_prefix(scope: str | None) -> str:
    if not scope:
        return ""
    low = scope.lower()
    if low in _DB_CALLEES:
        return "DB"
    if low in _BLAND_CALLEES:
        return ""
    if low in _PLURAL_SCOPES:
        return _PLURAL_SCOPES[low]  # Django's DATABASES = {"default": {"PASSWORD": …}} -> DATABASE_PASSWORD
    if scope[:1].isupper() and "_" not in scope:
        # A class: OpenAI -> OPENAI, StripeClient -> STRIPE (its generic suffix says nothing).
        # A class named only "Settings" or "Client" says nothing: no prefix.
        trimmed = re.sub(r"^Base(?=[A-Z])", "", scope)
        trimmed = re.sub(r"(?:Client|Api|API|Session|Connection|Config|Settings|Service)$", "", trimmed)
        return re.sub(r"[^A-Za-z0-9]+", "", trimmed).upper()
    return _STEM_SUFFIX.sub("", upper_snake(scope))


def suggest_name(site: Site) -> str:
    """The name a site suggests for its value ('' when it suggests none)."""
    if site.env_key and upper_snake(site.env_key) == site.env_key:
        return site.env_key
    if site.env_key and NAME_RE.fullmatch(site.env_key):
        return site.env_key
    hint = upper_snake(site.hint or "")
    prefix = _scope_prefix(site.scope)
    if site.kind == "partial":
        if hint and prefix:
            return hint if hint.startswith(prefix) else f"{prefix}_{hint}"
        return hint or (f"{prefix}_SECRET" if prefix else "")
    if not hint and site.kind == "other" and site.scope:
        # `def get_api_token(): return "…"` -> API_TOKEN
        return upper_snake(re.sub(r"^_*(?:get|load|read|fetch|make)_", "", site.scope)) if any(
            w in site.scope.lower() for w in ("key", "token", "secret", "pass", "pwd", "credential", "auth")) else ""
    if not hint:
        return ""
    if hint.lower() in GENERIC and prefix and not hint.startswith(prefix):
        return f"{prefix}_{hint}"
    return hint


def _fp(value: str) -> str:
    return hashlib.sha256(b"unleak-plan:" + value.encode()).hexdigest()[:8]


@dataclass
class Place:
    """Where a planned secret sits. ``kind`` as in :class:`~remediate.codemods.sites.Site`."""

    path: str
    line: int
    kind: str
    env_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "line": self.line, "kind": self.kind}
        if self.env_key:
            d["env_key"] = self.env_key
        return d


@dataclass
class PlannedSecret:
    name: str
    reference: str
    value: str = field(repr=False)
    raws: set[str] = field(repr=False, default_factory=lambda: set())
    places: list[Place] = field(default_factory=lambda: [])
    rule_ids: list[str] = field(default_factory=lambda: [])
    preview: str = ""
    in_vault: bool = False  # the vault already holds this name with this value
    history: History | None = None  # None: not looked up (no git history)

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "reference": self.reference, "rule_ids": self.rule_ids, "preview": self.preview,
             "already_in_vault": self.in_vault, "places": [p.to_dict() for p in self.places]}
        if self.history is not None:
            d["history"] = self.history.to_dict()
        return d


@dataclass(frozen=True)
class History:
    """Whether a moved value was committed (moving it into a vault does not un-leak it) and where to revoke it."""

    committed: bool
    first_commit: str = ""  # short sha of the earliest commit holding it
    first_date: str = ""
    refs: tuple[str, ...] = ()  # branches, tags and remote refs whose history holds it
    pushed: bool = False
    revoke: str = ""  # the rule's revoke location

    def to_dict(self) -> dict[str, Any]:
        return {"committed": self.committed, "first_commit": self.first_commit, "first_date": self.first_date,
                "refs": list(self.refs), "pushed": self.pushed, "revoke": self.revoke}

    def describe(self) -> str:
        if not self.committed:
            return "not in git history"
        where = f" on {', '.join(self.refs)}" if self.refs else ""
        return (f"committed since {self.first_commit} ({self.first_date[:10]}){where}"
                + (", pushed" if self.pushed else "") + (f"; revoke: {self.revoke}" if self.revoke else ""))


@dataclass
class FileChange:
    path: str  # relative to the root, '/'-separated
    before: str | None = field(repr=False)  # None: the file does not exist yet
    after: str = field(repr=False)
    # Values (raw and runtime forms) that must be gone from the file once rewritten.
    removes: set[str] = field(repr=False, default_factory=lambda: set())
    # Secrets knowingly left in the file (manual steps): the post-write re-scan does not count them.
    keeps: set[str] = field(repr=False, default_factory=lambda: set())
    reference_file: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "created": self.before is None, "reference_file": self.reference_file}


@dataclass
class ManualStep:
    path: str
    line: int
    reason: str
    rule_id: str = ""
    preview: str = ""
    value: str = field(default="", repr=False)  # the secret left in place (never shown; see Plan.redactions)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "rule_id": self.rule_id, "preview": self.preview,
                "reason": self.reason}


@dataclass
class Plan:
    root: Path
    namespace: str
    scheme: str
    reference_file: str
    secrets: list[PlannedSecret] = field(default_factory=lambda: [])
    changes: list[FileChange] = field(default_factory=lambda: [])
    manual: list[ManualStep] = field(default_factory=lambda: [])
    notes: list[str] = field(default_factory=lambda: [])
    reference_entries: dict[str, str] = field(default_factory=lambda: {})  # variable -> reference (new ones)
    # Every other secret text seen (manual steps, findings left alone) -> its label: redacted in the patch too.
    hidden: dict[str, str] = field(repr=False, default_factory=lambda: {})

    @property
    def empty(self) -> bool:
        return not self.changes and not self.secrets

    def redactions(self) -> dict[str, str]:
        """Every secret text (raw and runtime forms) -> the label shown instead of it."""
        from scanner.forms import encoded_forms

        out: dict[str, str] = dict(self.hidden)
        for m in self.manual:
            if m.value:
                out.setdefault(m.value, f"[REDACTED:{m.rule_id or 'secret'}]")
        for s in self.secrets:
            for form in {s.value, *s.raws, *encoded_forms(s.value)}:
                if form:
                    out[form] = f"[REDACTED:{s.name}]"
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "namespace": self.namespace, "vault": self.scheme,
                "reference_file": self.reference_file,
                "secrets": [s.to_dict() for s in self.secrets],
                "files": [c.to_dict() for c in self.changes],
                "reference_entries": dict(self.reference_entries),
                "manual": [m.to_dict() for m in self.manual], "notes": list(self.notes)}


# ------------------------------------------------------------------------------------------------- building


@dataclass
class _Found:
    path: str
    site: Site
    rule_id: str = ""
    preview: str = ""


def _read(root: Path, rel: str) -> str | None:
    try:
        return (root / rel).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _placeholder(value: str) -> bool:
    from scanner.filters import Context, placeholder
    from scanner.rules import all_rules

    rule = all_rules().get("UL900") or next(iter(all_rules().values()))
    return placeholder(Context(rule=rule, value=value, line="", prev_line="", path=""))


def build(root: Path, findings: Iterable[Finding], vault: Vault, *, python_files: Iterable[str] = (),
          dotenv_files: Iterable[str] = (), reference_file: str = ".env", redact_also: Iterable[Finding] = (),
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
    for f in [*findings, *redact_also]:
        if f.secret.reveal():
            plan.hidden[f.secret.reveal()] = f"[REDACTED:{f.rule_id}:{f.fingerprint[:8]}]"
    by_path: dict[str, list[Finding]] = {}
    for f in findings:
        if f.source in ("file", "text") and f.secret.reveal():
            by_path.setdefault(f.path, []).append(f)
    rule_of: dict[str, Finding] = {}
    for fs in by_path.values():
        for f in fs:
            rule_of.setdefault(f.secret.reveal(), f)
    found: list[_Found] = []
    texts: dict[str, str] = {}
    env_sites: dict[str, list[Site]] = {}
    # Other copies of the values found: the scanner flags what looks like a secret, not every place a value sits.
    extra: dict[str, list[copies.Copy]] = {}
    for c in copies.find(root, search_files, rule_of):
        extra.setdefault(c.path, []).append(c)

    # 1. Where does each value sit, and what is it called there?
    for path in sorted(set(by_path) | set(extra)):
        fs = by_path.get(path, [])
        # A raw copy of a value flagged in this same file is that finding (or analysed with it).
        cs = [c for c in extra.get(path, []) if not (c.raw and c.value in {f.secret.reveal() for f in fs})]
        raws = sorted({f.secret.reveal() for f in fs} | {c.value for c in cs if c.raw}, key=len, reverse=True)
        text = _read(root, path)
        if text is None:
            plan.manual += [ManualStep(path, f.line, "cannot read the file as UTF-8 text: fix it by hand", f.rule_id,
                                       f.preview, f.secret.reveal()) for f in fs]
            plan.manual += [_copy_step(c, rule_of, "in a file that is not UTF-8 text") for c in cs
                            if c.value not in {f.secret.reveal() for f in fs}]
            continue
        texts[path] = text
        sites: list[Site]
        if path.endswith(_PY) or notebook.is_notebook(path):
            outcome = (notebook.analyze if notebook.is_notebook(path) else codemods.analyze)(text, raws)
            if not outcome.ok:
                plan.manual += [ManualStep(path, f.line, outcome.error or "", f.rule_id, f.preview,
                                           f.secret.reveal()) for f in fs]
                continue
            sites = outcome.sites
        elif dotenv.is_dotenv_path(path):
            sites = dotenv.analyze(text, raws)
        elif javascript.handles(path):
            sites = javascript.analyze(path, text, raws)
        elif workflow.handles(path):
            sites = workflow.analyze(text, raws)
        elif configfiles.interpolates(path):
            sites = configfiles.analyze(path, text, raws)
        else:
            sites = [Site(line=f.line, kind="manual", raw=f.secret.reveal(), value=f.secret.reveal(),
                          manual=configfiles.manual_reason(path)) for f in fs]
            sites += [Site(line=c.line, kind="manual", raw=c.value, value=c.value,
                           manual=configfiles.manual_reason(path)) for c in cs if c.raw]
        covered = {s.raw for s in sites} | {s.value for s in sites}
        # Environment reads are planned in step 2, for every Python file alike.
        if path.endswith(_PY) or notebook.is_notebook(path):
            env_sites[path] = [s for s in sites if s.kind in _ENV_KINDS]
        sites = [s for s in sites if s.kind not in _ENV_KINDS]
        for f in fs:
            if f.secret.reveal() not in covered:
                sites.append(Site(line=f.line, kind="manual", raw=f.secret.reveal(), value=f.secret.reveal(),
                                  manual="not inside a string literal, value or comment the fix can rewrite (a "
                                  "false positive? allow it with an `unleak:allow` comment); check it by hand"))
        for c in cs:
            if not c.raw:
                sites.append(Site(line=c.line, kind="manual", raw=c.value, value=c.value,
                                  manual="a copy of the value, encoded (base64, hex, URL or JSON escaping): replace it "
                                  "by hand"))
            elif c.value not in covered:
                sites.append(Site(line=c.line, kind="manual", raw=c.value, value=c.value,
                                  manual="a copy of the value where the fix cannot rewrite it: replace it by hand"))
        for s in sites:
            f0 = rule_of.get(s.raw)
            found.append(_Found(path, s, f0.rule_id if f0 else "", f0.preview if f0 else ""))

    # 2. Environment reads in other Python files: secret defaults, .env reads, override=True.
    for path in sorted(set(python_files) - set(by_path)):
        text = _read(root, path)
        if text is None or not _ENV_HINT.search(text):
            continue  # parsing is the expensive part: only files that look like they need a change
        outcome = codemods.analyze(text, [])
        if outcome.ok:
            texts[path] = text
            env_sites[path] = outcome.sites
    for path, sites_here in sorted(env_sites.items()):
        for s in sites_here:
            if s.kind == "env-default" and (s.raw in rule_of or not _placeholder(s.value)):
                f0 = rule_of.get(s.raw)
                found.append(_Found(path, dataclasses.replace(s, kind="manual") if s.manual else s,
                                    f0.rule_id if f0 else "", f0.preview if f0 else "…[" + _fp(s.value) + "]"))

    auto = [x for x in found if x.site.kind != "manual"]

    # 3. One name per value.
    ref_path = reference_file
    ref_text = texts.get(ref_path) if ref_path in texts else _read(root, ref_path)
    ref_entries = {e.key: e.value for e in dotenv.entries(ref_text)} if ref_text else {}
    existing = {e.name for e in vault.names()}
    # Names another owner holds in the backend (a 1Password item unleak did not create): never planned, so the
    # collision is found now rather than at apply.
    foreign: set[str] = getattr(vault, "foreign_names", lambda: set())()
    by_value: dict[str, list[_Found]] = {}
    for x in sorted(auto, key=lambda x: (x.path, x.site.line)):
        by_value.setdefault(x.site.value, []).append(x)
    taken: dict[str, str] = {}  # name -> value
    env_var_owner: dict[str, str] = {}  # variable a rewritten read needs -> value
    for value, xs in by_value.items():
        ranked = sorted(xs, key=lambda x: _RANK.get(x.site.kind, 9))
        f0 = rule_of.get(xs[0].site.raw) or rule_of.get(value)
        base = choose_name([x.site for x in ranked], f0.rule_id if f0 else "", value)
        chosen, wanted = base, renames.get(base)
        if wanted is not None:
            if not NAME_RE.fullmatch(wanted):
                raise UsageError(f"--name {chosen}={wanted}: not a valid variable name (A-Z, 0-9 and _)")
            base = wanted
        name = _free_name(base, value, taken, existing | foreign, vault, ref_entries)
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

    # Manual steps are reported, never dropped; where the value is moved elsewhere anyway, say under which name.
    secret_of_value = {s.value: s for s in plan.secrets}
    for x in found:
        if x.site.kind == "manual":
            moved = secret_of_value.get(x.site.value)
            also = f" (the value is in the vault as {moved.name} after this fix)" if moved else ""
            # A reason may name the variable to use ({NAME}): the one the value is moved under, else the one the
            # place suggests.
            name = moved.name if moved else suggest_name(x.site) or _provider_name(x.rule_id, x.site.value) or "SECRET"
            plan.manual.append(ManualStep(x.path, x.site.line,
                                          (x.site.manual or "fix it by hand").replace("{NAME}", name) + also,
                                          x.rule_id, x.preview, x.site.value))

    # 4. Which environment variables must the reference file define, and can it?
    needed: dict[str, PlannedSecret] = {}
    dropped: list[_Found] = []
    for x in auto:
        ps = secret_of_value[x.site.value]
        # An env read and a pydantic-settings field read the variable they name, whatever the vault entry is called.
        var = x.site.env_key if x.site.kind in ("env-default", "settings-field") else (
            ps.name if x.site.kind in CODE_KINDS or x.site.kind in ("interpolate", "workflow") else None)
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
            plan.manual.append(ManualStep(x.path, x.site.line, f"{var} is already defined with another value in "
                                          f"{ref_path}: move this value by hand", x.rule_id, x.preview,
                                          x.site.value))
            continue
        env_var_owner[var] = x.site.value
        needed[var] = ps
    auto = [x for x in auto if x not in dropped]

    # 5. The new file contents.
    dotenv_keys = set()
    for path in set(texts) | set(dotenv_files):
        if dotenv.is_dotenv_path(path):
            t = texts.get(path) if path in texts else _read(root, path)
            for e in dotenv.entries(t or ""):
                if e.value and is_reference(e.value):
                    dotenv_keys.add(e.key)
    dotenv_keys |= {x.site.env_key for x in auto if x.site.kind == "dotenv" and x.site.env_key}
    flip = bool(plan.secrets) or bool(dotenv_keys)
    def needs_rewrite(sites: list[Site]) -> bool:
        return any((s.kind == "dotenv-read" and s.env_key in dotenv_keys) or (s.kind == "override" and flip)
                   for s in sites)

    files = sorted({x.path for x in auto} | {p for p, ss in env_sites.items() if needs_rewrite(ss)})
    for path in files:
        xs = [x for x in auto if x.path == path]
        text = texts[path]
        manual_raws = {m.site.raw for m in found if m.path == path and m.site.kind == "manual"}
        removes = {form for x in xs for form in (x.site.raw, x.site.value) if form} - manual_raws
        if path.endswith(_PY) or notebook.is_notebook(path):
            names = {x.site.raw: secret_of_value[x.site.value].name for x in xs if x.site.kind != "env-default"}
            defaults = {x.site.raw: x.site.env_key for x in xs if x.site.kind == "env-default" and x.site.env_key}
            rewrite = notebook.rewrite if notebook.is_notebook(path) else codemods.rewrite
            outcome = rewrite(text, list(names) + list(defaults), names=names, default_names=defaults,
                              dotenv_keys=dotenv_keys, flip_override=flip)
            if not outcome.ok or outcome.code is None:
                plan.manual += [ManualStep(path, x.site.line, outcome.error or "", x.rule_id, x.preview,
                                           x.site.value) for x in xs]
                continue
            after = outcome.code
        elif dotenv.is_dotenv_path(path):
            refs = {x.site.env_key: secret_of_value[x.site.value].reference for x in xs
                    if x.site.kind == "dotenv" and x.site.env_key}
            markers = {x.site.raw: codemods.comment_marker(secret_of_value[x.site.value].name) for x in xs
                       if x.site.kind == "comment"}
            after = dotenv.rewrite(text, refs, markers)
        elif javascript.handles(path) or workflow.handles(path):
            names = {x.site.raw: secret_of_value[x.site.value].name for x in xs}
            new, error = (javascript.rewrite(path, text, names) if javascript.handles(path)
                          else workflow.rewrite(text, names))
            if new is None:
                plan.manual += [ManualStep(path, x.site.line, error or "", x.rule_id, x.preview) for x in xs]
                continue
            after = new
        else:
            after = configfiles.rewrite(text, {x.site.raw: secret_of_value[x.site.value].name for x in xs})
        left = {v for v in removes if v in after}
        if after != text and not left:
            plan.changes.append(FileChange(path, text, after, removes, keeps=manual_raws))
        elif removes:
            # Applying would fail its own re-scan; keep the file out of the fix instead of blocking the rest.
            plan.manual += [ManualStep(path, x.site.line, "the rewrite would leave a copy of the value in the file: "
                                       "fix it by hand", x.rule_id, x.preview, x.site.value) for x in xs]

    # Rewritten workflows read Actions secrets, which only the user can create: say how, without the value.
    rewritten = {c.path for c in plan.changes}
    for ps in plan.secrets:
        flows = {p.path for p in ps.places if p.kind == "workflow" and p.path in rewritten}
        if flows:
            plan.notes.append(workflow.gh_step(ps.name, flows))

    # 6. The reference file: every variable the rewritten code and configs read.
    refs_needed = {var: s.reference for var, s in sorted(needed.items())}
    change = next((c for c in plan.changes if c.path == ref_path), None)
    base_text = change.after if change else (ref_text or "")
    defined = {e.key: e.value for e in dotenv.entries(base_text)}
    missing = {k: v for k, v in refs_needed.items() if defined.get(k) != v}
    in_place = {k: v for k, v in missing.items() if k in defined}
    # The reference file may be one the scan does not see (a git-ignored .env): a key there holding a value this
    # fix moves gets the reference too, so no plaintext copy stays behind next to the references.
    in_place |= {k: secret_of_value[v].reference for k, v in defined.items()
                 if v is not None and v in secret_of_value and k not in in_place}
    after = dotenv.append_references(dotenv.rewrite(base_text, in_place) if in_place else base_text, missing)
    if after != base_text:
        plan.reference_entries = missing
        if change is None:
            change = FileChange(ref_path, ref_text, after)
            plan.changes.append(change)
        change.after = after
    if change is not None:
        change.reference_file = True
        plan.changes.remove(change)
        plan.changes.append(change)  # written last (invariant 2 order)
    _mention_every_copy(plan, search_files, rule_of)
    return plan


def _copy_step(c: copies.Copy, rule_of: dict[str, Finding], why: str) -> ManualStep:
    f0 = rule_of.get(c.value)
    return ManualStep(c.path, c.line, f"a copy of a value this fix moves, {why}: replace it by hand",
                      f0.rule_id if f0 else "", f0.preview if f0 else "", c.value)


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
            plan.manual.append(_copy_step(c, rule_of, f"left where it is (it is in the vault as {moved[c.value].name} "
                                          "after this fix)"))
            listed.add((c.path, c.value))
    for path, change in changed.items():
        for c in copies.in_text(change.after, built):
            if (path, c.value) not in listed:
                plan.manual.append(_copy_step(dataclasses.replace(c, path=path), rule_of, "left in the rewritten file "
                                              f"(it is in the vault as {moved[c.value].name} after this fix)"))
                listed.add((path, c.value))
            change.keeps.add(c.value)


def _free_name(base: str, value: str, taken: dict[str, str], existing: set[str], vault: Vault,
               ref_entries: dict[str, str | None]) -> str:
    """``base`` unless another value already owns it (in this plan, the vault or the reference file); then
    ``base_2``, ``base_3``…"""
    n = 1
    while True:
        name = base if n == 1 else f"{base}_{n}"
        n += 1
        if name in taken and taken[name] != value:
            continue
        if name in existing and not _vault_holds(vault, name, value):
            continue
        current = ref_entries.get(name)
        if current is not None and current != value and current != vault.reference_for(name):
            continue
        return name


def _vault_holds(vault: Vault, name: str, value: str) -> bool:
    try:
        return hmac.compare_digest(vault.get(vault.reference_for(name)).encode(), value.encode())
    except UnleakError:
        return False

