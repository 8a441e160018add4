"""The verifiers: one small declarative entry per provider, next to the rule ids it checks.

Each entry names the provider's documented, side-effect-free identity endpoint (a constant host and path), how the
credential is presented, and how the answer reads as valid or invalid. :func:`http` builds the common case;
providers that need more (a host taken from the key, a signed request, a token kind that cannot be checked) give
their own ``build``/``read``. Nothing here sends anything: :mod:`scanner.verify.client` does, and it refuses any
probe whose host is not one of the entry's own hosts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scanner.verify.model import Status, Verification, unknown


@dataclass(frozen=True)
class Credential:
    value: str
    pair: str = ""  # the other half where a credential has two (an AWS key id, a Twilio API key SID)
    target: str = field(default="", repr=False)  # the whole connection URL, for a login check (holds the value)


@dataclass(frozen=True)
class Probe:
    host: str
    method: str
    path: str  # path and query
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes  # at most client.MAX_BODY bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class Verifier:
    provider: str
    rules: tuple[str, ...]
    hosts: str  # a regular expression the probe's host must match whole: the credential goes nowhere else
    endpoint: str  # for people: README, the notice before verifying
    learns: str
    build: Callable[[Credential], Probe | None]
    read: Callable[[Answer], Verification]
    pair_rules: tuple[str, ...] = ()  # rule ids of the other half; without one the answer is unknown
    # A login instead of an HTTP probe (database URLs): (credential, timeout, host overrides) → verdict.
    connect: Callable[[Credential, float, dict[str, tuple[str, int]]], Verification] | None = None
    host_re: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "host_re", re.compile(self.hosts))


_UA = ("User-Agent", "unleak-verify")


def _bearer(v: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {v}")


def _basic(user: str, password: str) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii"))


def _dig(data: Any, path: str) -> str:
    """``a.b.0.c`` out of nested JSON; '' when absent. Only fields unleak names are ever read from an answer."""
    cur = data
    for part in path.split("."):
        if isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return ""
    return str(cur) if isinstance(cur, str | int) and not isinstance(cur, bool) else ""


def _clean(text: str, limit: int = 120) -> str:
    # Provider text reaches terminals and logs: printable characters only, bounded.
    return "".join(ch for ch in text if ch.isprintable())[:limit]


def _scopes(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        items = [s.strip() for s in raw.split(",")]
    elif isinstance(raw, list):
        items = [str(s) for s in raw if isinstance(s, str | int)]
    else:
        return ()
    items = [_clean(s, 60) for s in items if s]
    return (*items[:12], f"+{len(items) - 12} more") if len(items) > 12 else tuple(items)


def generic_read(provider: str, *, valid: tuple[int, ...] = (200,), invalid: tuple[int, ...] = (401,),
                 account: tuple[str, ...] = (), scopes_header: str = "", scopes_json: str = "",
                 expiry_header: str = "", expiry_json: str = "", limited: tuple[int, ...] = ()
                 ) -> Callable[[Answer], Verification]:
    """The common reading: status codes decide; named JSON fields and headers say who and what."""

    def read(ans: Answer) -> Verification:
        if ans.status in valid or ans.status in limited:
            data = ans.json()
            who = next((w for w in (_dig(data, a) for a in account) if w), "")
            scopes = _scopes(ans.headers.get(scopes_header.lower(), "")) if scopes_header else ()
            if scopes_json:
                scopes = _scopes(_dig_raw(data, scopes_json))
            expires = ans.headers.get(expiry_header.lower(), "") if expiry_header else _dig(data, expiry_json)
            reason = f"accepted with limited rights (HTTP {ans.status})" if ans.status in limited else ""
            return Verification(Status.VALID, provider, reason, _clean(who), scopes, _clean(expires or "", 40))
        if ans.status in invalid:
            return Verification(Status.INVALID, provider, f"rejected (HTTP {ans.status})")
        return status_unknown(provider, ans)

    return read


def _dig_raw(data: Any, path: str) -> Any:
    cur = data
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def status_unknown(provider: str, ans: Answer) -> Verification:
    if ans.status == 429 or (ans.status == 403 and ans.headers.get("x-ratelimit-remaining") == "0"):
        return unknown(provider, "rate limited")
    if 300 <= ans.status < 400:
        return unknown(provider, f"redirected (HTTP {ans.status}); not followed")
    return unknown(provider, f"unexpected answer (HTTP {ans.status})")


def http(provider: str, rules: tuple[str, ...], host: str, path: str, *, method: str = "GET",
         present: Callable[[str], tuple[str, str]] = _bearer, headers: tuple[tuple[str, str], ...] = (),
         body: bytes = b"", learns: str = "", read: Callable[[Answer], Verification] | None = None,
         **read_kw: Any) -> Verifier:
    """A verifier that presents the credential in one header to one fixed endpoint."""

    def build(cred: Credential) -> Probe:
        return Probe(host, method, path, (present(cred.value), _UA, *headers), body)

    return Verifier(provider, rules, re.escape(host), f"{method} https://{host}{path.split('?')[0]}", learns,
                    build, read or generic_read(provider, **read_kw))


# ------------------------------------------------------------------------------------------------ providers

def _github_build(cred: Credential) -> Probe | None:
    v = cred.value
    if v.startswith("ghr_"):
        return None  # a refresh token is only ever exchanged, which would mint a new token
    path = "/installation/repositories?per_page=1" if v.startswith("ghs_") else "/user"
    return Probe("api.github.com", "GET", path, (_bearer(v), _UA, ("Accept", "application/vnd.github+json"),
                                                   ("X-GitHub-Api-Version", "2022-11-28")))


_github_classic = generic_read("github", account=("login",), scopes_header="X-OAuth-Scopes",
                               expiry_header="GitHub-Authentication-Token-Expiration")


def _github_fine_grained_read(ans: Answer) -> Verification:
    v = _github_classic(ans)
    if v.status is Status.VALID:
        # A fine-grained token's permissions are set per repository and no identity endpoint lists them: say so
        # rather than show an empty scope list that reads as "no rights".
        return Verification(v.status, v.provider, "fine-grained token: permissions are per repository and not "
                            "listed by GitHub's API", v.account, (), v.expires)
    return v


def _gitlab_build(cred: Credential) -> Probe | None:
    if not cred.value.startswith("glpat-"):
        return None  # deploy, runner, CI job and trigger tokens have no identity endpoint
    return Probe("gitlab.com", "GET", "/api/v4/personal_access_tokens/self", (("PRIVATE-TOKEN", cred.value), _UA))


def _gitlab_read(ans: Answer) -> Verification:
    v = generic_read("gitlab", scopes_json="scopes", expiry_json="expires_at")(ans)
    if v.status is Status.VALID:
        uid = _dig(ans.json(), "user_id")
        return Verification(v.status, v.provider, "", f"user id {uid}" if uid else "", v.scopes, v.expires)
    return v


def _slack_build(cred: Credential) -> Probe | None:
    if cred.value.startswith(("xoxr-", "xoxe-")):
        return None  # refresh tokens are only exchanged
    return Probe("slack.com", "POST", "/api/auth.test",
                 (_bearer(cred.value), _UA, ("Content-Type", "application/x-www-form-urlencoded")))


_SLACK_DEAD = {"invalid_auth", "account_inactive", "token_revoked", "token_expired", "not_authed", "no_permission",
               "org_login_required", "ekm_access_denied"}


def _slack_read(ans: Answer) -> Verification:
    data = ans.json()
    if ans.status != 200 or not isinstance(data, dict):
        return status_unknown("slack", ans)
    if data.get("ok") is True:
        who = "@".join(x for x in (_dig(data, "user"), _dig(data, "team")) if x)
        return Verification(Status.VALID, "slack", "", _clean(who), _scopes(ans.headers.get("x-oauth-scopes", "")))
    err = data.get("error")
    if err in _SLACK_DEAD:
        return Verification(Status.INVALID, "slack", f"rejected ({err})")
    if err == "ratelimited":
        return unknown("slack", "rate limited")
    return unknown("slack", "unexpected answer")


_SLACK_HOOK = re.compile(r"https://hooks\.slack\.com(/services/T[A-Z0-9]{6,12}/[A-Z0-9]{6,14}/[A-Za-z0-9]{20,40})")


def _slack_hook_build(cred: Credential) -> Probe | None:
    m = _SLACK_HOOK.fullmatch(cred.value)
    if m is None:
        return None  # workflow and trigger URLs would run the workflow
    # An empty payload: a live hook answers 400 "no_text" and posts nothing.
    return Probe("hooks.slack.com", "POST", m.group(1), (_UA, ("Content-Type", "application/json")), b"{}")


def _slack_hook_read(ans: Answer) -> Verification:
    body = ans.body.strip()
    if ans.status == 400 and body in (b"no_text", b"invalid_payload", b"missing_text_or_fallback_or_attachments"):
        return Verification(Status.VALID, "slack", "webhook exists (nothing was posted)")
    if ans.status in (403, 404, 410) and body in (b"invalid_token", b"no_service", b"no_team", b"team_disabled",
                                                  b"channel_is_archived", b"action_prohibited"):
        return Verification(Status.INVALID, "slack", f"rejected ({body.decode('ascii', 'replace')})")
    return status_unknown("slack", ans)


def _mailchimp_build(cred: Credential) -> Probe | None:
    m = re.fullmatch(r"[0-9a-f]{32}-(us[0-9]{1,2})", cred.value)
    if m is None:
        return None
    return Probe(f"{m.group(1)}.api.mailchimp.com", "GET", "/3.0/", (_basic("unleak", cred.value), _UA))


def _twilio_build(cred: Credential) -> Probe | None:
    if not cred.pair:
        return None
    return Probe("api.twilio.com", "GET", "/2010-04-01/Accounts.json?PageSize=1", (_basic(cred.pair, cred.value), _UA))


def _google_read(ans: Answer) -> Verification:
    if ans.status == 200:
        return Verification(Status.VALID, "google")
    data = ans.json()
    reasons = set()
    details = _dig_raw(data, "error")
    if isinstance(details, dict):
        for d in details.get("details") or []:
            if isinstance(d, dict) and isinstance(d.get("reason"), str):
                reasons.add(d["reason"])
    if ans.status == 400 and "API_KEY_INVALID" in reasons:
        return Verification(Status.INVALID, "google", "rejected (API_KEY_INVALID)")
    if ans.status == 403 and reasons & {"SERVICE_DISABLED", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED",
                                        "API_KEY_IP_ADDRESS_BLOCKED", "API_KEY_ANDROID_APP_BLOCKED",
                                        "API_KEY_IOS_APP_BLOCKED"}:
        return Verification(Status.VALID, "google", "key exists; restricted or this API not enabled for it")
    return status_unknown("google", ans)


# ---------------------------------------------------------------------------------------------------- AWS

STS_HOST = "sts.amazonaws.com"
_STS_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"


def sigv4_headers(key_id: str, secret: str, host: str, body: bytes, when: float | None = None,
                  region: str = "us-east-1", service: str = "sts") -> tuple[tuple[str, str], ...]:
    """AWS Signature Version 4 for a form POST to ``/`` (the documented STS request shape)."""
    t = time.gmtime(time.time() if when is None else when)
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", t)
    day = amz_date[:8]
    ctype = "application/x-www-form-urlencoded; charset=utf-8"
    signed = "content-type;host;x-amz-date"
    canonical = "\n".join(["POST", "/", "", f"content-type:{ctype}", f"host:{host}", f"x-amz-date:{amz_date}", "",
                           signed, hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    auth = f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={signed}, Signature={sig}"
    return (("Content-Type", ctype), ("X-Amz-Date", amz_date), ("Authorization", auth))


def _aws_build(cred: Credential) -> Probe | None:
    if not cred.pair.startswith("AKIA"):
        return None  # temporary (ASIA) keys also need their session token
    return Probe(STS_HOST, "POST", "/", (*sigv4_headers(cred.pair, cred.value, STS_HOST, _STS_BODY), _UA), _STS_BODY)


def _xml(body: bytes, tag: str) -> str:
    m = re.search(rb"<" + tag.encode() + rb">([^<]{1,200})</", body)
    return m.group(1).decode("utf-8", "replace") if m else ""


def _aws_read(ans: Answer) -> Verification:
    if ans.status == 200:
        return Verification(Status.VALID, "aws", "", _clean(_xml(ans.body, "Arn")))
    code = _xml(ans.body, "Code")
    if ans.status == 403 and code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied"):
        return Verification(Status.INVALID, "aws", f"rejected ({code})")
    if code in ("Throttling", "ThrottlingException"):
        return unknown("aws", "rate limited")
    return status_unknown("aws", ans)


def _telegram_build(cred: Credential) -> Probe | None:
    if re.fullmatch(r"[0-9]{5,16}:[A-Za-z0-9_-]{30,40}", cred.value) is None:
        return None
    return Probe("api.telegram.org", "GET", f"/bot{cred.value}/getMe", (_UA,))


def _db_connect(cred: Credential, timeout: float, table: dict[str, tuple[str, int]]) -> Verification:
    from scanner.verify import databases

    if not cred.target:
        return unknown("database", "the URL is not at hand (a cached history record keeps no line)")
    return databases.check(cred.target, timeout, table)


def _no_probe(cred: Credential) -> Probe | None:
    return None


VERIFIERS: tuple[Verifier, ...] = (
    Verifier("github", ("UL001",), re.escape("api.github.com"), "GET https://api.github.com/user "
             "(for an installation token, /installation/repositories)", "login, classic scopes, expiry",
             _github_build, _github_classic),
    Verifier("github", ("UL002",), re.escape("api.github.com"), "GET https://api.github.com/user",
             "login, expiry (fine-grained permissions are not listed by the API)", _github_build,
             _github_fine_grained_read),
    Verifier("gitlab", ("UL005",), re.escape("gitlab.com"), "GET https://gitlab.com/api/v4/personal_access_tokens/self",
             "user id, scopes, expiry (gitlab.com personal/project/group tokens)", _gitlab_build, _gitlab_read),
    Verifier("slack", ("UL030",), re.escape("slack.com"), "POST https://slack.com/api/auth.test",
             "user and team, scopes", _slack_build, _slack_read),
    Verifier("slack", ("UL032",), re.escape("hooks.slack.com"), "POST the webhook URL with an empty payload "
             "(rejected as no_text; nothing is posted)", "whether the webhook exists", _slack_hook_build,
             _slack_hook_read),
    http("stripe", ("UL020", "UL021"), "api.stripe.com", "/v1/account", account=("id",), limited=(403,),
         learns="account id; restricted keys show as limited"),
    http("openai", ("UL040",), "api.openai.com", "/v1/models", learns="whether the key is live"),
    http("anthropic", ("UL041",), "api.anthropic.com", "/v1/models",
         present=lambda v: ("x-api-key", v), headers=(("anthropic-version", "2023-06-01"),),
         learns="whether the key is live"),
    http("huggingface", ("UL042",), "huggingface.co", "/api/whoami-v2", account=("name",),
         scopes_json="auth.accessToken.role", learns="user name, token role"),
    http("google", ("UL050",), "generativelanguage.googleapis.com", "/v1beta/models?pageSize=1",
         present=lambda v: ("x-goog-api-key", v), read=_google_read,
         learns="whether the key exists (restrictions allowed)"),
    http("sendgrid", ("UL063",), "api.sendgrid.com", "/v3/scopes", scopes_json="scopes", learns="scopes"),
    Verifier("mailchimp", ("UL064",), r"us[0-9]{1,2}\.api\.mailchimp\.com",
             "GET https://<dc>.api.mailchimp.com/3.0/", "account name", _mailchimp_build,
             generic_read("mailchimp", account=("account_name",))),
    http("npm", ("UL070",), "registry.npmjs.org", "/-/whoami", account=("username",), learns="user name"),
    Verifier("twilio", ("UL062",), re.escape("api.twilio.com"), "GET https://api.twilio.com/2010-04-01/Accounts.json "
             "(API key SID + secret)", "account SID", _twilio_build,
             generic_read("twilio", account=("accounts.0.sid",)), pair_rules=("UL061",)),
    Verifier("aws", ("UL011", "UL012"), re.escape(STS_HOST), "POST https://sts.amazonaws.com/ GetCallerIdentity "
             "(SigV4; key id + secret key)", "ARN of the key's user or role", _aws_build, _aws_read,
             pair_rules=("UL010",)),
    http("digitalocean", ("UL058",), "api.digitalocean.com", "/v2/account", account=("account.email",),
         learns="account e-mail"),
    http("discord", ("UL035",), "discord.com", "/api/v10/users/@me", present=lambda v: ("Authorization", f"Bot {v}"),
         account=("username",), learns="bot user name"),
    Verifier("telegram", ("UL037",), re.escape("api.telegram.org"), "GET https://api.telegram.org/bot<token>/getMe",
             "bot user name", _telegram_build, generic_read("telegram", account=("result.username",),
                                                            invalid=(401, 404))),
    Verifier("database", ("UL220",), r".+", "log in at the URL's own host and disconnect (PostgreSQL, MySQL/MariaDB, "
             "Redis; drivers from the verify-db extra); local and private hosts are not contacted",
             "whether the user and password are accepted", _no_probe, lambda ans: unknown("database", ""),
             connect=_db_connect),
)


def by_rule() -> dict[str, Verifier]:
    return {rule: v for v in VERIFIERS for rule in v.rules}


def pair_rule_ids() -> set[str]:
    return {r for v in VERIFIERS for r in v.pair_rules}
