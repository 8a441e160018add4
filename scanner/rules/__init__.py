"""The rule registry: small declarative units with stable ids (``UL001``…).

A rule is either a regular expression (with prefilter keywords) or a structural detector (a function over a chunk,
for credential-bearing file formats). Modules of rule families call :func:`register`; :func:`all_rules` imports
them once. Ids never change meaning: they appear in SARIF ``ruleId``, baselines, allow comments and config.
"""

from __future__ import annotations

import re

from scanner.errors import ConfigError
from scanner.finding import Confidence
from scanner.rules.base import (
    Allow,
    Candidate,
    DetectFn,
    Rule,
    Validator,
    check_user_pattern,
    register,
    registered,
)

__all__ = ["Allow", "Candidate", "DetectFn", "Rule", "Validator", "all_rules", "by_category", "category_of",
           "check_user_pattern", "custom_rule", "providers_of", "register", "rules_markdown"]

_LOADED = False


def all_rules() -> dict[str, Rule]:
    """Every built-in rule by id, in id order."""
    global _LOADED
    if not _LOADED:
        # Importing a family module registers its rules.
        from scanner.detect_secrets import rules as _detect_secrets_rules  # noqa: F401
        from scanner.rules import (  # noqa: F401
            client_configs,
            connection_strings,
            credential_files,
            generic,
            infra_config,
            providers,
            providers_ai,
            providers_cicd,
            providers_cloud,
            providers_data,
            providers_identity,
            providers_messaging,
            providers_observability,
            providers_payment,
            providers_registries,
            providers_saas,
        )

        _LOADED = True
    return dict(sorted(registered().items()))


def custom_rule(source: str, spec: dict[str, object]) -> Rule:
    """A user rule from config (``[[tool.unleak.rules]]``): id, regex, keywords, title, confidence."""
    def need(key: str, typ: type) -> object:
        if key not in spec:
            raise ConfigError(f"{source}: rules entry is missing '{key}'")
        val = spec[key]
        if not isinstance(val, typ):
            raise ConfigError(f"{source}: rules.{key} must be a {typ.__name__}")
        return val

    rid = str(need("id", str))
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{1,40}", rid) or re.fullmatch(r"UL\d+", rid):
        raise ConfigError(f"{source}: rules.id {rid!r} must be a name (letters, digits, -_.) and not a UL id")
    regex = str(need("regex", str))
    check_user_pattern(f"{source}: rules[{rid}].regex", regex)
    kws = spec.get("keywords", [])
    if not isinstance(kws, list) or not all(isinstance(k, str) and k for k in kws):
        raise ConfigError(f"{source}: rules[{rid}].keywords must be a list of non-empty strings")
    conf_text = spec.get("confidence", "medium")
    try:
        conf = Confidence.parse(str(conf_text))
    except ValueError as exc:
        raise ConfigError(f"{source}: rules[{rid}].confidence: {exc}") from None
    unknown = set(spec) - {"id", "regex", "keywords", "title", "confidence", "entropy"}
    if unknown:
        raise ConfigError(f"{source}: rules[{rid}] has unknown keys: {', '.join(sorted(unknown))}")
    entropy = spec.get("entropy", 0.0)
    if not isinstance(entropy, int | float):
        raise ConfigError(f"{source}: rules[{rid}].entropy must be a number")
    return Rule(
        id=rid,
        title=str(spec.get("title", rid)),
        confidence=conf,
        pattern=regex,
        keywords=tuple(k.lower() for k in kws),
        min_entropy=float(entropy),
        family="custom",
    )


# Categories of the rules written before the provider modules declared theirs (by family), and of the non-provider
# families. `unleak rules` and the README group by these.
_FAMILY_CATEGORY = {
    "github": "source-hosting", "gitlab": "source-hosting", "atlassian": "source-hosting",
    "aws": "cloud", "google": "cloud", "azure": "cloud", "digitalocean": "cloud", "heroku": "cloud",
    "stripe": "payment", "square": "payment", "shopify": "payment",
    "slack": "messaging", "discord": "messaging", "telegram": "messaging", "twilio": "messaging",
    "sendgrid": "email", "mailchimp": "email", "mailgun": "email",
    "openai": "ai", "anthropic": "ai", "huggingface": "ai", "ai": "ai",
    "npm": "package-registry", "pypi": "package-registry", "docker": "package-registry", "rubygems": "package-registry",
    "databricks": "database", "postman": "ci-cd", "pulumi": "ci-cd",
    "newrelic": "observability", "grafana": "observability", "sentry": "observability",
    "doppler": "identity", "1password": "identity", "hashicorp": "identity",
    "linear": "saas", "mapbox": "saas",
    "jwt": "token-format", "age": "key-material", "private-key": "key-material",
    "credential-file": "credential-file", "terraform": "credential-file", "connection-string": "connection-string",
    "code-call": "code", "framework": "framework", "xml": "generic", "generic": "generic",
    "detect-secrets": "detect-secrets",
}
# Families that are formats or file kinds, not services: they count no provider.
_NOT_PROVIDERS = {"jwt", "age", "private-key", "credential-file", "terraform", "connection-string", "code-call",
                  "framework", "xml", "generic", "detect-secrets", "custom"}


def category_of(rule: Rule) -> str:
    return rule.category or _FAMILY_CATEGORY.get(rule.family, "other")


_FAMILY_PROVIDERS = {
    "github": ("GitHub",), "gitlab": ("GitLab",), "atlassian": ("Atlassian",), "aws": ("AWS",), "google": ("Google",),
    "azure": ("Azure",), "digitalocean": ("DigitalOcean",), "heroku": ("Heroku",), "stripe": ("Stripe",),
    "square": ("Square",), "shopify": ("Shopify",), "slack": ("Slack",), "discord": ("Discord",),
    "telegram": ("Telegram",), "twilio": ("Twilio",), "sendgrid": ("SendGrid",), "mailchimp": ("Mailchimp",),
    "mailgun": ("Mailgun",), "openai": ("OpenAI",), "anthropic": ("Anthropic",), "huggingface": ("Hugging Face",),
    "ai": ("Groq", "Replicate", "Perplexity"), "npm": ("npm",), "pypi": ("PyPI",), "docker": ("Docker Hub",),
    "rubygems": ("RubyGems",), "databricks": ("Databricks",), "postman": ("Postman",), "pulumi": ("Pulumi",),
    "newrelic": ("New Relic",), "grafana": ("Grafana",), "sentry": ("Sentry",), "doppler": ("Doppler",),
    "1password": ("1Password",), "hashicorp": ("HashiCorp Vault", "Terraform Cloud"), "linear": ("Linear",),
    "mapbox": ("Mapbox",),
}


def providers_of(rule: Rule) -> tuple[str, ...]:
    """The services a rule recognises credentials of (none for formats and file kinds)."""
    if rule.provider:
        return (rule.provider,)
    if rule.family in _NOT_PROVIDERS:
        return ()
    return _FAMILY_PROVIDERS.get(rule.family, (rule.family,))


def by_category(rules: dict[str, Rule] | None = None) -> dict[str, list[Rule]]:
    """Rules grouped by category, categories with the most services first."""
    groups: dict[str, list[Rule]] = {}
    for r in (rules or all_rules()).values():
        groups.setdefault(category_of(r), []).append(r)

    def services(rs: list[Rule]) -> int:
        return len({p.lower() for r in rs for p in providers_of(r)})

    return dict(sorted(groups.items(), key=lambda kv: (-services(kv[1]), kv[0])))


def rules_markdown(rules: dict[str, Rule] | None = None) -> str:
    """The rule tables for the README (generated, so they cannot drift): services per category, then every rule
    with its id, what it finds and its confidence, grouped by category."""
    groups = by_category(rules)
    out = ["| category | services | rules | services recognised |", "|---|---|---|---|"]
    for cat, rs in groups.items():
        names = sorted({p for r in rs for p in providers_of(r)}, key=str.lower)
        out.append(f"| {cat} | {len(names)} | {len(rs)} | {', '.join(names).replace('|', '/')} |")
    total = {p.lower() for rs in groups.values() for r in rs for p in providers_of(r)}
    out.append(f"| **all** | **{len(total)}** | **{sum(len(rs) for rs in groups.values())}** | |")
    out += ["", "| id | category | finds | confidence |", "|---|---|---|---|"]
    for cat, rs in groups.items():
        for r in sorted(rs, key=lambda r: r.id):
            what = f"**{r.title}**"
            if r.description and r.description != r.title:
                what += f" — {r.description}"
            out.append(f"| {r.id} | {cat} | {what.replace('|', chr(92) + '|')} | {r.confidence.value} |")
    return "\n".join(out) + "\n"
