"""Filters about the value itself: references, hashes and ids, public material, encodings, key fragments, character
sets and migrated allowlists (placeholders and allow comments: :mod:`scanner.filters.placeholders`).
"""

from __future__ import annotations

import itertools
import re

from scanner.detect_secrets import NOTEBOOK_B64_LINE
from scanner.filters.base import (
    _ASSIGNED_NAME,
    _ENV_LIKE,
    _SECRETISH,
    NAME_BASED,
    Context,
    _before,
    _name_based,
    _name_parts,
    _password_named,
    _words_only,
    assigned_name,
    drop_filter,
    holds_any,
)
from scanner.lazyre import lazy

# ---------------------------------------------------------------------------------------------- references
_SCHEMES = r"op|unleak|vault|secret|secrets|aws-sm|gcp-sm|azure-kv|sm|ssm|doppler|infisical|bws|akv|gcpsm|awssm"
# `op://…`, `ssm:/path`, `arn:aws:secretsmanager:…`, `projects/p/secrets/name`; and a bare path under a scheme's name
# (`secret/data/app`, `vault/kv/db`), lower-case as such paths are written: a base64 token that merely starts with
# `SM/` or `op/` (about one in 30,000 random ones) is no reference.
_REFERENCE = lazy(
    r"^(?:(?i:" + _SCHEMES + r"|arn:aws:secretsmanager|arn:aws:ssm)(?::|://)|(?i:projects/[^/]{1,100}/secrets)[:/]"
    r"|(?:" + _SCHEMES + r")/[a-z0-9_.#-]+(?:/[A-Za-z0-9_.#-]+)*$)",
)


_SEALED_WORDS = ("secure", "encrypted", "ciphertext", "sealed")  # what a sealed value's name starts with


@drop_filter
def reference(ctx: Context) -> bool:
    """Secret references (``op://``, ``unleak://``, vault paths, secret manager ARNs): safe to commit by design."""
    v = ctx.value.strip()
    if _REFERENCE.match(v):
        return True
    # `password: !vault |` (Ansible vault) and `ENC[...]` (sops) are encrypted, not plaintext.
    if ctx.rule.family in NAME_BASED and (v.startswith(("!vault", "ENC[", "$ANSIBLE_VAULT", "vault:"))
                                          or (v.startswith("AgA") and len(v) >= 300)):
        return True  # (a sealed secret's ciphertext, `AgA…`, is hundreds of characters; a token may start so)
    # Travis CI's `secure: "…"` and values named encrypted…/ciphertext are encrypted for the repository by design
    # (only the CI service holds the key), like sealed secrets; a guess from the entropy or from a key name
    # (`encryptedKey = "…"`) on them is not a plaintext secret.
    if ctx.rule.family not in ("detect-secrets", "generic") or not holds_any(ctx.line, _SEALED_WORDS):
        return False
    parts = _name_parts(assigned_name(ctx))
    return parts == ["secure"] or (bool(parts) and parts[0] in ("encrypted", "ciphertext", "sealed"))


_ENV_READ = lazy(
    r"(?:os\.environ|os\.getenv|getenv\(|process\.env|ENV\[|ENV\.fetch|System\.getenv|\benv\(|\bconfig\(|"
    r"settings\.|import\.meta\.env|Deno\.env|Environment\.GetEnvironmentVariable|os\.Getenv|os\.LookupEnv|"
    r"viper\.Get|\$_ENV|\$_SERVER|getenv\b|secrets\.[A-Z_]+|vars\.[A-Z_]+|\benv\.[A-Z_]+|"
    r"Rails\.application\.credentials|credentials\.dig|keyring\.get_password|\.get_secret_value\(|"
    r"lookup\(|var\.[a-z_]+|data\.[a-z_]+\.|module\.[a-z_]+\.)"
)


@drop_filter
def env_read(ctx: Context) -> bool:
    """The value is code that reads the environment, a config or a secret store, not a literal."""
    return bool(_ENV_READ.search(ctx.value))


# ---------------------------------------------------------------------------------------------- hashes and ids
_LOCKFILES = lazy(
    r"(?:^|/)(?:package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|bun\.lock|poetry\.lock|"
    r"Pipfile\.lock|uv\.lock|pdm\.lock|Cargo\.lock|go\.sum|composer\.lock|Gemfile\.lock|packages\.lock\.json|"
    r"flake\.lock|requirements[^/]*\.txt|mix\.lock|pubspec\.lock|Podfile\.lock|gradle\.lockfile|\.terraform\.lock\.hcl)$"
)
# `sha512-…` (SRI, npm), `sha256:…`, Go's `h1:…`; `h1-`, `md5-` and `blake2b-` are no format, and a random token
# starts so (one base64url token in 260,000 starts `h1-`).
_LOWER, _UPPER = frozenset("abcdefghijklmnopqrstuvwxyz"), frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_INTEGRITY = lazy(r"^(?:sha(?:1|224|256|384|512)[-:]|(?:md5|h1|blake2b?):)[A-Za-z0-9+/=_-]{16,}$")


_PASSWORD_HASH = lazy(r"^(?:\$(?:2[abxy]?|5|6|y|gy|7|argon2id?|argon2i|scrypt|pbkdf2[a-z0-9-]{0,10}|apr1|1)\$"
                      r"[./A-Za-z0-9$=,+-]{16,300}|(?:pbkdf2_sha(?:1|256|512)|bcrypt(?:_sha256)?|argon2|scrypt)"
                      r"\$[A-Za-z0-9$=,+./-]{16,300}|\{SSHA?\}[A-Za-z0-9+/]{20,80}={0,2})$")


@drop_filter
def password_hash(ctx: Context) -> bool:
    """A password hash under a password name (``"password": "$2a$11$…"``, Django's ``pbkdf2_sha256$…``)."""
    return _name_based(ctx) and bool(_PASSWORD_HASH.match(ctx.value.strip()))


@drop_filter
def lockfile_hash(ctx: Context) -> bool:
    """Integrity hashes in lockfiles and SRI strings (``sha512-…``, ``h1:…``)."""
    if _INTEGRITY.match(ctx.value.strip()):
        return True
    return bool(_LOCKFILES.search(ctx.path)) and ctx.rule.family in NAME_BASED | {"connection-string"}


_HEX = lazy(r"^[0-9a-f]{7,40}$|^[0-9A-F]{40}$")
# Commit-ish names (one word part of the assigned name) and commit URLs: where a hex string is a git object id.
_COMMITISH_PART = frozenset({"sha", "sha1", "commit", "commits", "rev", "revision", "ref", "refs", "hash", "checkout",
                             "head", "oid", "parent", "tree", "blob", "tag", "merge", "gitsha", "githash",
                             "changeset"})
_COMMIT_URL = lazy(r"/(?:commits?|tree|blob|compare|-/commit)/[0-9a-fA-F]{7,40}|[?&](?:rev|sha|ref|commit|h)=")
_SECRET_PART = lazy(r"(?i)pass|pwd|secret|token|key|auth|cred|private|signature|bearer|session|cookie")


@drop_filter
def git_sha(ctx: Context) -> bool:
    """Git object ids: hex under a commit-ish name (sha, commit, rev, ref) or in a commit URL, never a secret name."""
    v = ctx.value.strip()
    if not _name_based(ctx) or not _HEX.match(v):
        return False
    if _COMMIT_URL.search(ctx.line):
        return True
    parts = _name_parts(assigned_name(ctx))
    if any(p in _COMMITISH_PART for p in parts):
        return True
    if parts and _SECRET_PART.search("".join(parts)):
        return False  # GITHUB_TOKEN=<40 hex>, oauth_token: …, DD_APP_KEY=…: the name says secret, not the shape
    # No name (or a neutral one): a full 40-hex id is a SHA; a shorter one only with git words on the line.
    return len(v) == 40 or bool(re.search(r"(?i)\b(?:commit|sha|rev|revision|checkout|cherry-pick|merge|git)\b",
                                          ctx.line))


_UUID = lazy(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


@drop_filter
def uuid(ctx: Context) -> bool:
    """UUIDs matched by a name-based rule (ids of things, not secrets; Heroku's UUID keys opt out)."""
    return _name_based(ctx) and bool(_UUID.match(ctx.value.strip()))


_CHECKSUM_NAME = lazy(
    r"(?i)(?:checksum|check_sum|sha1|sha256|sha512|sha-256|md5|digest|integrity|etag|fingerprint|hash(?!ed_pass)"
    r"|crc32|content[_-]?md5|nonce_?hash|commit|revision)[A-Za-z0-9_.-]{0,30}[\"']?\s{0,4}(?:=|:|=>)"
)


@drop_filter
def checksum(ctx: Context) -> bool:
    """Checksums named as such (``sha256 = "…"``, ``integrity:``, ``etag``) found by a name-based rule."""
    if not _name_based(ctx):
        return False
    v = ctx.value.strip()
    m = _CHECKSUM_NAME.search(_before(ctx.line, v)[-80:])
    return bool(m) and bool(re.fullmatch(r"[0-9a-fA-F]{16,128}|[A-Za-z0-9+/]{20,90}={0,2}", v))


# ---------------------------------------------------------------------------------------------- public material
_PUBLIC_MARKERS = lazy(
    r"(?:-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP )?PUBLIC KEY|-----BEGIN CERTIFICATE|"
    r"^(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp\d+|sk-ssh-ed25519@openssh\.com) AAAA)"
)
_PUBLIC_NAME = lazy(r"(?i)(?:public[_.-]?key|pub[_.-]?key|publishable|(?<![a-z])pk_(?:live|test)_|"
                          r"cert(?:ificate)?s?\b|ca[_.-]?bundle|\.pub\b|[_.-]pub\b|known_hosts|authorized_keys)")


@drop_filter
def public_material(ctx: Context) -> bool:
    """Public keys, certificates and publishable keys (``pk_live_``), which are meant to be shared."""
    v = ctx.value.strip()
    if _PUBLIC_MARKERS.search(v) or v.startswith(("pk_live_", "pk_test_", "ssh-rsa AAAA", "ssh-ed25519 AAAA",
                                                   "MIIBCgKCAQEA", "MIIBIjANBgkqhkiG9w0BAQEFAAOC", "MFkwEwYHKoZIzj0CAQ",
                                                   "MCowBQYDK2Vw")):
        return True
    if not _name_based(ctx):
        return False
    if ctx.rule.family == "detect-secrets" and re.fullmatch(r"[OAUNC][A-Z2-7]{55}", v):
        return True  # a NATS public NKey (operator, account, user, server, cluster); its seed starts with S (UL094)
    # Only the name the value is assigned to: `'verify_certs': True, 'basic_auth_password': '…'` is no certificate.
    name = assigned_name(ctx) or _before(ctx.line, v)[-40:]
    return bool(_PUBLIC_NAME.search(name) or re.search(r"(?i)\.pub$|(?:^|/)authorized_keys$", ctx.path))


@drop_filter
def data_uri(ctx: Context) -> bool:
    """``data:`` URIs (inline images and fonts) whose base64 looks random but is content."""
    v = ctx.value.strip()
    if v.startswith("data:"):
        return True
    if ctx.rule.family == "detect-secrets" and v.startswith("H4sI"):
        return True  # base64 of gzip data (1f 8b 08): compressed content in a recorded response
    idx = ctx.line.find(v)
    window = ctx.line[max(0, idx - 80):idx]
    return idx > 0 and bool(re.search(r"data:[a-z]{1,20}/[A-Za-z0-9.+-]{1,40};base64,$", window))


@drop_filter
def number_or_version(ctx: Context) -> bool:
    """Numbers, versions, dates, sizes and colours (``token_ttl: 3600``, ``key_version: 1.2.3``, ``#68175A``)."""
    if not _name_based(ctx):
        return False
    v = ctx.value.strip()
    if re.fullmatch(r"[0-9]+\.(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?)(?:\.ago)?", v):
        return True  # a Ruby duration (`reset_password_within = 6.hours`)
    if re.fullmatch(r"[0-9]{4,12}", v) and _password_named(ctx):
        return False  # `password: 6412871`: a PIN or numeric password, not a count
    return bool(re.fullmatch(r"[0-9][0-9_.,:/ -]*(?:[smhdkKMG]|ms|px|em|%|KB|MB|GB)?|v?[0-9]+(?:\.[0-9]+){1,3}"
                             r"(?:[-+][A-Za-z0-9.]{1,20})?|#[0-9a-fA-F]{3,8}|#[a-z]{3,30}"
                             r"|[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9:.]{5,15}(?:Z|[+-][0-9:]{4,5})?)?", v))


@drop_filter
def character_set(ctx: Context) -> bool:
    """Alphabets and character sets (``"abcdefghjkmnpq…23456789"``): mostly ascending runs, not random."""
    v = ctx.value.strip()
    ranges = re.findall(r"([A-Za-z0-9])-([A-Za-z0-9])", v)
    if len(ranges) >= 2 and all(ord(b) - ord(a) >= 5 for a, b in ranges) and \
            re.fullmatch(r"(?:[A-Za-z0-9]-[A-Za-z0-9]|[_.+/=\\-])+", v):
        return True  # a regex class body held in a constant (`_TOKEN_CHARS = "A-Za-z0-9_-"`)
    if 4 <= len(v) < 10 and v.isalnum():
        # `123456`, `abc123`, `987654321`: a keyboard run, the stand-in value of tutorials and tests (detect-secrets'
        # is_sequential_string); a chosen short password (`6412871`, `Pass1234`) is not mostly steps of one.
        steps = sum(1 for a, b in itertools.pairwise(v.lower()) if abs(ord(b) - ord(a)) == 1)
        return steps >= 0.75 * (len(v) - 1)
    if len(v) < 10:
        return False
    if v.isdigit():
        # A random number steps up by 1-3 between a quarter of its digits: a 19-digit id would often pass the
        # alphabet test below. Digits written as a run (`01234567890123`) step by exactly one.
        return sum(1 for a, b in itertools.pairwise(v) if (ord(b) - ord(a)) % 10 == 1) >= 0.75 * (len(v) - 1)
    ascending = sum(1 for a, b in itertools.pairwise(v) if 0 < ord(b) - ord(a) <= 3)
    # Half the steps ascending is an alphabet. A provider's short hex token gets there by chance (a 14-character one,
    # ipinfo's, about once in 1,700): under 20 characters a rule with a declared token shape asks three quarters, as
    # an alphabet still has. Other rules keep half (`pass123456` as a password is a stand-in).
    if ascending >= (0.75 if len(v) < 20 and ctx.rule.shapes else 0.5) * (len(v) - 1):
        return True
    # 26+ characters without a single repeat, holding every letter of one case, is an alphabet or a keyboard's rows
    # (`qwertyuiopasdfghjklzxcvbnm`). Distinct characters alone are not: a random 32-character key has no repeat
    # about once in 3,000.
    return _name_based(ctx) and len(v) >= 26 and len(set(v)) == len(v) and \
        (set(v) >= _LOWER or set(v) >= _UPPER)


_BASIC_BEFORE = lazy(r"(?i)\bbasic[ \t]{1,4}$")


@drop_filter
def not_basic_credential(ctx: Context) -> bool:
    """``Authorization: Basic …`` whose value is not base64 of user:password (``login_and_password_removed``)."""
    idx = ctx.line.find(ctx.value)
    if idx <= 0 or not _BASIC_BEFORE.search(ctx.line[max(0, idx - 20):idx]):
        return False
    from scanner.rules._util import b64decode_text

    decoded = b64decode_text(ctx.value.strip().rstrip("="))
    decoded = decoded if decoded is not None else b64decode_text(ctx.value.strip())
    return decoded is None or ":" not in decoded


_B64_FRAGMENT = lazy(r"""^\s*(?:[+.]\s*)?["'][A-Za-z0-9+/=_-]{16,}(?:\\{1,2}[rn])*["']\s*(?:[+.,;)]\s*)*(?:\\)?\s*$""")


@drop_filter
def key_body_fragment(ctx: Context) -> bool:
    """Entropy hits on body lines of a PEM key built by string concatenation (the key itself is UL100's)."""
    if ctx.rule.family != "detect-secrets":
        return False
    if not _B64_FRAGMENT.match(ctx.line):
        return False
    return bool(_B64_FRAGMENT.match(ctx.prev_line) or re.search(
        r"BEGIN [A-Z ]{0,30}(?:PRIVATE KEY|PUBLIC KEY|CERTIFICATE)|ssh-(?:rsa|ed25519|dss) AAAA", ctx.prev_line))


_REGEX_SOURCE = lazy(r"\\[sdwbSDWB]|\(\?[:=!<P]|\[[^\]]{0,20}\][{*+?]|\.[*+]\??|\{\d{1,4}(?:,\d{0,4})?\}")


@drop_filter
def regex_source(ctx: Context) -> bool:
    """Regular-expression source text (``\\s*``, ``(?:``, ``[A-F0-9]{36}``): a pattern about secrets, not one."""
    if ctx.rule.family not in NAME_BASED | {"credential-file", "connection-string", "code-call", "framework"}:
        return False
    # Two pattern constructs, or one unmistakable one (\\s, (?:): a password may well contain ".*" by chance.
    hits = _REGEX_SOURCE.findall(ctx.value)
    strong = re.search(r"\\[sdwbSDWB]|\(\?[:=!<P]|\[[^\]]{0,30}[a-zA-Z0-9]-[a-zA-Z0-9][^\]]{0,30}\][{*+?]",
                       ctx.value) is not None
    return (len(hits) >= 2 or strong) and not _ENV_LIKE.search(ctx.path)


_KEY_HEADER = lazy(r"(?:BEGIN [A-Z0-9 ]{0,30}PRIVATE KEY|PuTTY-User-Key-File-\d)")


@drop_filter
def key_header_only(ctx: Context) -> bool:
    """A private-key header without a key body (the UL100/UL101 detectors report real key blocks)."""
    return ctx.rule.family == "detect-secrets" and bool(_KEY_HEADER.search(ctx.value)) and len(ctx.value) < 80


_GITHUB_SHAPE = lazy(r"gh[pousr]_[A-Za-z0-9]{36}")


@drop_filter
def invalid_checksum(ctx: Context) -> bool:
    """A name-based match on a GitHub-shaped token whose CRC32 is wrong: a made-up token, not a credential."""
    from scanner.rules._util import github_checksum_ok

    v = ctx.value.strip()
    return _name_based(ctx) and bool(_GITHUB_SHAPE.fullmatch(v)) and not github_checksum_ok(v)


@drop_filter
def unnamed_hex(ctx: Context) -> bool:
    """A bare hex string from the entropy plugins whose name says nothing about secrets (nonces, ids, digests)."""
    if ctx.rule.family != "detect-secrets" or not re.fullmatch(r"[0-9a-fA-F]{8,128}", ctx.value.strip()):
        return False
    idx = ctx.line.find(ctx.value)
    m = _ASSIGNED_NAME.search(ctx.line[max(0, idx - 100):idx]) if idx > 0 else None
    return m is None or not _SECRETISH.search(m.group(1))


@drop_filter
def short_hex(ctx: Context) -> bool:
    """Hex strings of at most 16 characters matched by name-based rules: ids and short hashes, not credentials."""
    # Not under a password name: nine digits there are a chosen password, not an id.
    return _name_based(ctx) and bool(re.fullmatch(r"[0-9a-fA-F]{6,16}", ctx.value.strip())) and \
        not _password_named(ctx)


_JWT_SHAPE = lazy(r"eyJ[A-Za-z0-9_-]{2,4000}\.eyJ[A-Za-z0-9_-]{2,8000}\.(?P<sig>[A-Za-z0-9_-]{0,2000})")


@drop_filter
def fake_jwt(ctx: Context) -> bool:
    """A JWT with no signature or a readable one (``alg: none``, ``.c2lnbmF0dXJl``): an example, not a credential."""
    import base64
    import binascii

    m = _JWT_SHAPE.fullmatch(ctx.value.strip())
    if m is None:
        return False
    sig = m.group("sig")
    if not sig:
        return True
    try:
        raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    except (binascii.Error, ValueError):
        return False
    return raw.isascii() and all(32 <= b < 127 for b in raw)


@drop_filter
def encoded_text(ctx: Context) -> bool:
    """Base64 of an identifier, or (entropy plugins) of prose or markup (``VGhlc2UgYXJlbid0…``, an inline SVG)."""
    if not _name_based(ctx):
        return False
    from scanner.rules._util import b64decode_text

    decoded = b64decode_text(ctx.value.strip())
    if decoded is not None and _words_only(decoded):
        return True  # base64 of an identifier ("MyVerifierString")
    if decoded is not None and re.fullmatch(r"0\d{1,3}:[A-Z][A-Za-z]{2,60}\d{1,20}", decoded):
        return True  # a GitHub API node id ("019:BaseRefChangedEvent1782915693" in base64)
    if decoded is None or " " not in decoded or ctx.rule.family != "detect-secrets":
        return False
    return sum(c.isalpha() or c in " <>=/\"'.,-" for c in decoded) >= 0.85 * len(decoded)


@drop_filter
def slug(ctx: Context) -> bool:
    """Entropy-plugin hits that are names built from words (``Infra-ECS-Cluster-…-EC2CapacityProvider-3fIp``)."""
    if ctx.rule.family != "detect-secrets":
        return False
    v = ctx.value.strip()
    parts = [x for x in re.split(r"[-_./:]", v) if x]
    if len(parts) < 2:
        return False
    neutral = sum(1 for x in parts if re.fullmatch(r"[A-Z]{2,5}|[0-9]+", x))
    wordy = sum(1 for x in parts if re.fullmatch(r"[A-Za-z]{2,20}|[A-Z][a-z]+(?:[A-Z0-9][a-z0-9]*){0,6}", x)
                and re.search(r"[aeiouAEIOU]{1}[a-z]", x))
    if wordy >= 2 and len(parts) >= 5 and sum(map(len, parts)) / len(parts) <= 6:
        return True  # many short segments, some of them words: a structured name (codec presets, labels)
    if wordy >= 1 and v.count("/") >= 4 and re.search(r"/[a-z]{4,}(?:/|$)", v):
        return True  # a path with word segments (/vaults/…/jobs/…)
    return wordy >= 2 and wordy >= 0.6 * (len(parts) - neutral)


_NOTEBOOK_MEDIA = lazy(r'"(?:image|audio|video|application/pdf|font)[\w./+-]*"\s*:')



@drop_filter
def notebook_media(ctx: Context) -> bool:
    """Jupyter outputs that are rendered media (base64 images, PDFs), not text a secret could be in."""
    if not ctx.path.endswith(".ipynb"):
        return False
    if _NOTEBOOK_MEDIA.search(ctx.line):
        return True
    # A bare base64 line of a media list; only for entropy guesses, never for a rule that knows a token format.
    return ctx.rule.family == "detect-secrets" and bool(NOTEBOOK_B64_LINE.match(ctx.line))


@drop_filter
def config_allowlist(ctx: Context) -> bool:
    """An allowlist of a migrated gitleaks/betterleaks config (its regexes, stopwords or paths) matches."""
    if not ctx.rule.allow:
        return False
    match = ctx.value
    if any(a.target == "match" for a in ctx.rule.allow) and ctx.rule.pattern is not None:
        # The rule's whole match around the value, found again on its line (filters see only the line).
        for m in ctx.rule.regex.finditer(ctx.line):
            if ctx.value in m.group(0):
                match = m.group(0)
                break
    return any(a.drops(ctx.value, match, ctx.line, ctx.path) for a in ctx.rule.allow)
