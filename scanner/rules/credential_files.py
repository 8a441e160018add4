"""Credential files: private keys and the files tools keep logins in, read by their format.

Detectors read the format (netrc tokens, pgpass fields, Docker ``auths``, FileZilla and Firefox stores) instead of
guessing from names, so they find passwords a name-based rule cannot see and skip the parts of the file that are
not secret. Every detector works line by line with bounded patterns, so it also copes with the partial text of a
diff (only the added lines). Connection strings are in :mod:`scanner.rules.connection_strings`, infrastructure and
framework configuration in :mod:`scanner.rules.infra_config`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from scanner.chunk import Chunk
from scanner.finding import Confidence
from scanner.lazyre import lazy
from scanner.rules._util import b64decode_text, iter_lines, lines_holding
from scanner.rules.base import Candidate, Rule, register

H = Confidence.HIGH
M = Confidence.MEDIUM

# --------------------------------------------------------------------------------------------- private keys
# Any label before PRIVATE KEY (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP … BLOCK, and those tools write beside the
# standard ones: ECDSA, ED25519, SSH2 ENCRYPTED), the END line naming the same one.
_PEM = lazy(
    r"-----BEGIN (?P<kind>(?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY(?: BLOCK)?)-----"
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


# --------------------------------------------------------------------------------------------- netrc, pgpass
_NETRC_PW = lazy(r"(?:^|[ \t])password[ \t]+(?P<secret>[^\s]{1,200})")
_NETRC_INLINE = lazy(r"\bmachine[ \t]+[^\s]{1,253}[ \t]+login[ \t]+[^\s]{1,200}[ \t]+password[ \t]+"
                           r"(?P<secret>[^\s\"'`]{1,200})")
_NETRC_PATH = lazy(r"(?:^|/)[._]?netrc$")


def _netrc(chunk: Chunk) -> Iterator[Candidate]:
    text = chunk.text
    if _NETRC_PATH.search(chunk.path):
        lines: Iterable[tuple[int, str]] = iter_lines(text)
        rx = _NETRC_PW
    else:
        # Outside a netrc file (a Dockerfile or script writing one), the machine/login context must be on the line:
        # only the lines that say "machine" are read (found with str.find, not by splitting the whole text).
        lines = ((start, text[start:end]) for start, end in lines_holding(text, "machine"))
        rx = _NETRC_INLINE
    for off, line in lines:
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


register(
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
        id="UL209", title="Password hash", confidence=M,
        pattern=r"(?m)^[A-Za-z0-9_.@-]{1,64}:(?P<secret>\$(?:apr1|1|2[abxy]?|5|6|y|gy|7|argon2id?|argon2i|"
                r"scrypt|pbkdf2[a-z0-9-]{0,10})\$[./A-Za-z0-9$=,+-]{16,300}|\{SSHA?\}[A-Za-z0-9+/]{20,80}={0,2})"
                r"(?=[:\s]|$)",
        keywords=("$apr1$", "$1$", "$2a$", "$2b$", "$2x$", "$2y$", "$5$", "$6$", "$y$", "$gy$", "$7$", "$argon2",
                  "$scrypt$", "$pbkdf2", "{sha}", "{ssha}"),
        family="credential-file", revoke="change the password (hashes can be cracked offline)",
        description=".htpasswd and shadow-style user:hash lines",
    ),
)
