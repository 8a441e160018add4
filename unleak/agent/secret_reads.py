"""Which reads expose secret values: files whose purpose is to hold secrets (keys, credential files, dotenv files
with plaintext values, unleak's vault directory) and shell commands that print them or the environment.

A guard decides from names and the command line alone, before anything runs; it errs on the side of blocking.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable
from pathlib import Path

from scanner.lazyre import lazy

# ---------------------------------------------------------------------------------- secret-bearing files

# Files whose whole purpose is to hold secrets. Reading one hands its values to whoever reads the output.
_KEY_NAMES = {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk", ".netrc", "_netrc",
              ".pgpass", ".git-credentials", "credentials.json", "service-account.json", ".htpasswd",
              "vault.key"}
_KEY_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".kdbx", ".vault")
_DOTENV_SAFE = (".example", ".sample", ".template", ".dist", ".defaults", ".schema")
_VAR_EXPANSION = lazy(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


def _is_dotenv(name: str) -> bool:
    """A dotenv file that may hold values: :func:`remediate.dotenv.is_dotenv_path`, less the documented examples
    (``.env.example`` and the like), which exist to be read."""
    from remediate.dotenv import is_dotenv_path

    return is_dotenv_path(name) and not (name.startswith(".env.") and name.endswith(_DOTENV_SAFE))


def _dotenv_is_references_only(path: Path) -> bool:
    """True when every assignment in a dotenv file is empty or a reference: such a file is safe to read (it is the
    file `unleak fix` writes). Unreadable or missing files count as unsafe only if they exist. Parsed as the
    programs and `unleak fix` parse it (python-dotenv, through :func:`remediate.dotenv.entries`)."""
    from remediate.dotenv import entries, parse_errors
    from remediate.vault.refs import REFERENCE_PREFIXES

    def safe(value: str | None) -> bool:  # empty, a reference (any scheme) or a ${VAR} expansion
        if not value or _VAR_EXPANSION.match(value):
            return True
        return any(value.startswith(p) and len(value) > len(p) for p in REFERENCE_PREFIXES) and not any(
            c.isspace() for c in value)

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return True  # nothing to leak; the command fails on its own
    except (OSError, UnicodeDecodeError):
        return False
    if parse_errors(text):  # a line the parser skips could still hold a value: not known to be safe
        return False
    return all(safe(e.value) for e in entries(text))


def _public_pem(path: Path) -> bool:
    """True when a PEM file exists and holds no private key (certificates, public keys). A file that cannot be
    read counts as private: the guard errs on the side of blocking."""
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 20)
    except OSError:
        return False
    return b"-----BEGIN" in head and b"PRIVATE KEY" not in head


def secret_file_reason(path_text: str, cwd: Path) -> str | None:
    """Why reading ``path_text`` would expose secrets, or None when it would not."""
    if not path_text:
        return None
    expanded = os.path.expanduser(os.path.expandvars(path_text))
    p = Path(expanded)
    if not p.is_absolute():
        p = cwd / p
    name = p.name
    try:
        resolved = p.resolve()
    except OSError:
        resolved = p
    from unleak.userenv import data_dir

    data = data_dir()
    try:
        data_resolved = data.resolve()
    except OSError:
        data_resolved = data
    if resolved == data_resolved or data_resolved in resolved.parents:
        return "it is unleak's vault directory (encrypted values and the key that opens them)"
    if _is_dotenv(name):
        if _dotenv_is_references_only(p):
            return None
        return f"{name} holds plaintext secret values"
    if name in _KEY_NAMES:
        return f"{name} is a key or credential file"
    if name.endswith(_KEY_SUFFIXES) and not name.endswith(".pub"):
        if name.endswith((".pem", ".crt", ".cer")) and _public_pem(p):
            return None  # a certificate or public key: nothing secret in it
        return f"{name} is a key or credential file"
    if p.parent.name == ".aws" and name in {"credentials", "config"}:
        return "it is the AWS credentials file"
    if p.parent.name in {".docker"} and name == "config.json":
        return "it holds registry credentials"
    return None


# ------------------------------------------------------------------------------------------ Bash commands

# Commands that print the whole environment (which is where `unleak run` puts secret values).
_ENV_DUMPERS = {"printenv", "env", "export", "set", "declare", "typeset"}
# Commands that print (or copy out) the contents of the files they are given.
_READERS = {"cat", "tac", "less", "more", "head", "tail", "bat", "batcat", "nl", "grep", "egrep", "fgrep", "rg",
            "ag", "awk", "gawk", "sed", "cut", "sort", "uniq", "strings", "xxd", "od", "hexdump", "base64",
            "base32", "view", "vi", "vim", "nano", "emacs", "jq", "yq", "openssl", "diff", "cmp", "source", "cp",
            "mv", "scp", "rsync", "curl", "tar", "zip", "gzip", "python", "python3", "node", "ruby", "perl",
            "dd", "tee", "paste", "column", "fold", "rev", "iconv", "xargs", "sh", "bash", "zsh", "."}
_SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", "|&", ";;", "\n"}
_REDIRECTS = {"<", "<<<", "<(", "<&"}


def _split_commands(command: str) -> list[list[str]]:
    """Split a shell command line into simple commands (argv lists). Falls back to whitespace splitting when the
    line does not tokenize (unbalanced quotes): a guard must still look at it."""
    try:
        lex = shlex.shlex(command, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        tokens = list(lex)
    except ValueError:
        tokens = command.split()
    out: list[list[str]] = [[]]
    for tok in tokens:
        if tok in _SEPARATORS or set(tok) <= set("|&;()"):
            out.append([])
        else:
            out[-1].append(tok)
    return [c for c in out if c]


def _program(argv: list[str]) -> tuple[str, list[str]]:
    """The program a simple command runs and its arguments, skipping ``VAR=x`` prefixes and wrappers."""
    i = 0
    while i < len(argv) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[i]):
        i += 1
    while i < len(argv) and argv[i] in {"sudo", "command", "exec", "nohup", "time", "builtin", "doas"}:
        i += 1
    if i >= len(argv):
        return "", []
    return os.path.basename(argv[i]), argv[i + 1:]


def _env_dump_reason(prog: str, args: list[str]) -> str | None:
    if prog not in _ENV_DUMPERS:
        return None
    if prog == "printenv":
        return "`printenv` prints environment variables, which is where secrets are injected"
    if prog == "env":
        # `env VAR=x cmd` runs cmd; `env` alone (or with only options) prints the environment.
        rest = [a for a in args if not a.startswith("-")]
        if all(re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", a) for a in rest):
            return "`env` without a command prints every environment variable, which is where secrets are injected"
        return None
    if prog == "export" and (not args or args == ["-p"]):
        return "`export -p` prints every exported variable"
    if prog == "set" and not args:
        return "`set` without arguments prints every shell variable"
    if prog in {"declare", "typeset"} and (not args or any(a in {"-p", "-x", "-px", "-xp"} for a in args)):
        return f"`{prog} -p` prints variables and their values"
    return None


def _file_args(argv: list[str]) -> Iterable[str]:
    """Arguments that could name a file, including redirection targets and ``--opt=FILE`` values."""
    for i, a in enumerate(argv):
        if a in _REDIRECTS:
            continue
        if i and argv[i - 1] in _REDIRECTS:
            yield a
            continue
        if a.startswith("-") and "=" in a:
            yield a.split("=", 1)[1]
        elif a.startswith("@"):
            yield a[1:]  # curl -d @file
        elif not a.startswith("-"):
            yield a


_ECHO_VAR = lazy(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_SECRET_NAME = lazy(r"(SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|CREDENTIAL|ACCESS_KEY)", re.I)


def bash_reason(command: str, cwd: Path) -> str | None:
    """Why running ``command`` would print a secret, or None when it would not (as far as a guard can tell)."""
    for argv in _split_commands(command):
        prog, args = _program(argv)
        # Redirections like `< .env` apply whatever the program is.
        for i, tok in enumerate(argv):
            if tok in _REDIRECTS and i + 1 < len(argv):
                why = secret_file_reason(argv[i + 1], cwd)
                if why:
                    return f"it reads {argv[i + 1]} ({why})"
        if not prog:
            continue
        why = _env_dump_reason(prog, args)
        if why:
            return why
        if prog in {"echo", "printf"}:
            for name in _ECHO_VAR.findall(" ".join(args)):
                if _SECRET_NAME.search(name):
                    return f"it prints ${name}, which looks like a secret's variable"
        if prog in _READERS or prog.startswith("python"):
            for a in _file_args(args):
                why = secret_file_reason(a, cwd)
                if why:
                    return f"`{prog}` would read {a} ({why})"
    return None
