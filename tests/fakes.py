"""Generators of clearly fake secrets in real formats. Values are random at test time, so no literal secret lives
in the repository; names say *fake* so nobody mistakes them for credentials."""

from __future__ import annotations

import base64
import secrets
import string
import zlib

ALNUM = string.ascii_letters + string.digits
_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


# Substrings that unleak's placeholder filter treats as "not a real secret"; a random value that happened to
# contain one would make a test flaky, so generators draw again.
_AVOID = ("xxx", "fake", "example", "sample", "dummy", "test", "123456", "qwerty", "todo", "lorem", "redacted",
          "changeme", "placeholder", "***", "abcdef", "hunter2", "letmein", "s3cr3t", "your",
          # a printf conversion (%s, %d, %r) reads as a format string, rightly not a secret: one corpus draw in ~10,000
          "%s", "%d", "%r")


def _rand(alphabet: str, n: int) -> str:
    while True:
        out = "".join(secrets.choice(alphabet) for _ in range(n))
        low = out.lower()
        if not any(a in low for a in _AVOID) and len(set(out)) > min(4, n // 2):
            return out


def _base62(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _B62[r] + out
    return out.rjust(width, "0")


def github_pat(prefix: str = "ghp_") -> str:
    """A GitHub token shape: 30 random base62 characters then a 6-character base62 CRC32 of them."""
    while True:
        body = _rand(ALNUM, 30)
        token = prefix + body + _base62(zlib.crc32(body.encode()) & 0xFFFFFFFF, 6)
        if not any(a in token.lower() for a in _AVOID):
            return token


def aws_access_key_id() -> str:
    # About one draw in 3,000 repeats letters enough to fall under the rule's entropy floor (3.0 bits), as no
    # issued key does: draw again then, or a positive test flakes.
    from scanner.rules._util import shannon_entropy

    while True:
        key = "AKIA" + _rand(string.ascii_uppercase + "234567", 16)
        if shannon_entropy(key) >= 3.3:
            return key


def aws_secret_key() -> str:
    return _rand(ALNUM + "/+", 40)


def stripe_live_key() -> str:
    return "sk_live_" + _rand(ALNUM, 24)


def slack_bot_token() -> str:
    return f"xoxb-{_rand(string.digits, 11)}-{_rand(string.digits, 12)}-{_rand(ALNUM, 24)}"


def password(n: int = 18) -> str:
    """A random password; it starts with a letter or digit so YAML, INI and shell read it as a plain value. Never
    with "...": documentation elides a value so (`sk-...abc`), and the placeholder filter rightly drops one (about
    one draw in 25,000 held it)."""
    while "..." in (pw := _rand(ALNUM, 1) + _rand(ALNUM + "!#%&*+-.", n - 1)):
        pass
    return pw


def url_password(n: int = 18) -> str:
    """A password made of characters that need no escaping in a URL (never with "...", as :func:`password`)."""
    while "..." in (pw := _rand(ALNUM + "-._~", n)):
        pass
    return pw


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


HEX = "0123456789abcdef"
B64 = ALNUM + "+/"


def entropy_blob(n: int = 40) -> str:
    """A base64-alphabet string that detect-secrets' base64 plugin reports (entropy above its 4.5, kept above 4.7:
    about 2 % of plain draws fall under) and that reads as no path or slug (no ``/``: a draw starting with one, or
    holding two, is dropped as a path about once in a hundred)."""
    from scanner.rules._util import shannon_entropy

    while True:
        blob = _rand(ALNUM + "+", n)
        if shannon_entropy(blob) >= 4.7:
            return blob
URLSAFE = ALNUM + "_-"


def github_fine_grained() -> str:
    return f"github_pat_{_rand(ALNUM, 22)}_{_rand(ALNUM, 59)}"


def github_bad_checksum() -> str:
    """A GitHub-shaped token whose CRC32 does not match (a hard negative)."""
    good = github_pat()
    last = good[-1]
    return good[:-1] + ("A" if last != "A" else "B")


def gitlab_pat() -> str:
    return "glpat-" + _rand(URLSAFE, 20)


def stripe_test_key() -> str:
    return "sk_test_" + _rand(ALNUM, 24)


def stripe_restricted_key() -> str:
    return "rk_live_" + _rand(ALNUM, 24)


def stripe_webhook_secret() -> str:
    return "whsec_" + _rand(ALNUM, 32)


def square_token() -> str:
    return "EAAA" + _rand(URLSAFE, 60)


def square_oauth_secret() -> str:
    return "sq0csp-" + _rand(URLSAFE, 43)


def shopify_token() -> str:
    return "shpat_" + _rand(HEX, 32)


def slack_user_token() -> str:
    return f"xoxp-{_rand(string.digits, 11)}-{_rand(string.digits, 11)}-{_rand(string.digits, 12)}-{_rand(HEX, 32)}"


def slack_app_token() -> str:
    return f"xapp-1-A{_rand(string.ascii_uppercase + string.digits, 10)}-{_rand(string.digits, 13)}-{_rand(HEX, 64)}"


def slack_webhook() -> str:
    up = string.ascii_uppercase + string.digits
    return f"https://hooks.slack.com/services/T{_rand(up, 8)}/B{_rand(up, 10)}/{_rand(ALNUM, 24)}"


def discord_bot_token() -> str:
    return f"M{_rand(URLSAFE, 25)}.{_rand(URLSAFE, 6)}.{_rand(URLSAFE, 38)}"


def discord_webhook() -> str:
    return f"https://discord.com/api/webhooks/{_rand(string.digits, 18)}/{_rand(URLSAFE, 68)}"


def telegram_bot_token() -> str:
    return f"{_rand(string.digits, 10)}:AA{_rand(URLSAFE, 33)}"


def openai_key() -> str:
    return f"sk-proj-{_rand(URLSAFE, 74)}T3BlbkFJ{_rand(URLSAFE, 74)}"


def anthropic_key() -> str:
    return f"sk-ant-api03-{_rand(URLSAFE, 93)}AA"


def huggingface_token() -> str:
    return "hf_" + _rand(string.ascii_letters, 34)


def groq_key() -> str:
    return "gsk_" + _rand(ALNUM, 52)


def google_api_key() -> str:
    return "AIza" + _rand(URLSAFE, 35)


def google_oauth_secret() -> str:
    return "GOCSPX-" + _rand(URLSAFE, 28)


def azure_storage_key() -> str:
    return _rand(B64, 86) + "=="


def azure_sas_signature() -> str:
    return _rand(ALNUM, 43) + "%3D"


def azure_client_secret() -> str:
    return _rand(ALNUM, 3) + "8Q~" + _rand(ALNUM + "_-", 34)


def digitalocean_token() -> str:
    return "dop_v1_" + _rand(HEX, 64)


def heroku_key() -> str:
    return "HRKU-AA" + _rand(URLSAFE, 58)


def uuid4() -> str:
    import uuid

    return str(uuid.uuid4())


def twilio_api_key() -> str:
    return "SK" + _rand(HEX, 32)


def hex32() -> str:
    return _rand(HEX, 32)


def sendgrid_key() -> str:
    return f"SG.{_rand(URLSAFE, 22)}.{_rand(URLSAFE, 43)}"


def mailchimp_key() -> str:
    return f"{_rand(HEX, 32)}-us{secrets.randbelow(20) + 1}"


def mailgun_key() -> str:
    return "key-" + _rand(HEX, 32)


def npm_token() -> str:
    return "npm_" + _rand(ALNUM, 36)


def pypi_token() -> str:
    return "pypi-AgEIcHlwaS5vcmc" + _rand(URLSAFE, 70)


def dockerhub_pat() -> str:
    return "dckr_pat_" + _rand(URLSAFE, 27)


def rubygems_key() -> str:
    return "rubygems_" + _rand(HEX, 48)


def databricks_token() -> str:
    return "dapi" + _rand(HEX, 32)


def postman_key() -> str:
    return f"PMAK-{_rand(HEX, 24)}-{_rand(HEX, 34)}"


def newrelic_key() -> str:
    return "NRAK-" + _rand(string.ascii_uppercase + string.digits, 27)


def grafana_token() -> str:
    return f"glsa_{_rand(ALNUM, 32)}_{_rand(HEX, 8)}"


def sentry_token() -> str:
    return "sntryu_" + _rand(HEX, 64)


def doppler_token() -> str:
    return "dp.pt." + _rand(ALNUM, 43)


def pulumi_token() -> str:
    return "pul-" + _rand(HEX, 40)


def linear_key() -> str:
    return "lin_api_" + _rand(ALNUM, 40)


def onepassword_sa_token() -> str:
    return "ops_eyJ" + _rand(ALNUM, 300)


def age_secret_key() -> str:
    return "AGE-SECRET-KEY-1" + _rand("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)


def bcrypt_hash() -> str:
    """The shape of a bcrypt hash ($2y$, cost, 53 characters of bcrypt's base64); not a hash of anything."""
    return "$2y$12$" + _rand(string.ascii_letters + string.digits + "./", 53)


def generated_key() -> str:
    """A generated-looking key: letters and digits alternating (a draw of ALNUM can come out all letters), every
    character distinct, so that no draw falls under an entropy floor (one in ~200 independent draws did)."""
    rnd = secrets.SystemRandom()
    letters, digits = rnd.sample("abcdefghjkmnpqrstuvwxyz", 16), rnd.sample("23456789", 8)
    return "".join(letters[2 * i] + letters[2 * i + 1] + digits[i] for i in range(8))


def passphrase(words: int = 3) -> str:
    """A passphrase of made-up pronounceable words joined by spaces (``gavo rekizu bafe``). The consonants are
    chosen so that no word is one of those that make a phrase a label or a message (``none``, ``same``, ``todo``,
    ``parola``)."""
    rnd = secrets.SystemRandom()
    return " ".join("".join(rnd.choice("bfgkrvz") + rnd.choice("aeiou") for _ in range(rnd.randint(2, 3)))
                    for _ in range(words))


def short_password(n: int = 5) -> str:
    """A short password of distinct characters (a value of three kinds of character or fewer reads as a filler)."""
    chars = secrets.SystemRandom().sample(string.ascii_lowercase + string.digits, n)
    return "".join(c.upper() if c.isalpha() and secrets.randbelow(2) else c for c in chars)


def nats_seed(kind: str = "U") -> str:
    """A NATS NKey seed of the given type (S + type + 56 base32 characters; the CRC16 is not computed)."""
    return "S" + kind + _rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 56)


def atlassian_token() -> str:
    return "ATATT3" + _rand(URLSAFE, 186)


def vault_token() -> str:
    return "hvs." + _rand(URLSAFE, 95)


def mapbox_secret() -> str:
    return f"sk.eyJ{_rand(URLSAFE, 60)}.{_rand(URLSAFE, 22)}"


def jwt() -> str:
    import json

    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    header = part({"alg": "HS256", "typ": "JWT"})
    payload = part({"sub": _rand(string.digits, 8), "name": _rand(string.ascii_lowercase, 8)})
    return f"{header}.{payload}.{_rand(URLSAFE, 43)}"


def private_key_pem(kind: str = "RSA ") -> str:
    """A PEM block of random base64 (not a usable key, same shape)."""
    body = "\n".join(_rand(B64, 64) for _ in range(12))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


def putty_key() -> str:
    pub = "\n".join(_rand(B64, 64) for _ in range(2))
    priv = "\n".join(_rand(B64, 64) for _ in range(3))
    return ("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: unleak-generated\n"
            f"Public-Lines: 2\n{pub}\nPrivate-Lines: 3\n{priv}\nPrivate-MAC: {_rand(HEX, 64)}\n")


def apr1_hash() -> str:
    return f"$apr1${_rand(ALNUM, 8)}${_rand(ALNUM + './', 22)}"


def sha512_crypt() -> str:
    return f"$6${_rand(ALNUM, 16)}${_rand(ALNUM + './', 86)}"


def django_secret_key() -> str:
    return _rand(string.ascii_lowercase + string.digits + "!@#%^&*(-_=+)", 50)


# ------------------------------------------------------------------------------------------------ the corpus
# A generated corpus of files in many formats. Each line is plain text or (text, rule id) when unleak must report a
# finding of that rule on that line. The functional test asserts the exact set of (path, line, rule) found;
# bench/accuracy.py plants the same files in a git history and compares tools per format.


class Case:
    """One corpus file: its path, a format label (for per-format tables) and lines with expected rule ids."""

    def __init__(self, path: str, fmt: str, *lines: str | tuple[str, str]) -> None:
        self.path = path
        self.format = fmt
        self.lines: list[str] = []
        self.expected: list[tuple[int, str]] = []  # (1-based line, rule id)
        for item in lines:
            text, rule = (item, None) if isinstance(item, str) else item
            first = len(self.lines) + 1
            self.lines.extend(text.split("\n"))
            if rule:
                self.expected.append((first, rule))

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _ppk_case() -> Case:
    head, tail = putty_key().split("Private-Lines: 3\n", 1)
    return Case("keys/putty.ppk", "private-key", *head.rstrip("\n").split("\n"), "Private-Lines: 3",
                (tail.rstrip("\n"), "UL101"))


def corpus() -> list[Case]:
    """Positive cases for every rule and format, plus hard negatives (decoys) that must stay silent."""
    gh, aws_id, aws_sk = github_pat(), aws_access_key_id(), aws_secret_key()
    pw = password
    hexsha = _rand(HEX, 40)
    cases = [
        # ---------------------------------------------------------------- provider tokens in code and config
        Case("src/github_client.py", "github",
             "import requests", "",
             (f'GITHUB_TOKEN = "{gh}"', "UL001"),
             (f"session.headers['Authorization'] = 'token {github_pat('gho_')}'", "UL001"),
             (f'FINE_GRAINED = "{github_fine_grained()}"', "UL002")),
        Case("ci/gitlab.yml", "gitlab", "variables:", (f"  GL_TOKEN: {gitlab_pat()}", "UL005")),
        Case("deploy/aws.env", "aws", (f"AWS_ACCESS_KEY_ID={aws_id}", "UL010"),
             (f"AWS_SECRET_ACCESS_KEY={aws_sk}", "UL011")),
        Case("scripts/upload.py", "aws", "import boto3",
             (f's3 = boto3.client("s3", aws_access_key_id="{aws_access_key_id()}",', "UL010"),
             (f'                  region_name="eu-west-1", key="{aws_secret_key()}")', "UL012")),
        Case("billing/stripe.js", "stripe", "const Stripe = require('stripe');",
             (f"const stripe = Stripe('{stripe_live_key()}');", "UL020"),
             (f"const restricted = '{stripe_restricted_key()}';", "UL020"),
             (f"const webhookSecret = '{stripe_webhook_secret()}';", "UL022"),
             (f"const testKey = '{stripe_test_key()}';", "UL021")),
        Case("shop/square.rb", "square", (f"SQUARE_TOKEN = '{square_token()}'", "UL025"),
             (f"SQUARE_OAUTH = '{square_oauth_secret()}'", "UL026"),
             (f"SHOPIFY = '{shopify_token()}'", "UL027")),
        Case("bots/slack.ts", "slack", (f'const bot = "{slack_bot_token()}";', "UL030"),
             (f'const user = "{slack_user_token()}";', "UL030"),
             (f'const app = "{slack_app_token()}";', "UL031"),
             (f'const hook = "{slack_webhook()}";', "UL032")),
        Case("bots/discord_bot.py", "discord", (f'DISCORD_BOT_TOKEN = "{discord_bot_token()}"', "UL035"),
             (f'WEBHOOK = "{discord_webhook()}"', "UL036")),
        Case("bots/telegram.go", "telegram", "package main", "",
             (f'const botToken = "{telegram_bot_token()}"', "UL037")),
        Case("ai/clients.py", "ai", (f'OPENAI_API_KEY = "{openai_key()}"', "UL040"),
             (f'client = Anthropic(api_key="{anthropic_key()}")', "UL041"),
             (f'HF = "{huggingface_token()}"', "UL042"),
             (f'GROQ = "{groq_key()}"', "UL043")),
        Case("web/firebase.js", "google", (f'  apiKey: "{google_api_key()}",', "UL050"),
             (f'  clientSecret: "{google_oauth_secret()}",', "UL052"),
             (f'  refreshToken: "1//0{_rand(URLSAFE, 60)}",', "UL053")),
        Case("infra/azure.json", "azure", "{",
             (f'  "storage": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={azure_storage_key()};'
              f'EndpointSuffix=core.windows.net",', "UL055"),
             (f'  "sas": "https://acct.blob.core.windows.net/c?sv=2022-11-02&ss=b&srt=co&sp=r&se=2030-01-01'
              f'&spr=https&sig={azure_sas_signature()}",', "UL056"),
             (f'  "clientSecret": "{azure_client_secret()}"', "UL057"), "}"),
        Case("infra/cloud.tf", "cloud", 'provider "digitalocean" {',
             (f'  token = "{digitalocean_token()}"', "UL058"), "}",
             (f'heroku_api_key = "{heroku_key()}"', "UL059"),
             (f'HEROKU_API_KEY = "{uuid4()}"', "UL060")),
        Case("notify/settings.ini", "messaging", "[twilio]",
             (f"twilio_api_key = {twilio_api_key()}", "UL061"),
             (f"twilio_auth_token = {hex32()}", "UL062"),
             "[mail]", (f"sendgrid = {sendgrid_key()}", "UL063"),
             (f"mailchimp = {mailchimp_key()}", "UL064"),
             (f"mailgun = {mailgun_key()}", "UL065")),
        Case("tools/registries.yaml", "registries",
             (f"npm: {npm_token()}", "UL070"), (f"pypi: {pypi_token()}", "UL071"),
             (f"docker: {dockerhub_pat()}", "UL072"), (f"gems: {rubygems_key()}", "UL073")),
        Case("tools/services.toml", "devtools",
             (f'databricks = "{databricks_token()}"', "UL080"), (f'postman = "{postman_key()}"', "UL081"),
             (f'newrelic = "{newrelic_key()}"', "UL082"), (f'grafana = "{grafana_token()}"', "UL083"),
             (f'sentry = "{sentry_token()}"', "UL084"), (f'doppler = "{doppler_token()}"', "UL085"),
             (f'pulumi = "{pulumi_token()}"', "UL086"), (f'linear = "{linear_key()}"', "UL087"),
             (f'op = "{onepassword_sa_token()}"', "UL088"), (f'age = "{age_secret_key()}"', "UL089"),
             (f'jira = "{atlassian_token()}"', "UL091"), (f'vault = "{vault_token()}"', "UL092"),
             (f'mapbox = "{mapbox_secret()}"', "UL093")),
        Case("nats/user.creds", "nats", "-----BEGIN USER NKEY SEED-----", (nats_seed(), "UL094"),
             "------END USER NKEY SEED------"),
        Case("web/session.js", "jwt", (f"const session = '{jwt()}';", "UL090")),
        # ---------------------------------------------------------------- private keys
        Case("keys/deploy_rsa", "private-key", (private_key_pem("RSA "), "UL100")),
        Case("keys/id_ed25519", "private-key", (private_key_pem("OPENSSH "), "UL100")),
        Case("keys/server.key", "private-key", (private_key_pem("EC "), "UL100")),
        Case("keys/gpg.asc", "private-key",
             (private_key_pem("PGP ").replace("PRIVATE KEY-----", "PRIVATE KEY BLOCK-----"), "UL100")),
        _ppk_case(),
        Case("gcp/service-account.json", "google", "{", '  "type": "service_account",',
             '  "project_id": "demo-project",',
             ('  "private_key": "' + private_key_pem("").replace("\n", "\\n") + '\\n",', "UL100"),
             '  "client_email": "svc@demo-project.iam.gserviceaccount.com"', "}"),
        # ---------------------------------------------------------------- credential files
        Case(".netrc", "netrc", "machine api.example.org", "  login deploy", (f"  password {pw()}", "UL200")),
        Case("docker/Dockerfile", "netrc",
             (f'RUN echo "machine git.internal login ci password {pw()}" > /root/.netrc', "UL200")),
        Case(".pgpass", "pgpass", (f"db.internal:5432:app:app_user:{pw()}", "UL201")),
        Case(".git-credentials", "git-credentials", (f"https://deploy:{pw()}@git.internal.org", "UL202")),
        Case(".docker/config.json", "docker-config", "{", '  "auths": {', '    "registry.internal.org": {',
             (f'      "auth": "{b64("ci:" + pw())}"', "UL203"), "    }", "  }", "}"),
        Case(".npmrc", "npmrc", "registry=https://registry.npmjs.org/",
             (f"//registry.npmjs.org/:_authToken={_rand(HEX, 8)}-{_rand(HEX, 4)}-{_rand(HEX, 4)}-{_rand(HEX, 12)}",
              "UL204")),
        Case(".yarnrc.yml", "npmrc", "npmRegistryServer: https://npm.internal.org",
             (f'npmAuthToken: "{_rand(ALNUM, 40)}"', "UL204")),
        Case(".pypirc", "pypirc", "[distutils]", "index-servers = internal", "[internal]",
             "repository = https://pypi.internal.org", "username = uploader", (f"password = {pw()}", "UL205")),
        Case(".aws/credentials", "aws", "[default]", (f"aws_access_key_id = {aws_access_key_id()}", "UL010"),
             (f"aws_secret_access_key = {aws_secret_key()}", "UL011"),
             (f"aws_session_token = {_rand(B64, 300)}", "UL013")),
        Case(".s3cfg", "s3cfg", "[default]", "access_key = storage-user",
             (f"secret_key = {_rand(ALNUM, 40)}", "UL207")),
        Case(".kube/config", "kubeconfig", "apiVersion: v1", "kind: Config", "users:", "- name: admin", "  user:",
             (f"    client-key-data: {b64(private_key_pem('RSA '))}", "UL208"),
             "- name: robot", "  user:", (f"    token: {_rand(URLSAFE, 48)}", "UL208")),
        Case("web/.htpasswd", "htpasswd", (f"admin:{apr1_hash()}", "UL209"), (f"ops:{sha512_crypt()}", "UL209")),
        Case("k8s/db-secret.yaml", "k8s-secret", "apiVersion: v1", "kind: Secret", "metadata:", "  name: db",
             "type: Opaque", "data:", (f"  password: {b64(pw())}", "UL210"), "  username: " + b64("app"),
             "stringData:", (f"  api-token: {_rand(ALNUM, 32)}", "UL210")),
        Case("config/database.yml", "connection-url", "production:",
             (f"  url: postgres://app:{pw()}@db.internal:5432/app", "UL220"),
             (f"  mongo: mongodb+srv://svc:{pw()}@cluster0.abcde.mongodb.net/db", "UL220"),
             (f"  redis: redis://:{pw()}@cache.internal:6379/0", "UL220"),
             (f"  amqp: amqp://queue:{pw()}@mq.internal:5672/vhost", "UL220"),
             (f"  mysql: mysql://root:{pw()}@mysql.internal/app", "UL220")),
        Case("App.config", "connection-string", "<configuration>", "  <connectionStrings>",
             (f'    <add name="db" connectionString="Server=sql.internal;Database=app;User Id=app;'
              f'Password={pw()};" />', "UL221"), "  </connectionStrings>", "</configuration>"),
        Case("src/main/resources/jdbc.properties", "jdbc",
             (f"db.url=jdbc:sqlserver://sql.internal:1433;databaseName=app;user=app;password={url_password()}",
              "UL222"),
             (f"report.url=jdbc:postgresql://pg.internal/app?user=reporter&password={url_password()}", "UL222")),
        Case("wp-config.php", "wp-config", "<?php", "define( 'DB_NAME', 'wordpress' );",
             (f"define( 'DB_PASSWORD', '{pw()}' );", "UL230"),
             (f"define( 'AUTH_KEY', '{_rand(ALNUM + '!@#%^&*()-_', 64)}' );", "UL230")),
        Case("mysite/settings.py", "django", "DEBUG = False", (f"SECRET_KEY = '{django_secret_key()}'", "UL231")),
        Case("app/__init__.py", "flask", "app = Flask(__name__)",
             (f"app.config['SECRET_KEY'] = '{_rand(ALNUM, 40)}'", "UL231")),
        Case("config/secrets.yml", "rails", "production:", (f"  secret_key_base: {_rand(HEX, 128)}", "UL231")),
        Case("config/master.key", "rails", (_rand(HEX, 32), "UL232")),
        Case("terraform/prod.tfvars", "terraform", 'region = "eu-west-1"', (f'db_password = "{pw()}"', "UL900")),
        Case("filezilla/recentservers.xml", "filezilla", "<RecentServers><Server>", "<User>root</User>",
             (f'<Pass encoding="base64">{b64(pw())}</Pass>', "UL211"), "</Server></RecentServers>"),
        Case("firefox/logins.json", "firefox", '{"logins": [{"hostname": "https://example.org",',
             (f'"encryptedPassword": "{_rand(B64, 88)}",', "UL212"), '"timesUsed": 1}]}'),
        Case("home/.msmtprc", "msmtp", "account default", "host smtp.internal.org", "user app@internal.org",
             (f'password "{pw()}"', "UL214"), "auth on"),
        Case("dbeaver/dbeaver-data-sources.xml", "dbeaver", '<?xml version="1.0" encoding="UTF-8"?>', "<data-sources>",
             '<data-source id="postgres-1" provider="postgresql" save-password="true">',
             (f'<connection host="db.internal" port="5432" user="app" password="{pw()}"/>', "UL215"),
             "</data-source>", "</data-sources>"),
        Case("db/dump.sql", "sql", "INSERT INTO `users` (`id`, `name`, `password`) VALUES",
             (f"(1, 'ann', '{bcrypt_hash()}'),", "UL213"), (f"(2, 'bob', '{bcrypt_hash()}');", "UL213")),
        Case("web/db.js", "js", "const db = connect({", "  user: 'app',", (f"  pass: '{short_password()}',", "UL903"),
             "  port: 5432,", "});"),
        Case("src/mail.py", "python", "import smtplib", 'LABEL = "Enter your password"',
             'mail = Mailbox(user="ops", password_hint="Use at least twelve characters.")',
             (f'mail = Mailbox(user="ops", password="{passphrase(4)}")', "UL907")),
        Case("logs/worker.log", "log", "[INFO] starting worker", "[DEBUG] cache key=user_profile_settings",
             (f"[DEBUG] Using Key={generated_key()}", "UL904"), "[INFO] done"),
        Case("config/services.yml", "yaml", "weather:", "  cache_key: user_profile_settings_cache",
             (f"  weather_key: {generated_key()}", "UL905"), "  timeout: 30"),
        Case("client/billing.go", "go", "func (c *Client) do(req *http.Request) (*http.Response, error) {",
             '\treq.Header.Set("X-CSRF-Token", c.csrf)', (f'\treq.Header.Set("X-Billing-Api-Key", "{generated_key()}")',
                                                        "UL906"),
             "\treturn c.http.Do(req)", "}"),
        Case("terraform/terraform.tfstate", "terraform", "{", '  "version": 4,', '  "resources": [{',
             '    "instances": [{"attributes": {', '      "username": "admin",',
             (f'      "password": "{pw()}",', "UL240"), '      "id": "db-1"', "    }}]", "  }]", "}"),
        Case("notebooks/explore.ipynb", "notebook", "{", ' "cells": [', "  {", '   "cell_type": "code",',
             '   "source": [',
             (f'    "api_key = \\"{_rand(ALNUM, 32)}\\"\\n",', "UL900"),
             '    "client.connect(api_key)"', "   ],", '   "outputs": [', '    {"name": "stdout", "text": [',
             (f'     "token: {github_pat()}\\n"', "UL001"), "    ]}", "   ]", "  }", " ]", "}"),
        Case("conf/server.xml", "xml", "<server>", (f"  <password>{pw()}</password>", "UL250"),
             (f'  <add key="SmtpPassword" value="{pw()}" />', "UL250"),
             (f'  <datasource user="app" password="{pw()}" />', "UL900"), "</server>"),
        Case("src/http_clients.py", "code-call", "import requests",
             (f'r = requests.get(URL, auth=("svc", "{url_password()}"))', "UL224"),
             (f'smtp.login("alerts@example.org", "{url_password()}")', "UL224"),
             (f'HEADERS = {{"Authorization": "Bearer {_rand(ALNUM, 40)}"}}', "UL225")),
        Case("src/Db.java", "code-call", (f'ds.setPassword("{url_password()}");', "UL224")),
        Case("spec/cassettes/login.yml", "code-call", "- request:", "    headers:", "      Authorization:",
             (f"      - Bearer {_rand(ALNUM, 40)}", "UL227"), "      - Basic login_and_password_removed"),
        Case("postman/collection.json", "code-call", '{"header": [', '  {"key": "Authorization",',
             (f'   "value": "Bearer {_rand(ALNUM, 48)}"}}', "UL228"), "]}"),
        Case("cmd/db/open.go", "connection-string", "package db",
             (f'db, _ := sql.Open("postgres", "host=db user=app password={url_password()} dbname=app")', "UL226")),
        # ---------------------------------------------------------------- assignments in every language
        Case(".env", "env", "PORT=8080", (f"DB_PASSWORD={pw()}", "UL900"),
             (f"export API_TOKEN={_rand(ALNUM, 32)}", "UL900"), (f'SESSION_SECRET="{_rand(ALNUM, 24)}"', "UL900")),
        Case("config/app.yaml", "yaml", "app:", (f"  admin_password: {pw()}", "UL900"),
             (f'  signing_key: "{_rand(ALNUM, 32)}"', "UL900")),
        Case("config/app.json", "json", "{", (f'  "clientSecret": "{_rand(ALNUM, 32)}",', "UL900"),
             (f'  "dbPassword": "{pw()}"', "UL900"), "}"),
        Case("config/app.toml", "toml", "[db]", (f'password = "{pw()}"', "UL900")),
        Case("config/app.ini", "ini", "[smtp]", (f"smtp_pass = {pw()}", "UL900")),
        Case("config/app.properties", "properties", (f"spring.datasource.password={pw()}", "UL900")),
        Case("src/settings.py", "python", (f'DB_PASSWORD = "{pw()}"', "UL900"),
             (f'conn = connect(password="{pw()}")', "UL900")),
        Case("src/fallbacks.py", "python", "import os",
             (f"SECRET_KEY = os.environ.get('SECRET_KEY') or '{_rand(ALNUM, 40)}'", "UL901"),
             (f'HMAC_KEY = b"{_rand(ALNUM, 32)}"', "UL902"),
             (f'CACHE = f"redis://:{url_password()}@{{host}}:6379/0"', "UL220")),
        Case("src/config.ts", "js", (f'export const apiKey = "{_rand(ALNUM, 32)}";', "UL900"),
             (f"const opts = {{ password: '{pw()}' }};", "UL900")),
        Case("lib/client.rb", "ruby", (f"client = Client.new(secret: '{pw()}')", "UL900")),
        Case("src/db.php", "php", (f"$password = '{pw()}';", "UL900"), (f"$cfg = ['api_key' => '{_rand(ALNUM, 32)}'];",
                                                                        "UL900")),
        Case("cmd/server/main.go", "go", "package main", (f'    dbPassword := "{pw()}"', "UL900")),
        Case("src/main/java/App.java", "java", (f'    private static final String PASSWORD = "{pw()}";', "UL900")),
        Case("scripts/deploy.sh", "shell", "#!/bin/sh", (f"export DEPLOY_TOKEN={_rand(ALNUM, 32)}", "UL900"),
             (f"curl -u admin:{pw()} https://ci.internal.org/api", "UL223"),
             (f'mysql --password="{pw()}" app', "UL223")),
        # ---------------------------------------------------------------- hard negatives (decoys)
        Case("docs/aws.md", "decoy", "Example credentials from the AWS documentation:",
             "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
             "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        Case("src/auth.py", "decoy", "import os", "from typing import Optional", "",
             'DB_PASSWORD = os.environ["DB_PASSWORD"]', 'API_TOKEN = os.getenv("API_TOKEN")',
             "def login(user: str, password: str, token: Optional[str] = None) -> bool:",
             "    secret = get_secret(user)", "    password_hash = hash_password(password)",
             "    return check(password=password, secret=self.secret)",
             'PASSWORD_PROMPT = "Enter your password"', 'RESET_ROUTE = "/auth/forgot-password"',
             'TOKEN_URL = "https://oauth2.googleapis.com/token"', 'SECRET_FILE = "/run/secrets/db_password"',
             "token_ttl = 3600", "api_key_version = '2.1.0'"),
        Case("config/templates.yaml", "decoy", "db:", "  password: ${DB_PASSWORD}",
             '  api_key: "{{ vault_api_key }}"', "  token: <your-token-here>", "  secret: changeme",
             "  admin_password: xxxxxxxxxxxx", '  client_secret: "********"', "  refresh_token: your_token_here",
             "  stripe_key: op://dev/stripe/credential", "  github_token: unleak://shop/GITHUB_TOKEN",
             "  auth_token: !vault |", "  redis_password: '%(redis_password)s'"),
        Case("package-lock.json", "decoy", "{", '  "packages": {', '    "node_modules/left-pad": {',
             f'      "integrity": "sha512-{_rand(B64, 86)}=="', "    }", "  }", "}"),
        Case("deploy/versions.yaml", "decoy", f"commit: {hexsha}", f"deploy_token_id: {uuid4()}",
             f'sha256: "{_rand(HEX, 64)}"', f"checksum_token: {_rand(HEX, 64)}",
             f'request_id = "{uuid4()}"'),
        Case("keys/id_rsa.pub", "decoy", f"ssh-rsa AAAAB3NzaC1yc2E{_rand(B64, 300)} deploy@ci"),
        Case("certs/ca.pem", "decoy", "-----BEGIN CERTIFICATE-----",
             *[_rand(B64, 64) for _ in range(8)], "-----END CERTIFICATE-----"),
        Case("web/index.html", "decoy",
             f'<img src="data:image/png;base64,{_rand(B64, 120)}">',
             '<input type="password" name="password" placeholder="Password">',
             '<label for="password">Password</label>'),
        Case("web/stripe-checkout.js", "decoy", f"const publishableKey = 'pk_live_{_rand(ALNUM, 24)}';",
             f"const badToken = '{github_bad_checksum()}';"),
        # A public demo credential is reported, rated as such (low, label demo-credential), not dropped.
        Case("config/local.env", "demo", ("DATABASE_URL=postgres://postgres:postgres@localhost:5432/app", "UL220"),
             "DOCS_URL=postgres://user:password@host:5432/db", "CACHE_URL=redis://localhost:6379/0"),
        Case("src/service.java", "decoy", 'String password = request.getParameter("password");',
             "this.password = password;", 'char[] secret = System.getenv("SECRET").toCharArray();'),
        Case("src/model.go", "decoy", "type Login struct {", '    Password string `json:"password"`',
             '    Token    string `json:"token,omitempty"`', "}"),
        Case("src/model.ts", "decoy", "interface Creds {", "  password?: string;", "  apiKey: string | null;", "}",
             "const token = await getToken();"),
        Case("k8s/configmap.yaml", "decoy", "apiVersion: v1", "kind: ConfigMap", "data:",
             "  log_level: info", "  token_endpoint: https://auth.internal/token"),
        Case("locales/en.json", "decoy", "{", '  "password_label": "Password",',
             '  "forgot_password": "Forgot your password?",', '  "token_expired": "auth.token.expired"', "}"),
        Case(".secrets.baseline", "decoy", '{"results": {"a.py": [{"hashed_secret": "' + _rand(HEX, 40) + '"}]}}'),
        Case("src/http_decoys.py", "decoy", 'r = requests.get(URL, auth=("svc", os.environ["PW"]))',
             'HEADERS = {"Authorization": f"Bearer {token}"}', 'ds.setPassword(System.getenv("DB_PASSWORD"));',
             'dsn = f"host={host} user={user} password={password}"'),
        Case("src/alphabet.py", "decoy", 'ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"',
             'TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"'),
    ]
    cases += provider_cases()
    return cases


# ---------------------------------------------------------------------------------------------- provider shapes
def _alphabet(name: str) -> str:
    """The characters of a shape alphabet (scanner/rules/_provider.py writes them as regex class ranges)."""
    from scanner.rules._provider import ALPHABETS

    spec, out, i = ALPHABETS[name], "", 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out += "".join(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out += spec[i]
            i += 1
    return out


def from_shape(shape: str, shorten_last: bool = False) -> str:
    """A fake value of a documented token shape: literals kept, each run random at its shortest-to-longest length.
    ``shorten_last``: the last run one character shorter than the shape allows (a near miss)."""
    from scanner.rules._provider import parse_shape

    parts = parse_shape(shape)
    last = max(i for i, p in enumerate(parts) if not isinstance(p, str))
    out = ""
    for i, part in enumerate(parts):
        if isinstance(part, str):
            out += part
            continue
        alph, lo, hi = part
        n = secrets.choice(range(lo, hi + 1)) if hi > lo else lo
        if shorten_last and i == last:
            n = lo - 1
        # Long enough runs draw from the whole alphabet; a one- or two-character run may repeat.
        out += _rand(_alphabet(alph), n) if n >= 4 else "".join(secrets.choice(_alphabet(alph)) for _ in range(n))
    return out


def provider_name(rule_anchors: tuple[str, ...]) -> str:
    """A variable name that a context-anchored rule accepts: the service name, then a secret word."""
    return rule_anchors[0].strip("_.-").upper().replace("-", "_").replace(".", "_") + "_API_KEY"


def provider_cases() -> list[Case]:
    """One file per provider category, one line per rule and token shape, in .env syntax."""
    from scanner.rules import all_rules

    by_cat: dict[str, list[tuple[str, str]]] = {}
    for rule in all_rules().values():
        for shape in rule.shapes:
            value = from_shape(shape)
            name = provider_name(rule.anchors) if rule.anchors else "SETTING_" + rule.id
            by_cat.setdefault(rule.category, []).append((f"{name}={value}", rule.id))
    return [Case(f"providers/{cat}.env", "provider", *lines) for cat, lines in sorted(by_cat.items())]
