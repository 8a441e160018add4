"""The names a fix gives the values it moves: one name per value, from the place the value sits.

Names come from the place the value sits (the ``.env`` key or the variable an environment read names, then the
variable it is assigned to, then the keyword or dict key, qualified by the callee, class or outer dict when the key
alone is generic, e.g. ``OpenAI(api_key=…)`` -> ``OPENAI_API_KEY``), in UPPER_SNAKE_CASE. The same value found in
several places becomes one vault entry with one name; two different values never share a name (``_2``, ``_3``…).
"""

from __future__ import annotations

import hmac
import re

from remediate.codemods.sites import Site
from remediate.vault import Vault
from remediate.vault.refs import NAME_RE
from scanner.errors import UnleakError

# What a provider's token is usually called, for values nothing in the code names.
RULE_NAMES = {
    "UL001": "GITHUB_TOKEN", "UL010": "AWS_ACCESS_KEY_ID", "UL012": "AWS_SECRET_ACCESS_KEY",
    "UL013": "AWS_SESSION_TOKEN", "UL020": "STRIPE_SECRET_KEY", "UL030": "SLACK_TOKEN", "UL100": "PRIVATE_KEY",
}
# Slack's token kinds by prefix: the variable names Slack's own SDK documentation uses.
_SLACK_KINDS = {"xoxb-": "SLACK_BOT_TOKEN", "xoxp-": "SLACK_USER_TOKEN", "xapp-": "SLACK_APP_TOKEN"}
# Stripe's key kinds by prefix: a restricted key next to the secret key must not become STRIPE_SECRET_KEY_2.
_STRIPE_KINDS = {"rk_": "STRIPE_RESTRICTED_KEY", "whsec_": "STRIPE_WEBHOOK_SECRET"}


def provider_name(rule_id: str, value: str = "") -> str:
    """What the provider's own documentation calls a credential of this rule (``STRIPE_SECRET_KEY``), '' for
    rules that know no provider (generic assignments, URLs)."""
    kinds = _SLACK_KINDS if rule_id.startswith("UL03") else _STRIPE_KINDS if rule_id.startswith("UL02") else {}
    for prefix, name in kinds.items():
        if value.startswith(prefix):
            return name
    if rule_id in RULE_NAMES:
        return RULE_NAMES[rule_id]
    from scanner.rules import all_rules

    rule = all_rules().get(rule_id)
    return rule.env_name if rule is not None and rule.env_name else ""


def value_provider_name(value: str) -> str:
    """The provider's name for a value that is, by itself, one provider's token (``ghp_…`` -> ``GITHUB_TOKEN``),
    whichever rule found it: a header or call-argument rule knows no provider, the token's shape does."""
    if not value or len(value) > 512:
        return ""
    from scanner.rules import all_rules

    for rule in all_rules().values():
        if not rule.env_name or rule.pattern is None or rule.anchors or rule.requires or weak_name(rule.env_name):
            continue
        m = rule.regex.fullmatch(value)
        if m is None or (rule.validate is not None and not rule.validate(value)):
            continue
        return provider_name(rule.id, value)
    return ""


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
    # A conventional one-word name counts as the code's own only where the code spells it so (a `TOKEN = "…"`
    # constant, `app.config["SECRET_KEY"]`); a local `token = "ghp_…"` or a `token` parameter is GITHUB_TOKEN to a
    # reviewer.
    strong = [n for s, n in named if not weak_name(n) and (n not in _CONVENTIONAL or s.hint == n)]
    if strong:
        return strong[0]
    provider = provider_name(rule_id, value) or value_provider_name(value)
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


def free_name(base: str, value: str, taken: dict[str, str], existing: set[str], vault: Vault,
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
