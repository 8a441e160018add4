"""Generic rules: values assigned to password-, secret-, token- or key-like names in any language.

One pattern covers ``NAME=value`` (.env, shell, INI, .properties, .tfvars), ``name: value`` (YAML, Ruby hashes),
``"name": "value"`` (JSON, also JSON-escaped inside notebooks), ``name = "value"`` (TOML, Python, Go ``:=``, JS/TS,
Java, PHP ``=>``) and XML/HTML attributes. The value is a literal; code (identifiers, calls, attribute access), type
annotations, placeholders and references are removed by the named filters in :mod:`scanner.filters`.
"""

from __future__ import annotations

from scanner.finding import Confidence
from scanner.rules.base import Rule, register

# The secret-like word inside a longer name (``DB_PASSWORD``, ``stripeApiKey``, ``client.secret``). ``pass`` only
# counts when no lowercase letter follows, so ``passenger`` and ``passthrough`` are not names of secrets.
_WORD = (
    r"(?:passw(?:or)?d|passwd|pwd|pass(?![a-z])|passphrase|secret|token|api[_.-]?key|apikey|access[_.-]?key"
    r"|private[_.-]?key|auth[_.-]?key|signing[_.-]?key|encryption[_.-]?key|master[_.-]?key|secret[_.-]?key"
    r"|consumer[_.-]?key|app[_.-]?key|client[_.-]?key|license[_.-]?key|shared[_.-]?key|storage[_.-]?key"
    r"|client[_.-]?secret|credentials?|auth(?![a-z])|bearer)"
)
_KEY_NAMES = tuple(f"{w}{sep}key" for w in ("api", "access", "private", "signing", "encryption", "master", "consumer",
                                            "app", "client", "license", "shared", "storage")
                   for sep in ("", "_", ".", "-"))
# The name starts at a boundary (so a match attempt only begins at the start of an identifier, keeping long lines
# linear) and may carry a sigil ($password, @token, --password).
# A segment of a colon-separated id (`urn:…:oauth:client-assertion-type`, `arn:aws:…:secret:NAME`) is no name:
# after `x:`, a name followed by a bare `:` is refused (`/tmp/out:2:password=…`, grep's output, still counts).
_NAME_START = r"(?<![A-Za-z0-9_.-])(?:\$|@|--?)?[A-Za-z0-9_.-]{0,40}?"
_NAME = r"(?!(?<=[A-Za-z0-9]:)[$@A-Za-z0-9_.-]{1,90}:(?!=))" + _NAME_START + _WORD + r"[A-Za-z0-9_.-]{0,40}"

register(
    Rule(
        id="UL900",
        title="Secret assigned to a secret-like name",
        confidence=Confidence.MEDIUM,
        pattern=(
            # `:` but not `::` (Ruby and C++ scope: `OmniAuth::Strategies`, `[NtToken]::Method`), nor a URL's `://`
            # (`otpauth://…`).
            # Up to 40 blanks before the operator: gofmt and aligned declarations line up their `=`.
            r"(?i)(?P<name>" + _NAME + r")\\?[\"']?\]?(?:[ \t]{0,40}|\s{0,8})(?::=|=>|=|:(?!:|//))\s{0,8}"
            # A value in ", ' or ` (a JS template literal, a Go raw string) holds the other two; one group per
            # quote (secret, sq, bq), each a plain character class, is twice as fast as a back-reference.
            r"(?:\\?(?:\"(?P<secret>[^\"\s\\]{6,400})\\?\"|'(?P<sq>[^'\s\\]{6,400})\\?'|`(?P<bq>[^`\s\\]{6,400})`)"
            r"|(?P<bare>(?:(?<=[=:])#)?[^\"'\s,;#`\\][^\"'\s,;`\\]{7,399}))"
        ),
        # Not the bare word "key" (it is on every other line of code): the compound names _WORD accepts instead.
        # A match starts at its name: a sigil, up to 40 characters, then the word, whose keyword can sit 7 in
        # (client_secret).
        starts_near=49,
        keywords=("pass", "pwd", "secret", "token", "credential", "auth", "bearer", *_KEY_NAMES),
        requires=("=", ":"),  # the assignment operator (?::=|=>|=|:) is in every match
        min_entropy=2.5,
        family="generic",
        revoke="rotate the credential at its issuer",
        description="Assignments in .env, YAML, JSON, TOML, INI, .properties, .tfvars, notebooks and source code "
        "(Python, JS/TS, Ruby, PHP, Go, Java, shell)",
    ),
)

# `SECRET_KEY = os.environ.get("SECRET_KEY") or "…"` (Python), `token = process.env.T || "…"` / `?? "…"` (JS/TS):
# the literal is the value whenever the variable is unset, so it is as much a committed secret as an assignment.
_FALLBACK = r"(?:=|:)\s{0,8}[^\n]{0,200}?\s(?:or|\|\||\?\?)\s{0,8}"
# Key material written as bytes (`HMAC_KEY = b"…"`) is often named after its use rather than "secret" or "key".
_BYTES_WORD = _WORD[:-1] + r"|hmac|fernet|jwt|cipher|aes|nacl)"
_BYTES_NAME = r"(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]{0,40}?" + _BYTES_WORD + r"[A-Za-z0-9_.-]{0,40}"
# People choose short passwords ("aybi", "Pa5s", a PIN): UL900's floor (six characters quoted, eight bare, 2.5 bits
# of entropy) is right for tokens and keys, which are generated and long, but loses them. Only under a name that
# says password (not token/key/secret), and at low confidence: a short password is real but guessable.
_PASSWORD_WORD = r"(?:passw(?:or)?d|passwd|pwd|pass(?![a-z])|passphrase)"
_PASSWORD_NAME = _NAME_START + _PASSWORD_WORD + r"[A-Za-z0-9_.-]{0,20}"

# UL904/UL905: the assignment after a key name, and a value that mixes digits and letters (a generated one).
_KEY_ASSIGN = r"\\?[\"']?(?:[ \t]{0,40}|\s{0,8})(?::=|=>|=|:(?!:))\s{0,8}\\?[\"']?"
_MIXED = r"(?=[A-Za-z0-9+/_.-]{0,200}[0-9])(?=[A-Za-z0-9+/_.-]{0,200}[A-Za-z])"

register(
    Rule(
        id="UL901",
        title="Secret as the fallback of a secret-like name",
        confidence=Confidence.MEDIUM,
        pattern=r"(?i)(?P<name>" + _NAME + r")[\"']?\]?\s{0,8}(?::[^=\n]{0,60}(?==))?" + _FALLBACK
        + r"(?:\"(?P<secret>[^\"\s\\]{6,400})\"|'(?P<sq>[^'\s\\]{6,400})')",
        starts_near=49,  # as UL900
        keywords=("pass", "pwd", "secret", "token", "credential", "auth", "bearer", *_KEY_NAMES),
        requires=(" or ", "||", "??"),
        min_entropy=2.5,
        family="generic",
        revoke="rotate the credential at its issuer",
        description="`NAME = read() or \"literal\"` (Python), `|| \"literal\"` and `?? \"literal\"` (JS/TS) under "
        "a secret-like name: the literal is the value whenever the variable is unset",
    ),
    Rule(
        id="UL902",
        title="Secret bytes literal under a secret-like name",
        confidence=Confidence.MEDIUM,
        pattern=r"(?i)(?P<name>" + _BYTES_NAME + r")\s{0,8}(?::[^=\n]{0,60})?=\s{0,8}[bB][rR]?"
        r"(?:\"(?P<secret>(?:[^\"\s\\]|\\[^\s]){6,400})\"|'(?P<sq>(?:[^'\s\\]|\\[^\s]){6,400})')",
        starts_near=47,  # no sigil, else as UL900
        # Every word of _BYTES_WORD holds one of these (a match starts just before it). Keyed on the bytes literal
        # instead, the pattern would be searched from every position before it: slower than trying it only where
        # the name can start and skipping windows without a literal.
        keywords=("pass", "pwd", "secret", "token", "credential", "auth", "bearer", "hmac", "fernet", "jwt", "cipher",
                  "aes", "nacl", *_KEY_NAMES),
        requires=("b'", 'b"', "B'", 'B"', "r'", 'r"', "R'", 'R"'),  # b'…', and br'…'/bR"…' end in r'/R"
        min_entropy=2.5,
        family="generic",
        revoke="rotate the credential at its issuer",
        description="`HMAC_KEY = b\"…\"`, `SECRET_KEY: bytes = b'…'`: key material written as a bytes literal",
    ),
    Rule(
        id="UL904",
        title="Generated secret assigned to a bare key",
        confidence=Confidence.MEDIUM,
        # `key=…`, `Key: …`, `"key": "…"` (a log line, a query string, a config): the name alone is too common to be
        # a sign, so the value must look generated — 16+ characters of letters and digits mixed, high entropy.
        pattern=(
            r"(?i)(?<![A-Za-z0-9_.$@-])(?P<name>key)" + _KEY_ASSIGN
            + r"(?P<secret>" + _MIXED + r"[A-Za-z0-9][A-Za-z0-9+/_.-]{15,399}=*)(?![A-Za-z0-9+/_.=-])"
        ),
        starts_near=0,  # at the keyword itself
        keywords=("key",),
        requires=("=", ":"),
        min_entropy=3.5,
        family="generic",
        revoke="rotate the credential at its issuer",
        description="`key=<token>` in log lines, query strings and configs, when the value looks generated",
    ),
    Rule(
        id="UL905",
        title="Generated secret assigned to a service's key name",
        confidence=Confidence.MEDIUM,
        # A key named after its service (`artsy_key: …`, `azureKey: …`, `BILLOMAT_KEY=…`), as configs and detector
        # fixtures write it, or in one word (`apimetricskey: …`, `accountkey=…`); a compound UL900 names (`api_key`,
        # `secret_key`) is left to UL900. As for UL904 the value must look generated. `monkey`, `MONKEY`, `hotkey`
        # and other words that merely end in "key" are not key names; a call (`*pRetKey = Lookup2(slot…)`) and a
        # name under a domain (`authorization.k8s.io/reason`) are not values.
        pattern=(
            r"(?i)(?<![A-Za-z0-9_.$@-])(?P<name>(?![A-Za-z0-9_.-]{0,40}?" + _WORD + r")"
            r"(?:[A-Za-z0-9_.-]{0,39}[_.-]|[A-Za-z0-9_.-]{0,39}(?-i:[a-z0-9](?=Key))"
            r"|(?![A-Za-z0-9_.-]{0,40}?(?:monkey|donkey|turkey|hockey|jockey|whiskey|hotkey)(?![a-z]))"
            r"[A-Za-z0-9_.-]{0,38}(?-i:[a-z](?=key)))key[0-9]{0,2})"
            + _KEY_ASSIGN + r"(?P<secret>" + _MIXED + r"(?![A-Za-z0-9+/_.-]{0,200}\.[A-Za-z]{2,}/)"
            r"[A-Za-z0-9][A-Za-z0-9+/_.-]{15,399}=*)(?![A-Za-z0-9+/_.=(-])"
        ),
        starts_near=41,  # up to 40 characters of name, then the keyword
        keywords=("key",),
        requires=("=", ":"),
        min_entropy=3.5,
        family="generic",
        defers=True,  # a value another rule also matches keeps that rule's id (and fingerprint), as before UL905
        revoke="rotate the credential at its issuer",
        description="`<service>_key: <token>` and `serviceKey = \"<token>\"` in configs and test fixtures, when the "
        "value looks generated",
    ),
    Rule(
        id="UL906",
        title="Secret set as an HTTP header in code",
        confidence=Confidence.MEDIUM,
        # `req.Header.Set("X-Api-Key", "…")` (Go), `setRequestHeader('Authorization', 'Bearer …')` (JS),
        # `setRequestProperty("X-Auth-Token", "…")` (Java), `DefaultRequestHeaders.Add(…)` (C#): a header whose name
        # says key, token, secret, password or authorization, given a literal. CSRF/XSRF tokens, idempotency,
        # cache and request ids are not credentials. As for UL904 the value must look generated.
        pattern=(
            r"(?i)(?<![A-Za-z0-9_])(?:set|add|append|put|header|setheader|addheader|setrequestheader"
            r"|setrequestproperty|addrequestproperty|withheader|with_header|insert|tryaddwithoutvalidation)"
            r"\(\s{0,4}[\"'`](?P<name>(?![A-Za-z0-9_-]{0,40}?(?:csrf|xsrf|idempotency|cache|request-id"
            r"|correlation|trace|nonce))[A-Za-z0-9_-]{0,40}?(?:api[_-]?key|access[_-]?key|subscription[_-]?key"
            r"|auth[A-Za-z-]{0,20}|token|secret|passw(?:or)?d))[\"'`]\s{0,4},\s{0,4}[\"'`]"
            r"(?:(?:bearer|token|basic|bot|key|apikey|sso-key)\s+)?"
            r"(?P<secret>" + _MIXED + r"[A-Za-z0-9][A-Za-z0-9+/_.=:-]{11,399})[\"'`]"
        ),
        # Keyed on the call, not on the header's name: every match holds "<method>(", and a file holds far fewer
        # calls of these methods than the words key, token or auth (a third as many windows on sqlalchemy's tree, a
        # twelfth on CredData's files).
        keywords=("set(", "add(", "append(", "put(", "header(", "property(", "insert(", "validation("),
        min_entropy=3.0,
        family="generic",
        revoke="rotate the credential at its issuer",
        description="`req.Header.Set(\"X-Api-Key\", \"<token>\")`, `setRequestHeader('Authorization', 'Bearer "
        "<token>')` and the like in code, when the value looks generated",
    ),
    Rule(
        id="UL903",
        title="Short password assigned to a password name",
        confidence=Confidence.LOW,
        pattern=(
            r"(?i)(?P<name>" + _PASSWORD_NAME + r")\\?[\"']?\]?\s{0,8}(?::=|=>|=|:)\s{0,8}"
            r"(?:\\?(?:\"(?P<secret>[^\"\s\\]{4,5})\\?\"|'(?P<sq>[^'\s\\]{4,5})\\?')"
            r"|(?P<bare>(?<=[=:\s])[^\"'\s,;#`\\{}()\[\]<>$%&][^\"'\s,;`\\{}()\[\]<>&]{3,6})(?=[\s,;}\]]|$))"
        ),
        starts_near=42,  # a sigil, up to 40 characters, then the word
        keywords=("pass", "pwd"),
        requires=("=", ":"),
        min_entropy=1.5,
        family="generic",
        revoke="change the password where it is used",
        description="Passwords of four to seven characters under password names (UL900 starts at six quoted, "
        "eight bare)",
    ),
    Rule(
        id="UL907",
        title="Passphrase assigned to a password name",
        confidence=Confidence.LOW,
        # What UL900 cannot take: a quoted password holding a space (`password="Circle of Life"`, `user.password =
        # "Joe's secret"`); one holding only the other quote is UL900's or UL903's. Labels and messages in a
        # password slot ("Enter your password", "Mot de passe") are the ui-string filter's, which judges this rule's
        # values as phrases instead of dropping every value with a space.
        # The name ends at the password word (or its confirmation: `password_confirmation`, `password2`), so
        # `enterRoomPasswordSubmit: 'Join room'` is no password; the value starts with no space and holds no backtick,
        # nor a `+` (or `.`, `,`, `;`, `)` and a space), so code between two literals (`"&password="+ escape(…)`,
        # `' + newpw + '`) is no value either.
        pattern=(
            r"(?i)(?P<name>" + _NAME_START + _PASSWORD_WORD
            + r"(?:[_.-]?(?:confirm(?:ation)?|again|repeat|[0-9]{1,2}))?(?![A-Za-z0-9_.-]))"
            r"[\"']?\]?\s{0,8}(?::=|=>|=|:(?!:))\s{0,8}"
            r"(?:\"(?P<secret>(?![ \t+]|[.,;)][ \t])(?=[^\"\n]{0,63}[ \t'])[^\"\n\\`]{4,64})\""
            r"|'(?P<sq>(?![ \t+]|[.,;)][ \t])(?=[^'\n]{0,63}[ \t\"])[^'\n\\`]{4,64})')"
        ),
        starts_near=42,  # as UL903
        keywords=("pass", "pwd"),
        requires=("=", ":"),
        family="generic",
        phrase=True,
        revoke="change the password where it is used",
        description="Quoted passwords holding a space or a quote, under password names",
    ),
)
