"""Table tests per rule: a positive that must be found and a hard negative (a near miss) that must not be."""

from __future__ import annotations

import random
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable

import pytest

from scanner.chunk import Chunk
from scanner.engine import Engine, EngineOptions
from scanner.finding import Confidence
from scanner.rules import Rule, all_rules
from scanner.rules._util import base62, github_checksum_ok
from tests import fakes as f

# rule id -> (path, positive text builder, hard negative text).
Builder = Callable[[], str]


def _seeded_b64(seed: int, n: int) -> str:
    rnd = random.Random(seed)
    return "".join(rnd.choice(f.B64) for _ in range(n))

CASES: dict[str, tuple[str, Builder, str]] = {
    "UL001": ("a.py", lambda: f'T = "{f.github_pat()}"', f'T = "{f.github_bad_checksum()}"'),
    "UL002": ("a.py", lambda: f'T = "{f.github_fine_grained()}"', 'T = "github_pat_short_1234"'),
    "UL005": ("a.yml", lambda: f"token: {f.gitlab_pat()}", "url: https://gitlab.com/glpat-docs"),
    "UL010": ("a.env", lambda: f"KEY_ID={f.aws_access_key_id()}", "KEY_ID=AKIAIOSFODNN7EXAMPLE"),
    "UL011": (".aws/credentials", lambda: f"aws_secret_access_key = {f.aws_secret_key()}",
              "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    "UL012": ("a.py", lambda: f'k = "{f.aws_access_key_id()}"\nv = "{f.aws_secret_key()}"',
              f'k = "AKIAIOSFODNN7EXAMPLE"\nsha = "{"ab" * 20}"'),
    "UL013": ("a.ini", lambda: f"aws_session_token = {f._rand(f.B64, 300)}", "aws_session_token = ${TOKEN}"),
    "UL020": ("a.js", lambda: f"k = '{f.stripe_live_key()}'", "k = 'sk_live_xxxxxxxxxxxxxxxxxxxxxxxx'"),
    "UL021": ("a.js", lambda: f"k = '{f.stripe_test_key()}'", "k = 'sk_test_0000000000000000000000'"),
    "UL022": ("a.js", lambda: f"k = '{f.stripe_webhook_secret()}'", "k = 'whsec_...'"),
    "UL025": ("a.rb", lambda: f"T = '{f.square_token()}'", "T = 'EAAA-too-short'"),
    "UL026": ("a.rb", lambda: f"T = '{f.square_oauth_secret()}'", "T = 'sq0csp-short'"),
    "UL027": ("a.rb", lambda: f"T = '{f.shopify_token()}'", "T = 'shpat_nothex_zzzzzzzzzzzzzzzzzzzzzzzzzzzz'"),
    "UL030": ("a.ts", lambda: f"t = '{f.slack_bot_token()}'", "t = 'xoxb-not-a-token'"),
    "UL031": ("a.ts", lambda: f"t = '{f.slack_app_token()}'", "t = 'xapp-1-short'"),
    "UL032": ("a.ts", lambda: f"u = '{f.slack_webhook()}'", "u = 'https://hooks.slack.com/services/'"),
    "UL035": ("bot.py", lambda: f'DISCORD_TOKEN = "{f.discord_bot_token()}"', 'version = "M1.2.3"'),
    "UL036": ("a.py", lambda: f'U = "{f.discord_webhook()}"', 'U = "https://discord.com/api/webhooks/"'),
    "UL037": ("a.go", lambda: f'const t = "{f.telegram_bot_token()}"', 'const t = "12:AAshort"'),
    "UL040": ("a.py", lambda: f'K = "{f.openai_key()}"', 'K = "sk-proj-..."'),
    "UL041": ("a.py", lambda: f'K = "{f.anthropic_key()}"', 'K = "sk-ant-api03-..."'),
    "UL042": ("a.py", lambda: f'K = "{f.huggingface_token()}"', 'K = "hf_hub_download"'),
    "UL043": ("a.py", lambda: f'K = "{f.groq_key()}"', 'K = "gsk_short"'),
    "UL050": ("a.js", lambda: f'apiKey: "{f.google_api_key()}"', 'apiKey: "AIza-short"'),
    "UL052": ("a.js", lambda: f's = "{f.google_oauth_secret()}"', 's = "GOCSPX-short"'),
    "UL053": ("a.js", lambda: f's = "1//0{f._rand(f.URLSAFE, 60)}"', 's = "1//0"'),
    "UL055": ("a.cs", lambda: f'c = "AccountName=a;AccountKey={f.azure_storage_key()};"', 'c = "AccountKey=;"'),
    "UL056": ("a.txt", lambda: f"https://a.blob.core.windows.net/c?sv=2022-11-02&sp=r&sig={f.azure_sas_signature()}",
              "https://a.blob.core.windows.net/c?sig=abc"),
    "UL057": ("a.json", lambda: f'"secret": "{f.azure_client_secret()}"', '"q": "Q~"'),
    "UL058": ("a.tf", lambda: f'token = "{f.digitalocean_token()}"', 'token = "dop_v1_"'),
    "UL059": ("a.tf", lambda: f'k = "{f.heroku_key()}"', 'k = "HRKU-"'),
    "UL060": ("a.env", lambda: f"HEROKU_API_KEY={f.uuid4()}", f"REQUEST_ID={f.uuid4()}"),
    "UL061": ("a.ini", lambda: f"twilio_key = {f.twilio_api_key()}", f"color = SK{'0' * 32}"),
    "UL062": ("a.ini", lambda: f"twilio_auth_token = {f.hex32()}", f"auth_token_md5 = {'ab' * 3}"),
    "UL063": ("a.ini", lambda: f"k = {f.sendgrid_key()}", "k = SG.short.x"),
    "UL064": ("a.ini", lambda: f"k = {f.mailchimp_key()}", "k = 1234-us1"),
    "UL065": ("a.ini", lambda: f"k = {f.mailgun_key()}", "k = key-short"),
    "UL070": ("a.yml", lambda: f"t: {f.npm_token()}", "t: npm_install"),
    "UL071": ("a.yml", lambda: f"t: {f.pypi_token()}", "t: pypi-AgE"),
    "UL072": ("a.yml", lambda: f"t: {f.dockerhub_pat()}", "t: dckr_pat_"),
    "UL073": ("a.yml", lambda: f"t: {f.rubygems_key()}", "t: rubygems_org"),
    "UL080": ("a.toml", lambda: f'd = "{f.databricks_token()}"', 'd = "dapi_docs"'),
    "UL081": ("a.toml", lambda: f'd = "{f.postman_key()}"', 'd = "PMAK-"'),
    "UL082": ("a.toml", lambda: f'd = "{f.newrelic_key()}"', 'd = "NRAK-"'),
    "UL083": ("a.toml", lambda: f'd = "{f.grafana_token()}"', 'd = "glsa_"'),
    "UL084": ("a.toml", lambda: f'd = "{f.sentry_token()}"', 'd = "sntryu_"'),
    "UL085": ("a.toml", lambda: f'd = "{f.doppler_token()}"', 'd = "dp.pt."'),
    "UL086": ("a.toml", lambda: f'd = "{f.pulumi_token()}"', 'd = "pul-"'),
    "UL087": ("a.toml", lambda: f'd = "{f.linear_key()}"', 'd = "lin_api_"'),
    "UL088": ("a.toml", lambda: f'd = "{f.onepassword_sa_token()}"', 'd = "ops_eyJ"'),
    "UL089": ("a.toml", lambda: f'd = "{f.age_secret_key()}"', 'd = "AGE-SECRET-KEY-1"'),
    "UL090": ("a.js", lambda: f"s = '{f.jwt()}'", "s = 'eyJhbGciOi.eyJzdWIi.short'"),
    "UL091": ("a.toml", lambda: f'd = "{f.atlassian_token()}"', 'd = "ATATT3"'),
    "UL092": ("a.toml", lambda: f'd = "{f.vault_token()}"', 'd = "hvs.short"'),
    "UL093": ("a.toml", lambda: f'd = "{f.mapbox_secret()}"', 'd = "sk.eyJ"'),
    "UL094": ("nats.conf", lambda: f"seed: {f.nats_seed()}", f"nkey: U{f.nats_seed()[2:]}"),
    "UL100": ("id_rsa", lambda: f.private_key_pem("RSA "), "-----BEGIN RSA PRIVATE KEY-----\n...\n"
              "-----END RSA PRIVATE KEY-----"),
    "UL101": ("k.ppk", lambda: f.putty_key(), "PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 0\n"),
    "UL200": (".netrc", lambda: f"machine h login u password {f.password()}", "machine h login u"),
    "UL201": (".pgpass", lambda: f"h:5432:db:u:{f.password()}", "# h:5432:db:u:comment"),
    "UL202": (".git-credentials", lambda: f"https://u:{f.url_password()}@git.internal.org",
              "https://git.internal.org"),
    "UL211": ("filezilla/recentservers.xml", lambda: f'<Pass encoding="base64">{f.b64(f.password())}</Pass>',
              "<Pass />"),
    "UL212": ("profile/logins.json", lambda: f'{{"encryptedPassword": "{f._rand(f.B64, 64)}"}}',
              '{"encryptedPassword": ""}'),
    "UL214": (".msmtprc", lambda: f'account default\npassword "{f.password()}"', "passwordeval gpg -d ~/.pw.gpg"),
    "UL215": ("dbeaver-data-sources.xml", lambda: f'<connection host="db" user="app" password="{f.password()}"/>',
              '<connection host="db" user="app" save-password="false"/>'),
    "UL213": ("db/dump.sql", lambda: f"(1, 'ann', '{f.bcrypt_hash()}', 1),",
              "(1, 'ann', '$2y$12$short', 1),"),
    "UL203": ("config.json", lambda: f'{{"auths": {{"r": {{"auth": "{f.b64("u:" + f.password())}"}}}}}}',
              '{"auths": {"r": {}}, "credsStore": "desktop"}'),
    "UL204": (".npmrc", lambda: f"//registry.npmjs.org/:_authToken={f._rand(f.ALNUM, 36)}",
              "//registry.npmjs.org/:_authToken=${NPM_TOKEN}"),
    "UL205": (".pypirc", lambda: f"password = {f.password()}", "password = %(PYPI_PASSWORD)s"),
    "UL207": (".s3cfg", lambda: f"secret_key = {f._rand(f.ALNUM, 40)}", "secret_key = "),
    "UL208": ("kubeconfig", lambda: f"kind: Config\nusers:\n- user:\n    token: {f._rand(f.URLSAFE, 40)}",
              "kind: Config\nusers:\n- user:\n    token: ${KUBE_TOKEN}"),
    "UL209": (".htpasswd", lambda: f"admin:{f.apr1_hash()}", "admin:x:1000:1000::/home/admin:/bin/sh"),
    "UL210": ("s.yaml", lambda: f"kind: Secret\ndata:\n  password: {f.b64(f.password())}",
              f"kind: Secret\ndata:\n  username: {f.b64('app')}"),
    "UL220": ("a.env", lambda: f"DATABASE_URL=postgres://app:{f.url_password()}@db.internal/app",
              "DATABASE_URL=postgres://postgres:${DB_PASSWORD}@localhost/app"),
    "UL221": ("a.config", lambda: f'c = "Server=db;User Id=app;Password={f.url_password()};"',
              'c = "Server=db;User Id=app;Password=${DB_PASSWORD};"'),
    "UL222": ("a.properties", lambda: f"url=jdbc:postgresql://h/db?user=u&password={f.url_password()}",
              "url=jdbc:postgresql://h/db?user=u&password=<password>"),
    "UL223": ("run.sh", lambda: f"curl -u admin:{f.url_password()} https://ci.internal.org",
              "curl -u admin:$CI_PASSWORD https://ci.internal.org"),
    "UL224": ("a.py", lambda: f'requests.get(u, auth=("svc", "{f.url_password()}"))',
              'requests.get(u, auth=("svc", os.environ["PW"]))'),
    "UL225": ("a.sh", lambda: f"curl -H 'Authorization: Bearer {f._rand(f.ALNUM, 40)}' https://api.internal.org",
              "curl -H \"Authorization: Bearer $API_TOKEN\" https://api.internal.org"),
    "UL227": ("cassette.yml", lambda: f"headers:\n  Authorization:\n  - Bearer {f._rand(f.ALNUM, 40)}\n",
              "headers:\n  Authorization:\n  - Basic login_and_password_removed\n"),
    "UL228": ("postman.json", lambda: f'{{"key": "Authorization", "value": "Bearer {f._rand(f.ALNUM, 40)}"}}',
              '{"key": "Authorization", "value": "Basic login_and_password_removed"}'),
    "UL226": ("a.go", lambda: f'sql.Open("postgres", "host=db user=app password={f.url_password()} dbname=app")',
              'sql.Open("postgres", "host=db user=app password=${DB_PASSWORD} dbname=app")'),
    "UL230": ("wp-config.php", lambda: f"define('DB_PASSWORD', '{f.password()}');",
              "define('AUTH_KEY', 'put your unique phrase here');"),
    "UL231": ("settings.py", lambda: f"SECRET_KEY = '{f.django_secret_key()}'",
              "SECRET_KEY = os.environ['SECRET_KEY']"),
    "UL232": ("config/master.key", lambda: f.hex32(), "not a key"),
    "UL240": ("t.tfstate", lambda: f'"password": "{f.password()}",', '"password_id": "abc-123-def",'),
    "UL250": ("a.xml", lambda: f"<password>{f.password()}</password>", "<password>${DB_PASSWORD}</password>"),
    "UL903": ("app.js", lambda: f"db.connect({{user: 'app', pass: '{f.short_password()}'}})",
              "db.connect({user: 'app', pass: 'none'})"),
    "UL907": ("app.py", lambda: f'client.login(user="app", password="{f.passphrase()}")',
              'client.login(user="app", password="Enter your password")'),
    "UL900": (".env", lambda: f"DB_PASSWORD={f.password()}", "DB_PASSWORD=changeme"),
    "UL904": ("server.log", lambda: f"[DEBUG] Using Key={f.generated_key()}", "[DEBUG] Using Key=user_profile_cache"),
    "UL905": ("config.yml", lambda: f"weather_key: {f.generated_key()}", "weather_key: user_profile_cache"),
    "UL906": ("client.go", lambda: f'req.Header.Set("X-Api-Key", "{f.generated_key()}")',
              'req.Header.Set("X-Api-Key", os.Getenv("API_KEY"))'),
    "UL901": ("a.py", lambda: f"SECRET_KEY = os.environ.get('SECRET_KEY') or '{f.url_password(24)}'",
              "SECRET_KEY = os.environ.get('SECRET_KEY') or 'changeme'"),
    "UL902": ("a.py", lambda: f'HMAC_KEY = b"{f.url_password(24)}"', 'HMAC_KEY = b"placeholder"'),
    # A seeded draw: about 1 random base64 string in 200 looks like a path or a word slug and is rightly filtered.
    "UL950": ("a.py", lambda: f'blob = "{_seeded_b64(950, 48)}"', 'blob = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"'),
    "UL951": ("a.yaml", lambda: f"db_pass: {f._rand(f.ALNUM, 3)}&{f._rand(f.ALNUM, 3)}",
              "db_pass: ${DB_PASS}"),
}


def _provider_case(rule: Rule) -> tuple[str, Builder, str]:
    """The declared provider rules (UL300–UL899) draw their cases from their shapes; tests/scanner/
    test_provider_rules.py holds their full tables."""
    name = f.provider_name(rule.anchors) if rule.anchors else "SETTING"
    # The near miss shortens the rule's shortest shape: a shortened long shape (60 base64 characters) can hold a
    # run that is another of the rule's shapes (24 letters and digits between two slashes).
    shortest = min(rule.shapes, key=lambda shape: len(f.from_shape(shape)))
    return (".env", lambda: f"{name}={f.from_shape(rule.shapes[0])}",
            f"{name}={f.from_shape(shortest, shorten_last=True)}")


CASES.update({r.id: _provider_case(r) for r in all_rules().values() if r.shapes})
# detect-secrets plugins for formats that have no unleak rule of their own (IBM, Cloudant, Softlayer, Artifactory…).
CASES["UL952"] = ("a.py", lambda: f'art = "AKCp8{f._rand(f.ALNUM, 69)}"', 'art = "AKCp8short"')


def _scan(path: str, text: str, **opts: object) -> list[tuple[int, str]]:
    engine = Engine(EngineOptions(**opts))  # type: ignore[arg-type]
    return [(x.line, x.rule_id) for x in engine.scan_chunk(Chunk(path, text + "\n"))]


def test_every_rule_has_a_table_case() -> None:
    assert set(all_rules()) == set(CASES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_positive_is_found(rule_id: str) -> None:
    path, build, _ = CASES[rule_id]
    found = _scan(path, build())
    assert rule_id in {r for _, r in found}, found


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_hard_negative_is_silent(rule_id: str) -> None:
    """The near miss does not trigger the rule (other rules may still see a value there; the corpus decoys check
    total silence)."""
    path, _, negative = CASES[rule_id]
    assert rule_id not in {r for _, r in _scan(path, negative)}


@pytest.mark.parametrize("rule_id", sorted(all_rules()))
def test_rule_metadata(rule_id: str) -> None:
    rule = all_rules()[rule_id]
    assert re.fullmatch(r"UL\d{3}", rule.id)
    assert rule.title and rule.description and rule.revoke and rule.family
    if rule.pattern is not None:
        assert "secret" in rule.regex.groupindex or rule.regex.groups >= 1


@pytest.mark.parametrize("rule_id", sorted(r.id for r in all_rules().values() if r.preview_prefix))
def test_preview_prefix_is_public_prefix_only(rule_id: str) -> None:
    """The preview shows only the format's fixed prefix: it must match the start of every generated value."""
    rule = all_rules()[rule_id]
    path, build, _ = CASES[rule_id]
    engine = Engine()
    found = [x for x in engine.scan_chunk(Chunk(path, build() + "\n")) if x.rule_id == rule_id]
    assert found
    value = found[0].secret.reveal()
    prefix_rx = "".join("[A-Za-z]*" if c == "*" else re.escape(c) for c in rule.preview_prefix)
    assert re.match(prefix_rx, value), (rule.preview_prefix, rule_id)
    assert len(rule.preview_prefix) <= 40 and value not in found[0].preview


def test_github_checksum_matches_the_published_algorithm() -> None:
    """CRC32 (zlib, IEEE) of the 30 random characters, base62 0-9A-Za-z, left-padded with 0 to 6 characters."""
    body = "a" * 30
    expected = base62(zlib.crc32(body.encode()), 6)
    assert github_checksum_ok("ghp_" + body + expected)
    assert not github_checksum_ok("ghp_" + body + ("1" if expected[0] != "1" else "2") + expected[1:])
    assert base62(0, 6) == "000000" and base62(61, 2) == "0z" and base62(62, 2) == "10"
    for _ in range(20):
        assert github_checksum_ok(f.github_pat())
        assert not github_checksum_ok(f.github_bad_checksum())


def test_min_confidence_high_keeps_only_high() -> None:
    text = f'T = "{f.github_pat()}"\nDB_PASSWORD = "{f.password()}"\nk = "{f.stripe_test_key()}"'
    all_found = {r for _, r in _scan("a.py", text)}
    assert all_found == {"UL001", "UL900", "UL021"}
    assert {r for _, r in _scan("a.py", text, min_confidence=Confidence.HIGH)} == {"UL001"}
    assert {r for _, r in _scan("a.py", text, min_confidence=Confidence.MEDIUM)} == {"UL001", "UL900"}


def test_specific_rule_wins_over_generic_on_the_same_value() -> None:
    assert _scan(".env", f"GITHUB_TOKEN={f.github_pat()}") == [(1, "UL001")]


def test_detect_secrets_parity_on_corpus() -> None:
    """Every line detect-secrets flags in the corpus is reported by unleak or dropped by a *named* filter."""
    from scanner.detect_secrets import adapter as ds
    from scanner.result import Explanation

    engine = Engine(EngineOptions(explain=True))
    for case in f.corpus():
        ds_lines = {h.line_index + 1 for h in ds.scan_lines(case.path, case.text)}
        explain: list[Explanation] = []
        found = {x.line for x in engine.scan_chunk(Chunk(case.path, case.text), explain)}
        for line in ds_lines - found:
            # Multi-line findings (keys) are reported on their first line.
            in_multiline = any(a <= line for a, _ in case.expected) and case.format == "private-key"
            named = {e.filter for e in explain if e.line == line}
            assert in_multiline or named - {"overlaps-specific-rule"}, (case.path, line)
        expected_lines = {ln for ln, _ in case.expected}
        assert ds_lines & expected_lines <= found, case.path


# ---------------------------------------------------------------------------------------------- bounded regexes
# Linear, not fast: the checks compare CPU time on 10 MB with CPU time on 1 MB of the same shape (about 10 when
# linear, 100 when quadratic; catastrophic backtracking never finishes), so a loaded machine cannot fail them.
_SCALES = (1024 * 1024, 10 * 1024 * 1024)


def _pathological(size: int) -> dict[str, str]:
    return {
        "10MB single line": "password=" + "a" * size,
        "100k spaces": "secret = " + " " * (size // 100) + "x",
        "100k spaces after colon": "password:" + " " * (size // 100) + "\n",
        "repeated URL schemes": "postgres://" * (size // 11),
        "repeated name chars": "api_key_" * (size // 8),
    }


def _cpu(fn: Callable[[], object]) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def _linear(run: Callable[[str], object], name: str) -> tuple[float, float]:
    small, large = (_cpu(lambda size=size: run(_pathological(size)[name])) for size in _SCALES)
    return small, large


@pytest.mark.parametrize("name", sorted(_pathological(1)))
def test_detectors_are_linear_on_pathological_chunks(name: str) -> None:
    """Detectors see whole chunks (no keyword window): each must stay linear in the chunk's size."""
    for rule in all_rules().values():
        if rule.detect is None or rule.family == "detect-secrets":
            continue
        path = ".pgpass" if rule.id == "UL201" else "x.txt"
        small, large = _linear(lambda text, d=rule.detect, p=path: list(d(Chunk(p, text))), name)
        assert large < 30 * max(small, 0.01), (rule.id, small, large)


@pytest.mark.parametrize("name", ["10MB single line", "100k spaces", "100k spaces after colon"])
def test_engine_scans_pathological_lines_in_linear_time(name: str) -> None:
    engine = Engine()
    engine.scan_chunk(Chunk("warmup.txt", "x\n"))
    small, large = _linear(lambda text: engine.scan_chunk(Chunk("big.txt", text)), name)
    assert large < 30 * max(small, 0.01), (small, large)


def test_readme_rule_table_is_current() -> None:
    """The README's table is `unleak rules --markdown`; regenerate it when a rule changes."""
    from pathlib import Path

    from scanner.rules import rules_markdown

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert rules_markdown() in readme


def test_every_match_of_a_rule_holds_what_it_requires() -> None:
    # Rule.requires lets the engine skip a keyword window without any of those strings; a match without one would
    # be lost. Checked on every table case, positive and near miss, of every rule that declares it.
    from tests.scanner.test_engine_gates import _samples

    texts = [t for _, build, near in CASES.values() for t in (build(), near)] + _samples(random.Random(3))
    checked = 0
    for rule in all_rules().values():
        if not rule.requires:
            continue
        for text in texts:
            for m in rule.regex.finditer(text):
                assert any(r in m.group(0) for r in rule.requires), (rule.id, m.group(0)[:40])
                checked += 1
    assert checked > 30


@pytest.mark.parametrize("line", [
    "- check: `mysql -h 192.168.1.105 -u slave01 -p`，then continue",
    "curl -u 'octocat' -d '{\"scopes\":[\"repo\"]}' https://api.github.com/authorizations",
    "mysql -h db.example.org -u app -p",
])
def test_command_line_rule_needs_a_password(line: str) -> None:
    """UL223: a bare -p, a username alone (curl prompts for the password) or prose after a quoted command is no
    password; `curl -u user:password` and `mysql -pPASSWORD` are (see CASES)."""
    assert "UL223" not in {r for _, r in _scan("notes.md", line)}



def test_kubernetes_secret_holding_a_kubeconfig_reports_keys_not_its_lines() -> None:
    """UL210: a kubeconfig held in a block scalar (`config: |`) is one value; its `cluster: kind-x` lines are not keys
    of the Secret, while a key beside it at the block's own indent still is."""
    tok = f._rand(f.ALNUM, 24)
    text = ("kind: Secret\nstringData:\n  config: |\n    contexts:\n    - context:\n        cluster: kind-karmada\n"
            f"  token: {tok}\n")
    assert [(line, r) for line, r in _scan("secret.yaml", text) if r == "UL210"] == [(7, "UL210")]


@pytest.mark.parametrize(("path", "template"), [
    ("a.py", "SECRET_KEY = os.environ.get('SECRET_KEY') or '{v}'"),
    ("a.py", "api_token: str = os.getenv('API_TOKEN') or \"{v}\""),
    ("a.ts", "const apiToken = process.env.API_TOKEN || \"{v}\";"),
    ("a.ts", "const apiToken = process.env.API_TOKEN ?? '{v}';"),
    ("a.py", 'HMAC_KEY = b"{v}"'),
    ("a.py", "SIGNING_SECRET: bytes = B'{v}'"),
    ("a.py", 'REDIS_URL = f"redis://:{v}@{{host}}:6379/0"'),
    ("a.py", 'DB = "mysql://app:{v}@{{}}/db".format(h)'),
    ("a.sh", 'export DATABASE_URL="postgres://app:{v}@${{DB_HOST}}/app"'),
])
def test_values_behind_fallbacks_bytes_and_templated_hosts_are_found(path: str, template: str) -> None:
    """A literal that is the value whenever the variable is unset, key bytes, a URL whose host is a template: each
    holds the committed secret as surely as a plain assignment."""
    value = f.url_password(24)
    text = template.format(v=value)
    engine = Engine(EngineOptions())
    assert value in {x.secret.reveal() for x in engine.scan_chunk(Chunk(path, text + "\n"))}


@pytest.mark.parametrize(("line", "found"), [
    ("client = OmniAuth::Strategies::OAuth2.new(app)", False),
    ("if (![NtApiDotNet.NtToken]::EnableDebugPrivilege()) {", False),
    ("auth: '" + "Zq8vN3xLp2" + "Rt7YwK4mHs'", True),  # split: the source holds no secret-shaped literal
])
def test_generic_rule_reads_a_colon_not_a_scope_operator(line: str, found: bool) -> None:
    """UL900: `Name::member` (Ruby, C++, PowerShell scope) is no assignment; `name: value` is."""
    assert ("UL900" in {r for _, r in _scan("lib/auth.rb", line)}) is found


@pytest.mark.parametrize(("path", "line", "found"), [
    ("pkg/detectors/weather/weather_test.go", "\t\t[DEBUG] Using Key=qx7dm2lz8k4wt6pb9rc3vn5hj", True),
    ("app/maps.js", 'const url = "https://maps.example.net/api?key=Qx7dM2lZ8k4Wt6Pb9rC3"', True),
    ("config.yml", "key: qx7dm2lz8k4wt6pb9rc3vn5hj", True),
    ("config.yml", "key: user_profile_settings_cache", False),  # words, not generated
    ("app.py", 'cache = {"key": "session:7:settings"}', False),  # too short and low entropy
    ("app.py", 'd = {"key": "value"}', False),
    ("app.go", "key := strconv.Itoa(n)", False),  # code
    ("app.py", "monkey=qx7dm2lz8k4wt6pb9rc3vn5hj", False),  # not the word key
])
def test_bare_key_rule_wants_a_generated_value(path: str, line: str, found: bool) -> None:
    """UL904: a bare `key` is too common a name to be a sign; only a value that looks generated is reported."""
    assert ("UL904" in {r for _, r in _scan(path, line)}) is found


@pytest.mark.parametrize(("path", "line", "rule"), [
    ("pkg/detectors/artsy/artsy_test.go", '\tvalidPattern = "artsy_key: qx7dm2lz8k4wt6pb9rc3vn5hj"', "UL905"),
    ("config.yml", "azureKey: qx7dm2lz8k4wt6pb9rc3vn5hjW8", "UL905"),
    ("deploy.env", "BILLOMAT_KEY=qx7dm2lz8k4wt6pb9rc3vn5hj", "UL905"),
    ("deploy.env", "MONKEY=qx7dm2lz8k4wt6pb9rc3vn5hj", None),  # not a key name
    ("app.ini", "hotkey=qx7dm2lz8k4wt6pb9rc3vn5hj", None),
    ("app.py", "monkeyKey2 = x", None),
    ("config.yml", "cache_key: user_profile_settings_cache", None),  # words, not generated
    ("lib/slot.c", "    *pRetKey = LookupKey2ForSlotAndCert(slot, *pRetCert, NULL);", None),  # a call
    ("pkg/api/consts.go", '\treasonAnnotationKey = "authorization.k8s.io/reason"', None),  # a name under a domain
    ("deploy.env", "STRIPE_API_KEY=qx7dm2lz8k4wt6pb9rc3vn5hj", "UL900"),  # a compound UL900 names stays UL900
])
def test_service_key_rule_wants_a_key_name_and_a_generated_value(path: str, line: str, rule: str | None) -> None:
    """UL905: `<service>_key` / `serviceKey` with a generated value; the name alone is no sign."""
    rules = {r for _, r in _scan(path, line)}
    assert ("UL905" in rules) is (rule == "UL905")
    if rule is not None:
        assert rule in rules


def test_service_key_rule_leaves_a_value_to_any_other_rule_that_matches_it() -> None:
    """A value detect-secrets reported before UL905 existed keeps that rule's id, so its fingerprint and baselines
    do not change."""
    found = {r for _, r in _scan("app.py", "iam_key = 'qx7dm2lz8k4wt6pb9rc3vn5hjQX7DM2LZ8K4WT6PB9RC3vn'")}
    assert found and found <= {"UL950", "UL951", "UL952"}
    assert {r for _, r in _scan("app.py", "weather_key = 'qx7dm2lz8k4wt6pb9rc3vn5hjQX7DM2LZ8K4WT6PB9RC3vn'")}


@pytest.mark.parametrize(("path", "line", "found"), [
    ("client.go", 'req.Header.Set("X-BillomatApiKey", "qx7dm2lz8k4wt6pb9rc3vn5hj")', True),
    ("client.go", 'req.Header.Add("Authorization", "Token qx7dm2lz8k4wt6pb9rc3vn5hj")', True),
    ("app.js", "xhr.setRequestHeader('X-Auth-Token', 'qx7dm2lz8k4wt6pb9rc3vn5hj');", True),
    ("Api.java", 'conn.setRequestProperty("Ocp-Apim-Subscription-Key", "qx7dm2lz8k4wt6pb9rc3vn5hj");', True),
    ("Api.cs", 'client.DefaultRequestHeaders.Add("X-Api-Key", "qx7dm2lz8k4wt6pb9rc3vn5hj");', True),
    ("client.go", 'req.Header.Set("X-CSRF-Token", "qx7dm2lz8k4wt6pb9rc3vn5hj")', False),  # not a credential
    ("client.go", 'req.Header.Set("Idempotency-Key", "qx7dm2lz8k4wt6pb9rc3vn5hj")', False),
    ("client.go", 'req.Header.Set("X-Request-Id", "qx7dm2lz8k4wt6pb9rc3vn5hj")', False),  # not a secret name
    ("client.go", 'req.Header.Set("X-Api-Key", "YOUR_API_KEY_HERE")', False),  # not generated
    ("client.go", 'req.Header.Set("Authorization", "Bearer "+token)', False),  # built from a variable
    ("client.go", 'req.Header.Set("X-Api-Key", apiKey)', False),
    ("client.go", 'req.Header.Set("Authorization", "Bearer ${TOKEN}")', False),
])
def test_header_rule_wants_a_credential_header_and_a_generated_literal(path: str, line: str, found: bool) -> None:
    """UL906: a header named for a key, token, secret, password or authorization, set to a literal in code."""
    assert ("UL906" in {r for _, r in _scan(path, line)}) is found


@pytest.mark.parametrize(("line", "found"), [
    ("db.connect({user: 'app', pass: 'q7Zx'})", True),  # four characters, quoted
    ("  password: ieadcm", True),  # six bare characters: under UL900's eight
    ("  password: 123456", False),  # a keyboard run
    ("  passes: abcd", False),  # not a password name
    ("  token: q7Zx", False),  # short values only under password names
    ("  password: ${DB_PASS}", False),
])
def test_short_password_rule(line: str, found: bool) -> None:
    """UL903 reports four- to seven-character passwords at low confidence, under password names only."""
    assert ("UL903" in {r for _, r in _scan("config.yml", line)}) is found


@pytest.mark.parametrize(("path", "line", "found"), [
    ("app.py", 'auth = DigestAuth(username="mufasa", password="{p}")', True),
    ("app.py", "user.password = \"{w}'s {w}\"", True),  # the other quote inside
    ("app.py", "url.set(password='it\"s {w}', database=name)", True),
    ("app.py", 'x = "&password="+ escape(read("pw_{w}"))', False),  # code between two literals
    ("app.js", "'enterRoomPasswordSubmit': 'Join room'", False),  # the name is about a button
    ("app.go", "db.Exec(`ALTER ROLE ` + user + ` WITH PASSWORD = '` + pw + `'`)", False),
    ("config.json", '"password": "{w} @ %"', True),
    ("app.py", 'password = "{w}"', False),  # one word: UL900's
    ("app.py", 'password = "Enter your password"', False),  # a label
    ("app.py", 'password = "Use at least twelve characters."', False),  # a sentence
    ("app.py", 'password_help = "Use twelve {w}"', False),  # the name is about a password, not one
    ("app.py", 'password: "Not set"', False),  # stands for an absent value
    ("app.py", 'password = "%s %s" % (a, b)', False),  # a format
    ("app.py", 'password = "{{first}} {{last}}"', False),  # a template
    ("app.js", "password: 'mot de passe'", False),  # the word, in another language
    ("locales/fr.yml", "password: 'Ton mot'", False),  # a translation file
    ("app.py", 'passes = "{p}"', False),  # not a password name
])
def test_passphrase_rule(path: str, line: str, found: bool) -> None:
    """UL907: a quoted password holding a space or a quote, under a password name; labels, sentences, templates
    and translations in a password slot are not passphrases."""
    text = line.format(p=f.passphrase(), w=f.passphrase(1) + "7")
    assert ("UL907" in {r for _, r in _scan(path, text)}) is found


@pytest.mark.parametrize(("path", "line", "rule", "found"), [
    ("a.js", "const apiToken = `{k}`;", "UL900", True),  # a template literal
    ("a_test.go", 'secret = `{k}"`', "UL900", True),  # a Go raw string holding a double quote
    ("a.js", "const apiToken = `${{TOKEN}}`;", "UL900", False),  # a template
    ("a.go", 'token          = "{k}"', "UL900", True),  # gofmt aligns the '=' of a block
    ("a.go", "token" + " " * 41 + '= "{k}"', "UL900", False),  # too far from its name
    ("config.yml", "salesforce_key1: {k}", "UL905", True),  # a numbered key name
    ("config.yml", "salesforce_key123: {k}", "UL905", False),
    ("a.py", 'secret = "{u}"', "UL900", True),  # upper case, digits interleaved: a key, not an env name
    ("a.py", 'secret = "API_SECRET_NAME"', "UL900", False),  # an environment variable's name
    ("a.py", 'validSecret = "acme-secret-{h}"', "UL900", True),  # a readable prefix, then a generated part
    ("a.py", 'secretLabel = "auth-secret-token"', "UL900", False),  # an i18n key
    ("a.py", 'GRANT = "urn:ietf:params:oauth:grant-type:{k}"', "UL900", False),  # a segment of a URN
    ("a.json", '"ARN": "arn:aws:secretsmanager:us-west-2:123456789012:secret:MyDb-{k}"', "UL900", False),  # of an ARN
    ("grep.txt", "/tmp/out:2:password={k}", "UL900", True),  # grep's output: path:line:match
    ("a.py", 'return f"otpauth://{{kind}}/{{label}}?digits={k}"', "UL900", False),  # a URL scheme, not `name:`
    ("a.py", 'is_default_token = "{k}" == given', "UL900", False),  # a literal compared: an operand
    ("a_test.go", 'validKey         = "{x}"', "UL905", True),  # a key name in a gofmt-aligned block
    ("a_test.go", "validKey" + " " * 41 + '= "{x}"', "UL905", False),
    ("a.log", "[DEBUG] Using Key={l}", "UL904", True),  # a token of 300 characters (an OAuth token, a JWT)
    ("a.java", 'String encryptedKey = "{l}";', "UL905", False),  # named encrypted: ciphertext, by design
    ("a.java", 'String encryptionKey = "{l}";', "UL900", True),  # the key that encrypts is a secret
    ("a.yml", "apimetricskey: {k}", "UL905", True),  # a service's key name written in one word
    ("a.yml", "monkey: {k}", "UL905", False),  # words that end in "key" are not key names
    ("a.yml", "hotkey: {k}", "UL905", False),
    ("tracker.yml", "passkey: {x}", "UL905", True),  # a tracker's passkey is a secret
])
def test_generic_value_forms(path: str, line: str, rule: str, found: bool) -> None:
    """Quoted values in backticks, aligned assignments, numbered key names, upper-case keys and prefixed keys."""
    key = f.generated_key()
    text = line.format(k=key, u="API_KEY" + key.upper(), h=f._rand("0123456789abcdef", 12) + "a1b2c3d4",
                       l="a1" + f._rand(f.ALNUM, 298), x="a1" + f._rand("0123456789abcdef", 62))
    assert (rule in {r for _, r in _scan(path, text)}) is found, text


@pytest.mark.parametrize("user", ["deploy", "deploy@example.com"])
def test_git_credentials_password_with_unusual_characters(user: str) -> None:
    """UL202: the password runs to the host after the last "@" (an e-mail user name, "#" and "@" in the password)."""
    pw = f._rand(f.ALNUM, 10) + "!#@" + f._rand(f.ALNUM, 4)
    engine = Engine()
    found = [x for x in engine.scan_chunk(Chunk(".git-credentials", f"https://{user}:{pw}@github.com\n"))
             if x.rule_id == "UL202"]
    assert [x.secret.reveal() for x in found] == [pw]


def test_wp_config_salts_aligned_as_in_the_sample_file() -> None:
    """UL230: wp-config-sample.php aligns values after the comma with up to nine spaces."""
    value = f._rand(f.ALNUM, 30) + "(>%|$~`" + f._rand(f.ALNUM, 27)
    assert (1, "UL230") in _scan("wp-config.php", f"define('AUTH_KEY',         '{value}');")


def test_ul224_boundaries_behind_the_first_letter_are_word_boundaries() -> None:
    """UL224 checks each leading word boundary behind the branch's first letter (for speed); on text built around
    its names, with word characters (ASCII and not) or not in front, it matches exactly where the ``\\b`` form does."""
    fast = all_rules()["UL224"].pattern
    assert fast is not None
    plain = (fast.replace(r"a(?<!\wa)uth", r"\bauth").replace(r"c(?<!\wc)redentials?", r"\bcredentials?")
             .replace(r"|s(?<!\ws)et_?", r"|\bset_?"))
    assert plain.count(r"\b") == 3, "the pattern changed: update the \\b form here"
    rx_fast, rx_plain = re.compile(fast), re.compile(plain)
    rnd = random.Random(224)
    heads = ["", " ", "x", "_", "9", "é", ".", "(", "o", "re"]
    names = ["auth=(", "auth = [", "credential=(", "credentials =(", "setPassword(", "set_password(", ".login(",
             "HTTPBasicAuth(", "basic_auth=("]
    for _ in range(3000):
        text = rnd.choice(heads) + rnd.choice(names) + rnd.choice(['"u", "hunter2x")', "'u','pw')", '"hunter22")'])
        start = rnd.randrange(0, 3)
        got = [(m.span(), m.groupdict()) for m in rx_fast.finditer(text, start)]
        assert got == [(m.span(), m.groupdict()) for m in rx_plain.finditer(text, start)], text
    assert rx_fast.search('auth=("u", "hunter2x")') and not rx_fast.search('oauth=("u", "hunter2x")')
    assert rx_fast.search('setPassword("hunter2x")') and not rx_fast.search('resetPassword("hunter2x")')
    assert not rx_fast.search('éauth=("u", "hunter2x")')  # a non-ASCII letter is a word character too


def _text_of(rnd: random.Random, parts: list[str], n: int) -> str:
    return "".join(rnd.choice(parts) for _ in range(n))


def test_recorded_auth_and_inline_netrc_find_what_a_line_by_line_reading_finds() -> None:
    """UL227 (list items below an `Authorization:` line) and UL200 outside a netrc file (a line with `machine`)
    read only the lines around their words; on generated text they give what reading every line gives."""
    from scanner.rules import connection_strings, credential_files
    from scanner.rules._util import iter_lines

    key = re.compile(r"(?i)^[ \t-]{0,40}[\"']?authorization[\"']?[ \t]{0,4}:[ \t]*$")
    item = re.compile(r"(?i)^[ \t]{0,40}-[ \t]{1,4}[\"']?(?:Bearer|Token|Basic|Bot)[ \t]{1,4}"
                      r"(?P<secret>[A-Za-z0-9._~+/=-]{16,2000})")
    inline = re.compile(r"\bmachine[ \t]+[^\s]{1,253}[ \t]+login[ \t]+[^\s]{1,200}[ \t]+password[ \t]+"
                        r"(?P<secret>[^\s\"'`]{1,200})")

    def auth_by_line(text: str) -> list[tuple[str, int, int]]:
        out, after = [], False
        for off, line in iter_lines(text):
            m = item.match(line) if after else None
            if m:
                out.append((m.group("secret"), off + m.start("secret"), off + m.end("secret")))
                continue
            after = bool(key.match(line))
        return out

    def netrc_by_line(text: str) -> list[tuple[str, int, int]]:
        return [(m.group("secret"), off + m.start("secret"), off + m.end("secret"))
                for off, line in iter_lines(text) if "machine" in line for m in inline.finditer(line)]

    rnd = random.Random(227)
    token = "dGhpc2lzYXRlc3R0b2tlbjEyMw=="
    parts = ["Authorization:", "  authorization: ", "- authorization:", '"Authorization":', "Authorization: x",
             f"- Bearer {token}", f"  - Basic {token}", f"- 'Token {token}", "- Bearer short", "\n", "\n", "\r\n",
             "machine h.example.com login u password pw1", "machine", " login u password pw2 ", "x", " ",
             "\nAuthorization:\n", f"- Bearer {token}\n", f"\n  - Basic {token}", "\nAUTHORıZATION:\n", "é",
             "\nauthorİzation:\n", "İ"]
    found = Counter[str]()
    for _ in range(3000):
        text = _text_of(rnd, parts, rnd.randrange(0, 14))
        chunk = Chunk(path="cassette.yaml", text=text, source="file")
        got = [(c.value, c.start, c.end) for c in connection_strings._recorded_auth(chunk)]
        assert got == auth_by_line(text), repr(text)
        found["UL227"] += bool(got)
        got = [(c.value, c.start, c.end) for c in credential_files._netrc(chunk)]
        assert got == netrc_by_line(text), repr(text)
        found["UL200"] += bool(got)
    assert min(found.values()) > 100, found  # the generator reaches both rules' values
