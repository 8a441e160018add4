"""Credential-bearing formats: private keys and files whose structure says where the secret is.

Detectors read the format (netrc tokens, pgpass fields, Docker ``auths``, Kubernetes ``Secret`` data, connection
strings) instead of guessing from names, so they find passwords a name-based rule cannot see and skip the parts of
the file that are not secret. Every detector works line by line with bounded patterns, so it also copes with the
partial text of a diff (only the added lines).
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

# --------------------------------------------------------------------------------------------- private keys
_PEM = lazy(
    r"-----BEGIN (?P<kind>(?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |SSH2 ENCRYPTED )?PRIVATE KEY(?: BLOCK)?)-----"
    r"(?P<body>[\s\S]{20,16384}?)-----END (?P=kind)-----"
)


def _private_keys(chunk: Chunk) -> Iterator[Candidate]:
    for m in _PEM.finditer(chunk.text):
        body = m.group("body")
        # A key body is base64 (possibly with headers, escaped newlines or quotes): mostly base64 characters.
        b64 = sum(c.isalnum() or c in "+/=" for c in body)
        if b64 < 40 or "..." in body or "…" in body:
            continue  # an elided example in documentation, not a usable key
        yield Candidate("UL100", m.group(0), m.start(), m.end())


_PPK = lazy(
    r"PuTTY-User-Key-File-[0-9]: [^\n]{1,80}\n(?:[^\n]{0,2000}\n){0,40}?Private-Lines: (?P<n>[0-9]{1,3})\r?\n"
)


def _putty_keys(chunk: Chunk) -> Iterator[Candidate]:
    text = chunk.text
    for m in _PPK.finditer(text):
        start = m.end()
        end = start
        for _ in range(int(m.group("n"))):
            nl = text.find("\n", end)
            end = len(text) if nl < 0 else nl + 1
        value = text[start:end].rstrip("\r\n")
        if value:
            yield Candidate("UL101", value, start, start + len(value))


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


# --------------------------------------------------------------------------------------------- netrc, pgpass
_NETRC_PW = lazy(r"(?:^|[ \t])password[ \t]+(?P<secret>[^\s]{1,200})")
_NETRC_INLINE = lazy(r"\bmachine[ \t]+[^\s]{1,253}[ \t]+login[ \t]+[^\s]{1,200}[ \t]+password[ \t]+"
                           r"(?P<secret>[^\s\"'`]{1,200})")
_NETRC_PATH = lazy(r"(?:^|/)[._]?netrc$")


def _netrc(chunk: Chunk) -> Iterator[Candidate]:
    is_netrc = bool(_NETRC_PATH.search(chunk.path))
    for off, line in iter_lines(chunk.text):
        # Outside a netrc file (a Dockerfile or script writing one), the machine/login context must be on the line.
        if not is_netrc and "machine" not in line:
            continue
        rx = _NETRC_PW if is_netrc else _NETRC_INLINE
        for m in rx.finditer(line):
            yield Candidate("UL200", m.group("secret"), off + m.start("secret"), off + m.end("secret"))


def _pgpass(chunk: Chunk) -> Iterator[Candidate]:
    for off, line in iter_lines(chunk.text):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        # host:port:database:username:password, where \: and \\ escape; the password is the rest of the line.
        i, colons = 0, 0
        while colons < 4:
            j = line.find(":", i)
            if j < 0:
                break
            if _escaped(line, j):
                i = j + 1
                continue
            colons += 1
            i = j + 1
        if colons == 4:
            value = line[i:].rstrip("\r")
            if value:
                yield Candidate("UL201", value, off + i, off + i + len(value))


def _escaped(line: str, j: int) -> bool:
    """Whether the character at ``j`` is preceded by an odd number of backslashes."""
    k = j
    while k > 0 and line[k - 1] == "\\":
        k -= 1
    return (j - k) % 2 == 1


# --------------------------------------------------------------------------------------------- URLs and DSNs
# scheme://user:password@host — any scheme (postgres, mysql, mongodb+srv, redis, amqp, jdbc:…, http, ftp…).
# The pattern starts at the literal "://" (fast to find); the scheme is checked by looking back from there.
# The host may be a template (`f"redis://:pw@{host}"`, `"…@{}/db".format(h)`, `${HOST}`): the password is still literal.
_URL_USERINFO = lazy(
    r"://(?P<user>[^\s:@/?#'\"<>`]{0,128}):(?P<secret>[^\s@/'\"<>`]{1,256})@(?P<host>[A-Za-z0-9_.%\[\]{}$-]{1,253})"
)
_SCHEME = lazy(r"[A-Za-z][A-Za-z0-9+.-]{1,30}$")


def _url_userinfo(chunk: Chunk, rule_id: str = "UL220") -> Iterator[Candidate]:
    text = chunk.text
    for m in _URL_USERINFO.finditer(text):
        if _SCHEME.search(text, max(0, m.start() - 31), m.start()) is None:
            continue
        yield Candidate(rule_id, m.group("secret"), m.start("secret"), m.end("secret"))


_GIT_CRED_PATH_RE = r"(?:^|/)\.?git-credentials$"
_GIT_CRED_PATH = lazy(_GIT_CRED_PATH_RE)


# git's store helper writes one URL a line; a user name with an unencoded "@" (an e-mail address) or a password
# with "#", "@" or "/" still ends at the host after the *last* "@", and the user part holds no ":".
_GIT_CRED_LINE = lazy(r"(?m)^[ \t]*[A-Za-z][A-Za-z0-9+.-]{1,30}://(?P<user>[^:\s]{0,256}):(?P<secret>\S{1,256})"
                      r"@(?P<host>[A-Za-z0-9_.%\[\]-]{1,253})(?::[0-9]{1,5})?(?:/\S*)?[ \t]*\r?$")


def _git_credentials(chunk: Chunk) -> Iterator[Candidate]:
    seen: set[int] = set()
    for m in _GIT_CRED_LINE.finditer(chunk.text):
        seen.add(m.start("secret"))
        yield Candidate("UL202", m.group("secret"), m.start("secret"), m.end("secret"))
    for c in _url_userinfo(chunk, "UL202"):
        if c.start not in seen and not any(s <= c.start < s + 257 for s in seen):
            yield c


# --------------------------------------------------------------------------------------------- saved logins
# FileZilla keeps site passwords in its XML (plain, or base64 with encoding="base64"); Firefox keeps saved logins in
# logins.json, encrypted with the profile's key4.db, which sits in the same profile folder and needs no password by
# default; SQL dumps carry users' password hashes, which can be cracked offline.
_FILEZILLA_PASS = lazy(r"<Pass(?:\s+encoding=\"(?:base64|plain)\")?>(?P<secret>[^<\s]{1,512})</Pass>")
_FIREFOX_PASS = lazy(r"\"encryptedPassword\"\s{0,4}:\s{0,4}\"(?P<secret>[A-Za-z0-9+/=]{16,4096})\"")


def _filezilla(chunk: Chunk) -> Iterator[Candidate]:
    for m in _FILEZILLA_PASS.finditer(chunk.text):
        yield Candidate("UL211", m.group("secret"), m.start("secret"), m.end("secret"))


def _firefox_logins(chunk: Chunk) -> Iterator[Candidate]:
    for m in _FIREFOX_PASS.finditer(chunk.text):
        yield Candidate("UL212", m.group("secret"), m.start("secret"), m.end("secret"))


def _url_not_git_credentials(chunk: Chunk) -> Iterator[Candidate]:
    if _GIT_CRED_PATH.search(chunk.path):
        return  # UL202 owns these lines
    yield from _url_userinfo(chunk)

# --------------------------------------------------------------------------------------------- Docker config
_DOCKER_AUTH = lazy(
    r"\"(?P<key>auth|identitytoken|registrytoken)\"\s{0,4}:\s{0,4}\"(?P<secret>[^\"\s]{4,4096})\""
)


def _docker_auths(chunk: Chunk) -> Iterator[Candidate]:
    for m in _DOCKER_AUTH.finditer(chunk.text):
        v = m.group("secret")
        if m.group("key") == "auth":
            decoded = b64decode_text(v)
            # auth is base64("user:password"); only a non-empty password is a secret.
            if decoded is None or ":" not in decoded or not decoded.split(":", 1)[1].strip():
                continue
        yield Candidate("UL203", v, m.start("secret"), m.end("secret"))


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


# --------------------------------------------------------------------------------------------- recorded HTTP
_AUTH_KEY_LINE = lazy(r"(?i)^[ \t-]{0,40}[\"']?authorization[\"']?[ \t]{0,4}:[ \t]*$")
_AUTH_ITEM = lazy(r"(?i)^[ \t]{0,40}-[ \t]{1,4}[\"']?(?:Bearer|Token|Basic|Bot)[ \t]{1,4}"
                  r"(?P<secret>[A-Za-z0-9._~+/=-]{16,2000})")


def _recorded_auth(chunk: Chunk) -> Iterator[Candidate]:
    """VCR/recorded-HTTP YAML: the header's values are a list on the lines below ``Authorization:``."""
    after_key = False
    for off, line in iter_lines(chunk.text):
        m = _AUTH_ITEM.match(line) if after_key else None
        if m:
            yield Candidate("UL227", m.group("secret"), off + m.start("secret"), off + m.end("secret"))
            continue
        after_key = bool(_AUTH_KEY_LINE.match(line))


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
        id="UL100", title="Private key", confidence=H,
        detect=_private_keys, keywords=("private key",), preview_prefix="-----BEGIN", family="private-key",
        revoke="replace the key pair and remove the public key wherever it is trusted",
        description="PEM private keys (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP), also inside JSON "
        "such as Google service-account files",
    ),
    Rule(
        id="UL101", title="PuTTY private key", confidence=H,
        detect=_putty_keys, keywords=("putty-user-key-file-",),
        family="private-key", revoke="replace the key pair and remove the public key wherever it is trusted",
        description="The Private-Lines block of a .ppk file",
    ),
    Rule(
        id="UL200", title=".netrc password", confidence=H,
        detect=_netrc, keywords=("password",), family="credential-file",
        revoke="change the password of that login on that machine",
        description="password tokens in .netrc / _netrc files, and complete machine/login/password entries elsewhere",
    ),
    Rule(
        id="UL201", title=".pgpass password", confidence=H,
        detect=_pgpass, path_pattern=r"(?:^|/)\.?pgpass(?:\.conf)?$", family="credential-file",
        revoke="ALTER ROLE … PASSWORD on the database",
        description="The password field of host:port:db:user:password lines",
    ),
    Rule(
        id="UL202", title=".git-credentials password", confidence=H,
        detect=_git_credentials, path_pattern=_GIT_CRED_PATH_RE, family="credential-file",
        revoke="revoke the token at the git host",
        description="Credentials stored by git's store helper",
    ),
    Rule(
        id="UL211", title="FileZilla saved password", confidence=H,
        detect=_filezilla, path_pattern=r"(?:^|/)(?:recentservers|sitemanager|filezilla)\.xml$",
        keywords=("<pass",), family="credential-file",
        revoke="change the FTP/SFTP password, then re-save the site without it (FileZilla: use a master password)",
        description="<Pass> of FileZilla's recentservers.xml, sitemanager.xml and filezilla.xml (plain or base64)",
    ),
    Rule(
        id="UL212", title="Firefox saved login", confidence=M,
        detect=_firefox_logins, path_pattern=r"(?:^|/)logins\.json$", keywords=("encryptedpassword",),
        family="credential-file",
        revoke="change the saved passwords; a profile's key4.db (no primary password by default) decrypts them",
        description="encryptedPassword of a Firefox profile's logins.json",
    ),
    Rule(
        id="UL213", title="Password hash in a SQL dump", confidence=M,
        pattern=r"'(?P<secret>\$(?:2[abxy]|argon2id|argon2i|argon2d|6|5|y|gy)\$[./A-Za-z0-9$=,+-]{20,200})'",
        path_pattern=r"\.sql(?:\.txt)?$", keywords=("$2a$", "$2b$", "$2y$", "$argon2", "$6$", "$5$", "$y$"),
        family="credential-file",
        revoke="force a password reset for these users: hashes in a dump can be cracked offline",
        description="bcrypt, argon2 and sha-crypt hashes in the rows of SQL dumps",
    ),
    Rule(
        id="UL203", title="Docker registry credentials", confidence=H,
        detect=_docker_auths, keywords=('"auth"', '"identitytoken"', '"registrytoken"'), family="credential-file",
        revoke="revoke the registry token or change the password; docker logout",
        description="config.json auths (base64 user:password decoded and checked) and identity tokens",
    ),
    Rule(
        id="UL204", title="npm / Yarn registry token", confidence=H,
        pattern=r"(?im)(?:(?:^|:)(?:_authToken|_auth|_password)|^[ \t]{0,40}[\"']?(?:npmAuthToken|npmAuthIdent))"
                r"[\"']?[ \t]{0,4}(?:=|:)[ \t]{0,4}[\"']?"
                r"(?P<secret>[^\s\"'#]{8,2000})",
        keywords=("_authtoken", "_auth", "_password", "npmauthtoken", "npmauthident"), family="credential-file",
        revoke="https://www.npmjs.com/settings/~/tokens",
        description=".npmrc _authToken/_auth/_password and .yarnrc.yml npmAuthToken/npmAuthIdent",
    ),
    Rule(
        id="UL205", title=".pypirc password", confidence=H,
        pattern=r"(?im)^[ \t]{0,8}password[ \t]{0,4}[=:][ \t]{0,4}(?P<secret>[^\s]{1,2000})",
        keywords=("password",), path_pattern=r"(?:^|/)\.?pypirc$", family="credential-file",
        revoke="https://pypi.org/manage/account/token/", description="Upload passwords and tokens in .pypirc",
    ),
    Rule(
        id="UL207", title=".s3cfg secret key", confidence=H,
        pattern=r"(?im)^[ \t]{0,8}(?:secret_key|access_token|gpg_passphrase)[ \t]{0,4}=[ \t]{0,4}"
                r"(?P<secret>[^\s]{8,2000})",
        keywords=("secret_key", "access_token", "gpg_passphrase"), path_pattern=r"(?:^|/)\.?s3cfg$",
        family="credential-file", revoke="rotate the key at the S3 provider",
        description="secret_key and passphrases in s3cmd configuration",
    ),
    Rule(
        id="UL208", title="Kubernetes kubeconfig credential", confidence=H,
        detect=_kubeconfig, keywords=("client-key-data", "token:", "password:"), family="credential-file",
        revoke="rotate the client certificate or service-account token in the cluster",
        description="client-key-data (decoded, must be a private key), user tokens and passwords in kubeconfig",
    ),
    Rule(
        id="UL209", title="Password hash", confidence=M,
        pattern=r"(?m)^[A-Za-z0-9_.@-]{1,64}:(?P<secret>\$(?:apr1|1|2[abxy]?|5|6|y|gy|7|argon2id?|argon2i|"
                r"scrypt|pbkdf2[a-z0-9-]{0,10})\$[./A-Za-z0-9$=,+-]{16,300}|\{SSHA?\}[A-Za-z0-9+/]{20,80}={0,2})"
                r"(?=[:\s]|$)",
        keywords=("$apr1$", "$1$", "$2a$", "$2b$", "$2x$", "$2y$", "$5$", "$6$", "$y$", "$gy$", "$7$", "$argon2",
                  "$scrypt$", "$pbkdf2", "{sha}", "{ssha}"),
        family="credential-file", revoke="change the password (hashes can be cracked offline)",
        description=".htpasswd and shadow-style user:hash lines",
    ),
    Rule(
        id="UL210", title="Kubernetes Secret value", confidence=H,
        detect=_k8s_secret, keywords=("kind: secret",), family="credential-file",
        revoke="rotate the credential and re-create the Secret (or use an external secrets operator)",
        description="data: values (base64-decoded and checked) and stringData: values of Secret manifests",
    ),
    Rule(
        id="UL220", title="Password in a connection URL", confidence=H,
        detect=_url_not_git_credentials, keywords=("://",), family="connection-string",
        revoke="change the password of that database/service user",
        description="scheme://user:password@host for any scheme (postgres, mysql, mongodb+srv, redis, amqp, "
        "jdbc, http(s), ftp…)",
    ),
    Rule(
        id="UL221", title="Password in a connection string", confidence=H,
        pattern=r"(?i)(?:server|data source|host|hostname|address|addr|uid|user id|username|initial catalog)"
                r"[ \t]{0,4}=[^;\n]{1,200};[^\n]{0,400}?(?<![A-Za-z0-9_])(?:password|pwd)[ \t]{0,4}=[ \t]{0,4}"
                r"(?P<q>['\"]?)(?P<secret>[^;\"'\s]{1,200})",
        keywords=("password", "pwd"), family="connection-string",
        revoke="change the password of that database user",
        description="ADO.NET / ODBC / OLE DB strings (Server=…;Password=…)",
    ),
    Rule(
        id="UL222", title="Password in a URL query or JDBC property", confidence=M,
        pattern=r"(?i)(?:[?&;])(?:password|passwd|pwd|pass|sharedaccesskey|access_token|apikey|api_key)="
                r"(?P<secret>[^&;\s\"'#<>`]{4,400})",
        keywords=("password=", "passwd=", "pwd=", "pass=", "sharedaccesskey=", "access_token=", "apikey=",
                  "api_key="),
        family="connection-string", revoke="change the password / rotate the key",
        description="?password=… / ;password=… in URLs and JDBC strings, Azure SharedAccessKey=",
    ),
    Rule(
        id="UL223", title="Password on a command line", confidence=H,
        # -u/--user name a password only after "user:" (curl -u user alone prompts for it); a value never holds a
        # backtick or CJK punctuation (a command quoted in Markdown prose ends there).
        pattern=r"\b(?:curl|wget|http|httpie|sshpass|htpasswd|ftp|lftp)\b[^\n]{0,200}?\s(?:(?:-u|--user)[ =]?[\"']?"
                r"[^\s:\"'@`]{1,64}:|(?:--http-password|--password|-p)[ =]?[\"']?)"
                r"(?P<secret>[^\s\"'@,;`\u3000-\u303f\uff00-\uffef]{4,128})"
                r"|\bmysql(?:dump|admin|import|sh)?\b[^\n]{0,200}?\s(?:-p|--password=)[\"']?"
                r"(?P<bare>[^\s\"'@,;`\u3000-\u303f\uff00-\uffef]{4,128})",
        keywords=("curl", "wget", "http", "sshpass", "ftp", "mysql"), family="connection-string",
        revoke="change the password; pass credentials through a netrc file or the environment instead",
        description="curl -u user:password, wget --http-user, sshpass -p, mysql -pPASSWORD and similar",
    ),
    Rule(
        id="UL224", title="Password passed to a login or credential call", confidence=H,
        pattern=r"(?:(?:\bauth|basic_auth|http_auth|\bcredentials?)[ \t]{0,4}=[ \t]{0,4}[(\[]|"
                r"(?:HTTPBasicAuth|HTTPDigestAuth|BasicAuth|NetworkCredential|PasswordAuthentication|"
                r"UsernamePasswordCredentials|UsernamePasswordAuthenticationToken|\.login|\.authenticate|\.auth|"
                r"\.basic_auth|with_credentials|\.connect)\()[ \t]{0,4}[\"'][^\"'\n]{1,100}[\"'][ \t]{0,4},[ \t]{0,4}"
                r"[\"'](?P<secret>[^\"'\n]{4,200})[\"']"
                r"|\bset_?[Pp]assword\([ \t]{0,4}[\"'](?P<bare>[^\"'\n]{4,200})[\"'][ \t]{0,4}\)",
        keywords=("auth", "login", "credential", "setpassword", "set_password", ".connect("), family="code-call",
        revoke="change the password; read it from the environment or a vault reference instead",
        description="auth=(\"user\", \"pw\"), HTTPBasicAuth/NetworkCredential(…), smtp.login(…), setPassword(\"…\")",
    ),
    Rule(
        id="UL225", title="Credential in an Authorization header", confidence=H,
        pattern=r"(?i)authorization[\"']?[ \t]{0,4}[:=][ \t]{0,4}[\"']?(?:Bearer|Token|Basic|Bot)[ \t]{1,4}"
                r"(?P<secret>[A-Za-z0-9._~+/=-]{16,2000})",
        keywords=("authorization",), family="code-call",
        revoke="revoke the token at its issuer (or change the password behind a Basic header)",
        description="Bearer/Token/Basic credentials written into an Authorization header (code, curl, .http files)",
    ),
    Rule(
        id="UL227", title="Credential in a recorded Authorization header", confidence=H,
        detect=_recorded_auth, keywords=("authorization",), family="code-call",
        revoke="revoke the token at its issuer (or change the password behind a Basic header)",
        description="Bearer/Token/Basic values listed under Authorization: in recorded HTTP (VCR cassettes)",
    ),
    Rule(
        id="UL228", title="Bearer or Basic credential in a header value", confidence=M,
        pattern=r"[\"'](?:Bearer|Basic)[ \t]{1,4}(?P<secret>[A-Za-z0-9._~+/=-]{20,2000})[\"']",
        keywords=("bearer ", "basic "), family="code-call", min_entropy=3.5,
        revoke="revoke the token at its issuer (or change the password behind a Basic header)",
        description="\"Bearer …\"/\"Basic …\" strings held apart from their header name (Postman collections, "
        "header lists, test fixtures); Basic values must decode to user:password",
    ),
    Rule(
        id="UL226", title="Password in a key=value connection string", confidence=H,
        pattern=r"(?i)\b(?:host|hostaddr|dbname|user|service)=[^\s\"';]{1,100}[ \t][^\"'\n]{0,300}?"
                r"(?<![A-Za-z0-9_])password=(?P<secret>[^\s\"';&]{1,128})"
                r"|(?<![A-Za-z0-9_])password=(?P<bare>[^\s\"';&]{1,128})[ \t][^\"'\n]{0,300}?"
                r"\b(?:host|hostaddr|dbname|user)=",
        keywords=("password=",), family="connection-string",
        revoke="change the password of that database user",
        description="libpq-style DSNs (host=… user=… password=…) inside code and config",
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
        family="xml", revoke="change the password / rotate the key",
        description="<password>…</password> elements and <add key=\"…Password\" value=\"…\"/> settings",
    ),
)
