"""Secrets in infrastructure and application configuration: AWS key pairs, kubeconfig and Kubernetes ``Secret``
manifests, Terraform state, framework keys (WordPress, Django/Flask, Rails) and XML settings.

Detectors read the structure (a Secret's ``data:`` block, state attributes, a key id next to its secret) instead of
guessing from names. Every detector works line by line with bounded patterns, so it also copes with the partial
text of a diff (only the added lines).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from scanner.chunk import Chunk
from scanner.finding import Confidence
from scanner.lazyre import lazy
from scanner.rules._util import NAME_SEP, b64decode_text, iter_lines, shannon_entropy
from scanner.rules.base import Candidate, Rule, register

H = Confidence.HIGH
M = Confidence.MEDIUM

# --------------------------------------------------------------------------------------------- AWS pairing
_AWS_ID = lazy(r"A(?<![A-Z0-9]A)(?:KIA|SIA)[A-Z2-7]{16}(?![A-Z0-9])")
_AWS_SECRET_SHAPE = lazy(r"(?<![A-Za-z0-9/+=])(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")


def _aws_paired(chunk: Chunk) -> Iterator[Candidate]:
    """A 40-character secret key within three lines of an access key id: the pair is what an attacker needs."""
    text = chunk.text
    lines = list(iter_lines(text))
    id_lines = [i for i, (_, line) in enumerate(lines) if _AWS_ID.search(line)]
    seen: set[int] = set()
    for i in id_lines:
        for j in range(max(0, i - 3), min(len(lines), i + 4)):
            if j in seen:
                continue
            seen.add(j)
            off, line = lines[j]
            for m in _AWS_SECRET_SHAPE.finditer(line):
                v = m.group("secret")
                if _looks_random_b64(v):
                    yield Candidate("UL012", v, off + m.start(), off + m.end())


def _looks_random_b64(v: str) -> bool:
    return (any(c.islower() for c in v) and any(c.isupper() for c in v)
            and any(c.isdigit() or c in "/+" for c in v) and shannon_entropy(v) >= 4.2)


# --------------------------------------------------------------------------------------------- kubeconfig
_KUBE_KEY_DATA = lazy(r"client-key-data:\s{0,4}[\"']?(?P<secret>[A-Za-z0-9+/=]{40,20000})")
_KUBE_TOKEN = lazy(r"^[ \t-]{0,40}(?:token|password):[ \t]{0,4}[\"']?(?P<secret>[^\s\"'#]{8,4096})",
                         re.MULTILINE)


def _kubeconfig(chunk: Chunk) -> Iterator[Candidate]:
    text = chunk.text
    for m in _KUBE_KEY_DATA.finditer(text):
        decoded = b64decode_text(m.group("secret"))
        if decoded is not None and "PRIVATE KEY" in decoded:
            yield Candidate("UL208", m.group("secret"), m.start("secret"), m.end("secret"))
    if "kind: Config" in text or re.search(r"(?:^|/)(?:\.kube/config|kubeconfig[^/]*)$", chunk.path):
        for m in _KUBE_TOKEN.finditer(text):
            yield Candidate("UL208", m.group("secret"), m.start("secret"), m.end("secret"))


# --------------------------------------------------------------------------------------------- Kubernetes Secret
_K8S_BLOCK = lazy(r"^(?P<indent>[ \t]{0,20})(?P<kind>data|stringData):[ \t]*$")
_K8S_ITEM = lazy(r"^(?P<indent>[ \t]{1,40})(?P<key>[A-Za-z0-9_.-]{1,253}):[ \t]{0,4}(?P<q>[\"']?)"
                       r"(?P<secret>[^\s\"'#]{1,20000})(?P=q)[ \t]*$")


# Keys of a Secret's data that name connection details rather than credentials.
_K8S_NOT_SECRET = frozenset({"username", "user", "login", "host", "hostname", "port", "database", "db", "dbname",
                             "name", "url", "endpoint", "region", "email", "namespace", "ca.crt", "tls.crt"})


def _k8s_secret(chunk: Chunk) -> Iterator[Candidate]:
    """``data:`` values are base64: decode and keep the ones that hold text; ``stringData:`` values are plain."""
    lines = list(iter_lines(chunk.text))
    block: str | None = None
    block_indent = -1
    item_indent = -1  # the indent of the block's keys: deeper lines are nested values, not keys of the Secret
    for off, line in lines:
        m = _K8S_BLOCK.match(line)
        if m:
            block, block_indent, item_indent = m.group("kind"), len(m.group("indent")), -1
            continue
        if block is None:
            continue
        indent = len(line) - len(line.lstrip())
        if line.strip() and indent <= block_indent:
            block = None
            continue
        im = _K8S_ITEM.match(line)
        if item_indent < 0 and line.strip():
            item_indent = indent
        # A kubeconfig or config file held in a block scalar (`config: |`) has lines like `cluster: kind-x`: they
        # are the content of one value, not keys of the Secret.
        if not im or indent != item_indent:
            continue
        v = im.group("secret")
        if v in ("|", "|-", "|+", ">", ">-", ">+"):
            continue
        if im.group("key").lower() in _K8S_NOT_SECRET:
            continue
        if block == "data":
            decoded = b64decode_text(v)
            if decoded is None or not decoded.strip() or decoded.startswith("-----BEGIN CERTIFICATE"):
                continue
        yield Candidate("UL210", v, off + im.start("secret"), off + im.end("secret"))


# --------------------------------------------------------------------------------------------- Terraform state
_TF_ATTR = lazy(
    r"\"(?P<name>[a-z0-9_]{0,40}(?:password|secret|token|private_key|access_key|api_key|connection_string"
    r"|primary_key|secondary_key|master_key|key_material)[a-z0-9_]{0,40})\"\s{0,4}:\s{0,4}\"(?P<secret>[^\"]{6,8192})\""
)


def _tfstate(chunk: Chunk) -> Iterator[Candidate]:
    for m in _TF_ATTR.finditer(chunk.text):
        name = m.group("name")
        if name.endswith(("_id", "_arn", "_name", "_version", "_type", "_hash", "_fingerprint")):
            continue
        yield Candidate("UL240", m.group("secret"), m.start("secret"), m.end("secret"))


# --------------------------------------------------------------------------------------------- rails master.key
def _rails_master_key(chunk: Chunk) -> Iterator[Candidate]:
    m = re.match(r"\s*(?P<secret>[0-9a-f]{32})\s*$", chunk.text)
    if m:
        yield Candidate("UL232", m.group("secret"), m.start("secret"), m.end("secret"))


register(
    Rule(
        id="UL012", title="AWS secret access key (next to its key id)", confidence=M,
        detect=_aws_paired, keywords=("akia", "asia"), family="aws",
        revoke="https://console.aws.amazon.com/iam/home#/security_credentials",
        description="A 40-character secret key within three lines of an AWS access key id",
    ),
    Rule(
        id="UL013", title="AWS session token", confidence=M,
        pattern=r"(?i)aws_?session_?token" + NAME_SEP + r"(?P<secret>[A-Za-z0-9/+=]{100,2000})",
        keywords=("aws_session_token", "awssessiontoken"), family="aws",
        revoke="temporary credentials expire; revoke the role session in IAM",
        description="Temporary session tokens in credentials files and env",
    ),
    Rule(
        id="UL208", title="Kubernetes kubeconfig credential", confidence=H,
        detect=_kubeconfig, keywords=("client-key-data", "token:", "password:"), family="credential-file",
        revoke="rotate the client certificate or service-account token in the cluster",
        description="client-key-data (decoded, must be a private key), user tokens and passwords in kubeconfig",
    ),
    Rule(
        id="UL210", title="Kubernetes Secret value", confidence=H,
        detect=_k8s_secret, keywords=("kind: secret",), family="credential-file",
        revoke="rotate the credential and re-create the Secret (or use an external secrets operator)",
        description="data: values (base64-decoded and checked) and stringData: values of Secret manifests",
    ),
    Rule(
        id="UL230", title="WordPress wp-config secret", confidence=H,
        pattern=r"(?i)define\(\s{0,4}['\"](?:DB_PASSWORD|(?:SECURE_)?AUTH_(?:KEY|SALT)|LOGGED_IN_(?:KEY|SALT)"
                # wp-config-sample.php aligns the values with up to a dozen spaces after the comma.
                r"|NONCE_(?:KEY|SALT))['\"]\s{0,4},\s{0,16}(?P<q>['\"])(?P<secret>(?:(?!(?P=q)).){1,200})(?P=q)",
        keywords=("define(", "define ("), family="framework",
        revoke="change the database password; regenerate salts at https://api.wordpress.org/secret-key/1.1/salt/",
        description="DB_PASSWORD and the authentication keys/salts in wp-config.php",
    ),
    Rule(
        id="UL231", title="Framework secret key", confidence=H,
        pattern=r"(?:\bSECRET_KEY|\bsecret_key_base|\bapp\.secret_key|\[['\"]SECRET_KEY['\"]\]|\bSECRET_KEY_BASE)"
                + NAME_SEP + r"(?P<secret>[^\s\"'`]{16,400})",
        keywords=("secret_key",), family="framework", min_entropy=3.0,
        revoke="generate a new key (sessions and signed data become invalid)",
        description="Django/Flask SECRET_KEY, Rails secret_key_base",
    ),
    Rule(
        id="UL232", title="Rails master key", confidence=H,
        detect=_rails_master_key, path_pattern=r"(?:^|/)config/(?:master|credentials/[A-Za-z0-9_-]{1,40})\.key$",
        family="framework", revoke="rotate every credential in credentials.yml.enc and generate a new key",
        description="config/master.key and per-environment credential keys",
    ),
    Rule(
        id="UL240", title="Terraform state secret", confidence=H,
        detect=_tfstate, path_pattern=r"\.tfstate(?:\.backup)?$", family="terraform",
        revoke="rotate the resource's credential; move state to an encrypted remote backend",
        description="Passwords, tokens and keys stored in .tfstate attributes",
    ),
    Rule(
        id="UL250", title="Password in XML", confidence=M,
        pattern=r"(?i)(?:<(?P<tag>[A-Za-z_:.-]{0,40}(?:password|passwd|pwd|secret|token|apikey|api_key|"
                r"accesskey|access_key|privatekey)[A-Za-z_:.-]{0,40})(?:\s[^<>]{0,200})?>(?P<secret>[^<\s]{1,400})"
                r"</(?P=tag)>|\bkey=\"[^\"]{0,80}(?:password|passwd|pwd|secret|token|apikey|api_key)[^\"]{0,80}\"\s{1,8}"
                r"value=\"(?P<bare>[^\"]{1,400})\")",
        keywords=("password", "passwd", "pwd", "secret", "token", "apikey", "api_key", "accesskey", "access_key",
                  "privatekey"),
        requires=("</", '="'),  # the closing tag, or the key="…" value="…" pair
        family="xml", revoke="change the password / rotate the key",
        description="<password>…</password> elements and <add key=\"…Password\" value=\"…\"/> settings",
    ),
)
