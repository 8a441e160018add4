"""Provider token formats: fixed prefixes, lengths and checksums make these high confidence.

Every pattern is bounded (no unbounded repetition next to another repetition over the same characters), so a
pathological line costs linear time. ``preview_prefix`` is only the format's public prefix, never secret characters.
Id ranges: UL00x source hosting, UL01x AWS, UL02x payments, UL03x chat, UL04x AI, UL05x cloud, UL06x messaging,
UL07x package registries, UL08x developer services, UL09x generic token formats.
"""

from __future__ import annotations

import dataclasses
import re

from scanner.finding import Confidence
from scanner.rules._util import NAME_SEP, github_checksum_ok
from scanner.rules.base import Rule, register

H = Confidence.HIGH
M = Confidence.MEDIUM
L = Confidence.LOW

# Right boundary for tokens made of [A-Za-z0-9_-]: the token must not continue.
_END = r"(?![A-Za-z0-9_-])"
_START = r"(?<![A-Za-z0-9_-])"


def _p(body: str) -> str:
    """A token pattern with token boundaries on both sides; the token is the ``secret`` group.

    A pattern that starts with a look-behind loses the regex engine's literal-prefix search and becomes ~25x slower
    on long lines, so the left boundary is checked *after* the token's literal prefix (``gh(?<![…]gh)…``).
    """
    m = re.match(r"[A-Za-z0-9_]+", body)
    if m is None or any(c in body[m.end():m.end() + 1] for c in "{?*+"):
        return _START + "(?P<secret>" + body + ")" + _END
    lit = m.group(0)
    return "(?P<secret>" + lit + "(?<![A-Za-z0-9_-]" + re.escape(lit) + ")" + body[len(lit):] + ")" + _END


# The variable `fix` names a value after when nothing in the code names it.
_ENV = {
    "UL001": "GITHUB_TOKEN", "UL002": "GITHUB_TOKEN", "UL005": "GITLAB_TOKEN", "UL010": "AWS_ACCESS_KEY_ID",
    "UL011": "AWS_SECRET_ACCESS_KEY", "UL020": "STRIPE_SECRET_KEY", "UL021": "STRIPE_SECRET_KEY",
    "UL022": "STRIPE_WEBHOOK_SECRET", "UL025": "SQUARE_ACCESS_TOKEN", "UL026": "SQUARE_OAUTH_SECRET",
    "UL027": "SHOPIFY_ACCESS_TOKEN", "UL030": "SLACK_TOKEN", "UL031": "SLACK_APP_TOKEN", "UL032": "SLACK_WEBHOOK_URL",
    "UL035": "DISCORD_BOT_TOKEN", "UL036": "DISCORD_WEBHOOK_URL", "UL037": "TELEGRAM_BOT_TOKEN",
    "UL040": "OPENAI_API_KEY", "UL041": "ANTHROPIC_API_KEY", "UL042": "HF_TOKEN", "UL043": "API_KEY",
    "UL050": "GOOGLE_API_KEY", "UL052": "GOOGLE_CLIENT_SECRET", "UL053": "GOOGLE_REFRESH_TOKEN",
    "UL055": "AZURE_STORAGE_KEY", "UL056": "AZURE_SAS_TOKEN", "UL057": "AZURE_CLIENT_SECRET",
    "UL058": "DIGITALOCEAN_TOKEN", "UL059": "HEROKU_API_KEY", "UL060": "HEROKU_API_KEY", "UL061": "TWILIO_API_KEY",
    "UL062": "TWILIO_AUTH_TOKEN", "UL063": "SENDGRID_API_KEY", "UL064": "MAILCHIMP_API_KEY",
    "UL065": "MAILGUN_API_KEY", "UL070": "NPM_TOKEN", "UL071": "PYPI_API_TOKEN", "UL072": "DOCKERHUB_TOKEN",
    "UL073": "GEM_HOST_API_KEY", "UL080": "DATABRICKS_TOKEN", "UL081": "POSTMAN_API_KEY",
    "UL082": "NEW_RELIC_API_KEY", "UL083": "GRAFANA_TOKEN", "UL084": "SENTRY_AUTH_TOKEN", "UL085": "DOPPLER_TOKEN",
    "UL086": "PULUMI_ACCESS_TOKEN", "UL087": "LINEAR_API_KEY", "UL088": "OP_SERVICE_ACCOUNT_TOKEN",
    "UL089": "AGE_SECRET_KEY", "UL090": "JWT", "UL091": "ATLASSIAN_API_TOKEN", "UL092": "VAULT_TOKEN",
    "UL093": "MAPBOX_ACCESS_TOKEN", "UL094": "NATS_NKEY_SEED",
}

_RULES = (
    # ---------------------------------------------------------------- source hosting
    Rule(
        id="UL001", title="GitHub token", confidence=H,
        pattern=_p(r"gh[pousr]_[A-Za-z0-9]{36}"),
        keywords=("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        validate=github_checksum_ok, preview_prefix="gh*_",
        revoke="https://github.com/settings/tokens", family="github",
        description="Classic personal access, OAuth, user-to-server, server-to-server and refresh tokens "
        "(CRC32 checked)",
    ),
    Rule(
        id="UL002", title="GitHub fine-grained personal access token", confidence=H,
        pattern=_p(r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}"),
        keywords=("github_pat_",), preview_prefix="github_pat_", min_entropy=3.5,
        revoke="https://github.com/settings/personal-access-tokens", family="github",
        description="Fine-grained personal access tokens",
    ),
    Rule(
        id="UL005", title="GitLab token", confidence=H,
        pattern=_p(r"gl(?:pat|ptt|dt|rt|cbt|soat|ft|imt|oas|agent|ffct)-[A-Za-z0-9_-]{20,64}"
                   r"(?:\.[0-9a-z]{2}\.[0-9a-z]{6,12})?"),
        keywords=("glpat-", "glptt-", "gldt-", "glrt-", "glcbt-", "glsoat-", "glft-", "glimt-", "gloas-",
                  "glagent-", "glffct-"),
        preview_prefix="gl*-", min_entropy=3.3,
        revoke="https://gitlab.com/-/user_settings/personal_access_tokens", family="gitlab",
        description="Personal, project, deploy, runner, CI build, OAuth and agent tokens",
    ),
    # ---------------------------------------------------------------- AWS
    Rule(
        id="UL010", title="AWS access key id", confidence=H,
        pattern=r"(?P<secret>A(?<![A-Z0-9]A)(?:KIA|SIA|BIA|CCA)[A-Z2-7]{16})(?![A-Z0-9])",
        keywords=("akia", "asia", "abia", "acca"), preview_prefix="AKIA", min_entropy=3.0,
        revoke="https://console.aws.amazon.com/iam/home#/security_credentials", family="aws",
        description="Long-term (AKIA) and temporary (ASIA) access key ids",
    ),
    Rule(
        id="UL011", title="AWS secret access key", confidence=H,
        pattern=(r"(?i)aws_?secret_?(?:access_?)?key" + NAME_SEP +
                 r"(?P<secret>(?-i:[A-Za-z0-9/+]{40}))(?![A-Za-z0-9/+=])"),
        keywords=("aws_secret", "awssecret", "aws_secretaccess"), min_entropy=4.0,
        revoke="https://console.aws.amazon.com/iam/home#/security_credentials", family="aws",
        description="Secret access key assigned to an AWS-named key (credentials files, env, code)",
    ),
    # UL012 (secret key next to an access key id) is a detector in infra_config.py.
    # ---------------------------------------------------------------- payments
    Rule(
        id="UL020", title="Stripe secret key", confidence=H,
        pattern=_p(r"(?:sk|rk)_live_[A-Za-z0-9]{20,247}"),
        keywords=("sk_live_", "rk_live_"), preview_prefix="sk_live_", min_entropy=3.3,
        revoke="https://dashboard.stripe.com/apikeys", family="stripe",
        description="Live secret and restricted keys",
    ),
    Rule(
        id="UL021", title="Stripe test secret key", confidence=L,
        pattern=_p(r"(?:sk|rk)_test_[A-Za-z0-9]{20,247}"),
        keywords=("sk_test_", "rk_test_"), preview_prefix="sk_test_", min_entropy=3.3,
        revoke="https://dashboard.stripe.com/test/apikeys", family="stripe",
        description="Test-mode secret keys (no money moves, but they read test data)",
    ),
    Rule(
        id="UL022", title="Stripe webhook signing secret", confidence=H,
        pattern=_p(r"whsec_[A-Za-z0-9]{32,64}"),
        keywords=("whsec_",), preview_prefix="whsec_", min_entropy=3.3,
        revoke="https://dashboard.stripe.com/webhooks", family="stripe",
        description="Webhook endpoint signing secrets",
    ),
    Rule(
        id="UL025", title="Square access token", confidence=H,
        pattern=_p(r"(?:EAAA[A-Za-z0-9_-]{60}|sq0atp-[A-Za-z0-9_-]{22})"),
        keywords=("eaaa", "sq0atp-"), preview_prefix="EAAA", min_entropy=3.5,
        revoke="https://developer.squareup.com/apps", family="square",
        description="Production access tokens",
    ),
    Rule(
        id="UL026", title="Square OAuth secret", confidence=H,
        pattern=_p(r"sq0csp-[A-Za-z0-9_-]{43}"),
        keywords=("sq0csp-",), preview_prefix="sq0csp-", min_entropy=3.5,
        revoke="https://developer.squareup.com/apps", family="square",
        description="Application OAuth secrets",
    ),
    Rule(
        id="UL027", title="Shopify access token", confidence=H,
        pattern=_p(r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
        keywords=("shpat_", "shpca_", "shppa_", "shpss_"), preview_prefix="shp*_", min_entropy=2.5,
        revoke="https://admin.shopify.com/settings/apps/development", family="shopify",
        description="Admin API, custom app, private app tokens and shared secrets",
    ),
    # ---------------------------------------------------------------- chat
    Rule(
        id="UL030", title="Slack token", confidence=H,
        pattern=_p(r"xox[baprse]-(?:[0-9]{8,13}-){1,3}[A-Za-z0-9]{24,64}"),
        keywords=("xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-", "xoxe-"), preview_prefix="xox*-",
        min_entropy=3.0, revoke="https://api.slack.com/apps", family="slack",
        description="Bot, user, workspace and refresh tokens",
    ),
    Rule(
        id="UL031", title="Slack app-level token", confidence=H,
        pattern=_p(r"xapp-[0-9]-[A-Z0-9]{9,12}-[0-9]{10,14}-[a-f0-9]{64}"),
        keywords=("xapp-",), preview_prefix="xapp-", min_entropy=3.0,
        revoke="https://api.slack.com/apps", family="slack",
        description="App-level tokens (Socket Mode)",
    ),
    Rule(
        id="UL032", title="Slack incoming webhook", confidence=H,
        pattern=r"(?P<secret>https://hooks\.slack\.com/(?:services|workflows|triggers)/"
                r"T[A-Z0-9]{6,12}/[A-Z0-9]{6,14}/[A-Za-z0-9]{20,40})" + _END,
        keywords=("hooks.slack.com",), preview_prefix="https://hooks.slack.com/",
        revoke="https://api.slack.com/apps", family="slack",
        description="Incoming webhook and workflow trigger URLs",
    ),
    Rule(
        id="UL035", title="Discord bot token", confidence=M,
        pattern=r"(?<![A-Za-z0-9_.-])(?P<secret>[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40})"
                r"(?![A-Za-z0-9_.-])",
        keywords=("discord", "bot"), min_entropy=4.0,
        revoke="https://discord.com/developers/applications", family="discord",
        description="Bot tokens on lines that mention Discord or a bot",
    ),
    Rule(
        id="UL036", title="Discord webhook", confidence=H,
        pattern=r"(?P<secret>https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/"
                r"[A-Za-z0-9_-]{60,72})" + _END,
        keywords=("discord.com/api/webhooks", "discordapp.com/api/webhooks"),
        preview_prefix="https://discord.com/api/webhooks/", revoke="Discord: Server Settings → Integrations → Webhooks",
        family="discord", description="Channel webhook URLs",
    ),
    Rule(
        id="UL037", title="Telegram bot token", confidence=H,
        pattern=r"(?<![A-Za-z0-9_:-])(?P<secret>[0-9]{8,10}:AA[A-Za-z0-9_-]{33})" + _END,
        keywords=(":aa",), min_entropy=3.5,
        revoke="Telegram: @BotFather → /revoke", family="telegram",
        description="Bot API tokens",
    ),
    # ---------------------------------------------------------------- AI
    Rule(
        id="UL040", title="OpenAI API key", confidence=H,
        pattern=_p(r"sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,200}|[A-Za-z0-9]{20})T3BlbkFJ"
                   r"[A-Za-z0-9_-]{20,200}"),
        keywords=("t3blbkfj",), preview_prefix="sk-", min_entropy=3.5,
        revoke="https://platform.openai.com/api-keys", family="openai",
        description="User, project, service-account and admin keys",
    ),
    Rule(
        id="UL041", title="Anthropic API key", confidence=H,
        pattern=_p(r"sk-ant-(?:api|admin|sid)[0-9]{2}-[A-Za-z0-9_-]{80,120}"),
        keywords=("sk-ant-",), preview_prefix="sk-ant-", min_entropy=3.5,
        revoke="https://console.anthropic.com/settings/keys", family="anthropic",
        description="API and admin keys",
    ),
    Rule(
        id="UL042", title="Hugging Face token", confidence=H,
        pattern=_p(r"hf_[A-Za-z]{34}"),
        keywords=("hf_",), preview_prefix="hf_", min_entropy=3.5,
        revoke="https://huggingface.co/settings/tokens", family="huggingface",
        description="User access tokens",
    ),
    Rule(
        id="UL043", title="Groq / Replicate / Perplexity API key", confidence=H,
        pattern=_p(r"(?:gsk_[A-Za-z0-9]{52}|r8_[A-Za-z0-9]{37}|pplx-[A-Za-z0-9]{48})"),
        keywords=("gsk_", "r8_", "pplx-"), preview_prefix="", min_entropy=3.5,
        revoke="the provider's API key settings", family="ai",
        description="Inference-provider API keys with fixed prefixes",
    ),
    # ---------------------------------------------------------------- cloud
    Rule(
        id="UL050", title="Google API key", confidence=H,
        pattern=_p(r"AIza[0-9A-Za-z_-]{35}"),
        keywords=("aiza",), preview_prefix="AIza", min_entropy=3.5,
        revoke="https://console.cloud.google.com/apis/credentials", family="google",
        description="API keys for Google Cloud and Firebase",
    ),
    Rule(
        id="UL052", title="Google OAuth client secret", confidence=H,
        pattern=_p(r"GOCSPX-[A-Za-z0-9_-]{28}"),
        keywords=("gocspx-",), preview_prefix="GOCSPX-", min_entropy=3.5,
        revoke="https://console.cloud.google.com/apis/credentials", family="google",
        description="OAuth 2.0 client secrets",
    ),
    Rule(
        id="UL053", title="Google OAuth refresh token", confidence=M,
        pattern=_p(r"1//0[A-Za-z0-9_-]{40,100}"),
        keywords=("1//0",), preview_prefix="1//0", min_entropy=3.5,
        revoke="https://myaccount.google.com/permissions", family="google",
        description="Long-lived refresh tokens",
    ),
    Rule(
        id="UL055", title="Azure storage account key", confidence=H,
        pattern=r"(?i)AccountKey\s{0,2}=\s{0,2}(?P<secret>(?-i:[A-Za-z0-9/+]{86}==))",
        keywords=("accountkey",), min_entropy=4.0,
        revoke="Azure portal → Storage account → Security + networking → Access keys → Rotate", family="azure",
        description="Account keys in storage connection strings",
    ),
    Rule(
        id="UL056", title="Azure SAS token", confidence=M,
        pattern=r"(?i)\bsv=[0-9]{4}-[0-9]{2}-[0-9]{2}&[^\s\"'<>]{0,400}?\bsig=(?P<secret>[A-Za-z0-9%+/]{40,100}"
                r"(?:%3D|=){0,2})",
        keywords=("sig=",), min_entropy=3.5,
        revoke="Azure portal → Storage account → Shared access signature (rotate the signing key)", family="azure",
        description="Shared access signatures (the sig= part)",
    ),
    Rule(
        id="UL057", title="Azure AD client secret", confidence=H,
        pattern=r"(?<![A-Za-z0-9_~.-])(?P<secret>[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?![A-Za-z0-9_~.-])",
        keywords=("q~",), min_entropy=3.5,
        revoke="Azure portal → App registrations → Certificates & secrets", family="azure",
        description="Entra ID application client secrets",
    ),
    Rule(
        id="UL058", title="DigitalOcean token", confidence=H,
        pattern=_p(r"do[opr]_v1_[a-f0-9]{64}"),
        keywords=("dop_v1_", "doo_v1_", "dor_v1_"), preview_prefix="do*_v1_", min_entropy=2.5,
        revoke="https://cloud.digitalocean.com/account/api/tokens", family="digitalocean",
        description="Personal access, OAuth and refresh tokens",
    ),
    Rule(
        id="UL059", title="Heroku API key", confidence=H,
        pattern=_p(r"HRKU-(?:AA)?[A-Za-z0-9_-]{58,64}"),
        keywords=("hrku-",), preview_prefix="HRKU-", min_entropy=3.5,
        revoke="https://dashboard.heroku.com/account/applications", family="heroku",
        description="Platform API keys",
    ),
    Rule(
        id="UL060", title="Heroku API key (legacy UUID)", confidence=M,
        pattern=r"(?i)heroku[A-Za-z0-9_.-]{0,30}" + NAME_SEP +
                r"(?P<secret>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?![0-9a-f-])",
        keywords=("heroku",), skip_filters=frozenset({"uuid"}),
        revoke="https://dashboard.heroku.com/account/applications", family="heroku",
        description="UUID-shaped API keys assigned to a Heroku-named key",
    ),
    # ---------------------------------------------------------------- messaging and email
    Rule(
        id="UL061", title="Twilio API key", confidence=M,
        pattern=r"(?<![A-Za-z0-9])(?P<secret>SK[0-9a-f]{32})(?![A-Za-z0-9])",
        keywords=("twilio",), min_entropy=2.5,
        revoke="https://console.twilio.com/us1/account/keys-credentials/api-keys", family="twilio",
        description="API key SIDs (SK…) — paired with their secret",
    ),
    Rule(
        id="UL062", title="Twilio auth token", confidence=M,
        pattern=r"(?i)twilio[A-Za-z0-9_.-]{0,30}(?:token|secret|auth)[A-Za-z0-9_.-]{0,20}" + NAME_SEP +
                r"(?P<secret>[0-9a-f]{32})(?![0-9a-f])",
        keywords=("twilio",), min_entropy=2.5,
        revoke="https://console.twilio.com/", family="twilio",
        description="Account auth tokens assigned to a Twilio-named key",
    ),
    Rule(
        id="UL063", title="SendGrid API key", confidence=H,
        pattern=_p(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
        keywords=("sg.",), preview_prefix="SG.", min_entropy=3.5,
        revoke="https://app.sendgrid.com/settings/api_keys", family="sendgrid",
        description="API keys",
    ),
    Rule(
        id="UL064", title="Mailchimp API key", confidence=H,
        pattern=r"(?<![A-Za-z0-9])(?P<secret>[0-9a-f]{32}-us[0-9]{1,2})(?![A-Za-z0-9])",
        keywords=("-us",), min_entropy=2.5,
        revoke="https://admin.mailchimp.com/account/api/", family="mailchimp",
        description="Marketing API keys (…-usNN)",
    ),
    Rule(
        id="UL065", title="Mailgun API key", confidence=M,
        pattern=r"(?<![A-Za-z0-9])(?P<secret>key-[0-9a-f]{32})(?![A-Za-z0-9])",
        keywords=("key-",), preview_prefix="key-", min_entropy=2.5,
        revoke="https://app.mailgun.com/settings/api_security", family="mailgun",
        description="Private API keys",
    ),
    # ---------------------------------------------------------------- package registries
    Rule(
        id="UL070", title="npm access token", confidence=H,
        pattern=_p(r"npm_[A-Za-z0-9]{36}"),
        keywords=("npm_",), preview_prefix="npm_", min_entropy=3.5,
        revoke="https://www.npmjs.com/settings/~/tokens", family="npm",
        description="Granular and classic access tokens",
    ),
    Rule(
        id="UL071", title="PyPI API token", confidence=H,
        pattern=_p(r"pypi-AgE[A-Za-z0-9_-]{50,300}"),
        keywords=("pypi-age",), preview_prefix="pypi-", min_entropy=3.5,
        revoke="https://pypi.org/manage/account/token/", family="pypi",
        description="PyPI and TestPyPI upload tokens (macaroons)",
    ),
    Rule(
        id="UL072", title="Docker Hub access token", confidence=H,
        pattern=_p(r"dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,40}"),
        keywords=("dckr_pat_", "dckr_oat_"), preview_prefix="dckr_pat_", min_entropy=3.5,
        revoke="https://app.docker.com/settings/personal-access-tokens", family="docker",
        description="Personal and organisation access tokens",
    ),
    Rule(
        id="UL073", title="RubyGems API key", confidence=H,
        pattern=_p(r"rubygems_[a-f0-9]{48}"),
        keywords=("rubygems_",), preview_prefix="rubygems_", min_entropy=2.5,
        revoke="https://rubygems.org/profile/api_keys", family="rubygems",
        description="API keys",
    ),
    # ---------------------------------------------------------------- developer services
    Rule(
        id="UL080", title="Databricks token", confidence=H,
        pattern=_p(r"dapi[a-f0-9]{32}(?:-[0-9])?"),
        keywords=("dapi",), preview_prefix="dapi", min_entropy=2.5,
        revoke="Databricks workspace → Settings → Developer → Access tokens", family="databricks",
        description="Personal access tokens",
    ),
    Rule(
        id="UL081", title="Postman API key", confidence=H,
        pattern=_p(r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
        keywords=("pmak-",), preview_prefix="PMAK-", min_entropy=2.5,
        revoke="https://go.postman.co/settings/me/api-keys", family="postman", description="API keys",
    ),
    Rule(
        id="UL082", title="New Relic key", confidence=H,
        pattern=_p(r"NR(?:AK|II|JS|RA)-[A-Za-z0-9]{27}"),
        keywords=("nrak-", "nrii-", "nrjs-", "nrra-"), preview_prefix="NR**-", min_entropy=3.5,
        revoke="https://one.newrelic.com/api-keys", family="newrelic", description="User, ingest and REST keys",
    ),
    Rule(
        id="UL083", title="Grafana token", confidence=H,
        pattern=_p(r"(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,200}={0,2})"),
        keywords=("glsa_", "glc_"), preview_prefix="gl*_", min_entropy=3.5,
        revoke="Grafana → Administration → Service accounts / Cloud access policies", family="grafana",
        description="Service-account tokens and Grafana Cloud tokens",
    ),
    Rule(
        id="UL084", title="Sentry token", confidence=H,
        pattern=_p(r"(?:sntrys_eyJ[A-Za-z0-9+/=_-]{60,400}|sntryu_[a-f0-9]{64})"),
        keywords=("sntrys_", "sntryu_"), preview_prefix="sntry*_", min_entropy=3.5,
        revoke="https://sentry.io/settings/account/api/auth-tokens/", family="sentry",
        description="Organisation and user auth tokens",
    ),
    Rule(
        id="UL085", title="Doppler token", confidence=H,
        pattern=_p(r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}"),
        keywords=("dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."), preview_prefix="dp.",
        min_entropy=3.5, revoke="https://dashboard.doppler.com/workplace/tokens", family="doppler",
        description="Personal, service, service-account and CLI tokens",
    ),
    Rule(
        id="UL086", title="Pulumi access token", confidence=H,
        pattern=_p(r"pul-[a-f0-9]{40}"),
        keywords=("pul-",), preview_prefix="pul-", min_entropy=2.5,
        revoke="https://app.pulumi.com/account/tokens", family="pulumi", description="Access tokens",
    ),
    Rule(
        id="UL087", title="Linear API key", confidence=H,
        pattern=_p(r"lin_(?:api|oauth)_[A-Za-z0-9]{40}"),
        keywords=("lin_api_", "lin_oauth_"), preview_prefix="lin_api_", min_entropy=3.5,
        revoke="https://linear.app/settings/account/security", family="linear", description="API keys",
    ),
    Rule(
        id="UL088", title="1Password service account token", confidence=H,
        pattern=_p(r"ops_eyJ[A-Za-z0-9+/=_-]{100,1200}"),
        keywords=("ops_eyj",), preview_prefix="ops_", min_entropy=3.5,
        revoke="https://my.1password.com/developer-tools/infrastructure-secrets/serviceaccount", family="1password",
        description="Service account tokens",
    ),
    Rule(
        id="UL089", title="age secret key", confidence=H,
        pattern=r"(?P<secret>AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})" + _END,
        keywords=("age-secret-key-1",), preview_prefix="AGE-SECRET-KEY-1", min_entropy=3.5,
        revoke="generate a new age identity and re-encrypt", family="age", description="age identities",
    ),
    Rule(
        id="UL091", title="Atlassian API token", confidence=H,
        pattern=_p(r"ATATT3[A-Za-z0-9_=-]{180,200}"),
        keywords=("atatt3",), preview_prefix="ATATT3", min_entropy=3.5,
        revoke="https://id.atlassian.com/manage-profile/security/api-tokens", family="atlassian",
        description="Atlassian cloud API tokens",
    ),
    Rule(
        id="UL092", title="HashiCorp Vault / Terraform Cloud token", confidence=H,
        pattern=_p(r"(?:hvs\.[A-Za-z0-9_-]{90,120}|hvb\.[A-Za-z0-9_-]{90,250}|[A-Za-z0-9]{14}\.atlasv1\."
                   r"[A-Za-z0-9_-]{60,70})"),
        keywords=("hvs.", "hvb.", ".atlasv1."), min_entropy=3.5,
        revoke="vault token revoke / https://app.terraform.io/app/settings/tokens", family="hashicorp",
        description="Vault service and batch tokens, Terraform Cloud API tokens",
    ),
    Rule(
        id="UL093", title="Mapbox secret token", confidence=H,
        pattern=_p(r"sk\.eyJ[A-Za-z0-9_-]{50,120}\.[A-Za-z0-9_-]{20,30}"),
        keywords=("sk.eyj",), preview_prefix="sk.", min_entropy=3.5,
        revoke="https://account.mapbox.com/access-tokens/", family="mapbox",
        description="Mapbox secret access tokens",
    ),
    Rule(
        id="UL094", title="NATS NKey seed", confidence=M,
        # S, then the key type (operator, account, user, server, cluster, curve), then 56 base32 characters. No
        # keyword: the third character is random, so any literal of three would be most of the alphabet; the
        # pattern starts with the literal S, which keeps the whole-text search fast.
        pattern=_p(r"S[OAUNCX][A-Z2-7]{56}"),
        preview_prefix="S", min_entropy=3.5,
        revoke="generate a new NKey (nsc or nk -gen) and replace the public key in the server or account config",
        family="nats", provider="NATS", category="messaging", doc="https://docs.nats.io/running-a-nats-service/"
        "configuration/securing_nats/auth_intro/nkey_auth",
        description="Private NKey seeds (SU…, SA…, SO…) of NATS users, accounts and operators",
    ),
    # ---------------------------------------------------------------- generic token formats
    Rule(
        id="UL090", title="JSON Web Token", confidence=M,
        pattern=_p(r"eyJ[A-Za-z0-9_-]{10,2000}\.eyJ[A-Za-z0-9_-]{10,4000}\.[A-Za-z0-9_-]{16,1000}"),
        keywords=("eyj",), preview_prefix="eyJ", min_entropy=3.5,
        revoke="rotate the signing key of the issuer (a JWT cannot be revoked alone)", family="jwt",
        description="Signed JWTs (header.payload.signature)",
    ),
)

register(*(dataclasses.replace(r, env_name=_ENV.get(r.id, "")) for r in _RULES))
