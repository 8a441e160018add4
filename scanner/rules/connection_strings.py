"""Credentials in the way a program connects: passwords in URLs (and git's stored URLs), connection strings,
command lines and login calls, and credentials in Authorization headers (written in code or recorded in HTTP
cassettes). Every detector works on bounded patterns, so it also copes with the partial text of a diff.
"""

from __future__ import annotations

from collections.abc import Iterator

from scanner.chunk import Chunk
from scanner.finding import Confidence
from scanner.keyscan import ascii_lower
from scanner.lazyre import lazy
from scanner.rules._util import lines_holding
from scanner.rules.base import Candidate, Rule, register

H = Confidence.HIGH
M = Confidence.MEDIUM

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


def _url_not_git_credentials(chunk: Chunk) -> Iterator[Candidate]:
    if _GIT_CRED_PATH.search(chunk.path):
        return  # UL202 owns these lines
    yield from _url_userinfo(chunk)


# --------------------------------------------------------------------------------------------- recorded HTTP
# An `Authorization:` line with nothing after the colon, and a list item below it (matched at a line's start).
_AUTH_KEY_LINES = lazy(r"(?im)^[ \t-]{0,40}[\"']?authorization[\"']?[ \t]{0,4}:[ \t]*$")
_AUTH_ITEM = lazy(r"(?i)[ \t]{0,40}-[ \t]{1,4}[\"']?(?:Bearer|Token|Basic|Bot)[ \t]{1,4}"
                  r"(?P<secret>[A-Za-z0-9._~+/=-]{16,2000})")


def _recorded_auth(chunk: Chunk) -> Iterator[Candidate]:
    """VCR/recorded-HTTP YAML: the header's values are a list on the lines below ``Authorization:`` (each run of
    such lines right below one). Only the lines that say "authorization" are tried as the key line (found with
    str.find in a same-length case fold, which folds what the regex's case-insensitive match does): a file that
    says it once is not split into lines for it."""
    text = chunk.text
    low = text.lower() if text.isascii() else ascii_lower(text)
    for start, stop in lines_holding(text, "authorization", low):
        if _AUTH_KEY_LINES.match(text, start, stop) is None:
            continue
        pos = stop + 1  # the lines below it
        while pos <= len(text):
            nl = text.find("\n", pos)
            end = len(text) if nl < 0 else nl
            m = _AUTH_ITEM.match(text, pos, end)
            if m is None:
                break
            yield Candidate("UL227", m.group("secret"), m.start("secret"), m.end("secret"))
            pos = end + 1


register(
    Rule(
        id="UL202", title=".git-credentials password", confidence=H,
        detect=_git_credentials, path_pattern=_GIT_CRED_PATH_RE, family="credential-file",
        revoke="revoke the token at the git host",
        description="Credentials stored by git's store helper",
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
        keywords=("password", "pwd"), family="connection-string", requires=(";",),
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
        requires=("-u", "-p"),  # every option above holds one ("http" alone is every URL)
        revoke="change the password; pass credentials through a netrc file or the environment instead",
        description="curl -u user:password, wget --http-user, sshpass -p, mysql -pPASSWORD and similar",
    ),
    Rule(
        id="UL224", title="Password passed to a login or credential call", confidence=H,
        # Each leading word boundary is checked behind the first letter (`a(?<!\wa)uth` is `\bauth`): every branch
        # then starts with a literal character, and the regex engine skips ahead to one it could start with instead
        # of trying every position of the line (the same matches over CredData's 76,000 lines with a keyword, in half
        # the time).
        pattern=r"(?:(?:a(?<!\wa)uth|basic_auth|http_auth|c(?<!\wc)redentials?)[ \t]{0,4}=[ \t]{0,4}[(\[]|"
                r"(?:HTTPBasicAuth|HTTPDigestAuth|BasicAuth|NetworkCredential|PasswordAuthentication|"
                r"UsernamePasswordCredentials|UsernamePasswordAuthenticationToken|\.login|\.authenticate|\.auth|"
                r"\.basic_auth|with_credentials|\.connect)\()[ \t]{0,4}[\"'][^\"'\n]{1,100}[\"'][ \t]{0,4},[ \t]{0,4}"
                r"[\"'](?P<secret>[^\"'\n]{4,200})[\"']"
                r"|s(?<!\ws)et_?[Pp]assword\([ \t]{0,4}[\"'](?P<bare>[^\"'\n]{4,200})[\"'][ \t]{0,4}\)",
        keywords=("auth", "login", "credential", "setpassword", "set_password", ".connect("), family="code-call",
        requires=(",", "assword("),  # the comma between the two quoted arguments, or set(_)password(
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
)
