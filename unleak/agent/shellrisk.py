"""The one shell-risk model: commands that run arbitrary code, dump the environment or read secret-bearing files, which
no broad grant covers (only a grant made with allow_dangerous)."""


from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from unleak.agent.runtarget import Program
from unleak.userenv import config_dir, data_dir, state_dir

# ------------------------------------------------------------------------------------- dangerous commands

_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh", "busybox", "ash", "pwsh",
           "powershell"}
#: interpreter -> options that take code from the command line
_CODE_FLAGS: dict[str, tuple[str, ...]] = {
    "python": ("-c",), "pypy": ("-c",), "node": ("-e", "--eval", "-p", "--print", "-r", "--require"),
    "deno": ("eval",), "bun": ("-e", "--eval", "-p", "--print"), "ruby": ("-e",), "perl": ("-e", "-E"),
    "php": ("-r",), "lua": ("-e",), "osascript": ("-e",), "awk": (), "gawk": (), "R": ("-e",),
    "Rscript": ("-e",), "julia": ("-e", "--eval", "-E", "--print"), "tclsh": (), "jshell": (),
}
#: print or hand on the whole environment, or run any command given to them
_ENV_DUMPERS = {"env", "printenv", "export", "set", "declare", "typeset", "compgen", "xargs", "sudo", "doas",
                "su", "nohup", "strace", "ltrace", "gdb", "lldb", "script", "expect", "watch", "eval",
                "exec", "command", "builtin", "nice", "timeout", "stdbuf", "setsid", "unbuffer", "time",
                "ionice", "chroot", "flock", "tmux", "screen"}
#: read a file and print it (or copy it somewhere the agent can read)
_FILE_READERS = {"cat", "tac", "nl", "less", "more", "most", "head", "tail", "xxd", "od", "hexdump", "hd",
                 "strings", "base64", "base32", "basenc", "uuencode", "cp", "mv", "dd", "tee", "rsync", "scp",
                 "grep", "egrep", "fgrep", "rg", "ag", "sed", "awk", "gawk", "cut", "sort", "uniq", "paste",
                 "diff", "cmp", "tar", "zip", "gzip", "bzip2", "xz", "zstd", "curl", "wget", "nc", "ncat",
                 "openssl", "gpg", "vi", "vim", "nvim", "nano", "emacs", "view", "jq", "yq", "python", "node",
                 "ruby", "perl", "file", "stat", "ln", "install", "bat", "batcat", "column", "fold", "fmt",
                 "pr", "iconv", "tr", "wc", "sum", "md5sum", "sha1sum", "sha256sum", "cksum", "split", "csplit",
                 "look", "join", "comm", "expand", "unexpand", "rev", "shuf", "sqlite3"}
_SENSITIVE_NAME = re.compile(
    r"(^|/)(\.env(\..*)?|[^/]*\.vault|vault\.key[^/]*|[^/]*\.(key|pem|p12|pfx|jks|keystore|kdbx)|"
    r"id_(rsa|dsa|ecdsa|ed25519)[^/]*|\.netrc|\.npmrc|\.pypirc|\.git-credentials|credentials(\.json)?|"
    r"grants\.json|audit\.jsonl|policy\.toml|environ)$"
)


def _base(cmd: str) -> str:
    name = os.path.basename(cmd)
    known = _SHELLS | _ENV_DUMPERS | _FILE_READERS | set(_CODE_FLAGS)
    if name in known:
        return name
    # python3.11 -> python, node18 -> node (but base64 stays base64, handled above)
    m = re.match(r"^([A-Za-z]+?)(\d+(\.\d+)*)?(\.exe)?$", name)
    return m.group(1) if m else name


def _private_dirs() -> tuple[str, ...]:
    dirs = {str(state_dir()), str(config_dir()), str(data_dir())}
    return tuple(sorted(d.rstrip("/") for d in dirs))


def _touches_sensitive(arg: str, private: tuple[str, ...]) -> bool:
    # A flag's value (--file=.env) or a redirect-looking token counts as well.
    candidates = {arg, arg.split("=", 1)[-1], arg.lstrip("@<")}
    for c in candidates:
        if not c:
            continue
        if _SENSITIVE_NAME.search(c.rstrip("/")):
            return True
        if c.startswith("/proc/") or "/proc/self" in c:
            return True
        with contextlib.suppress(OSError, ValueError):
            resolved = str(Path(c).expanduser().resolve())
            if any(resolved == d or resolved.startswith(d + "/") for d in private):
                return True
        if any(c.startswith(d) for d in private):
            return True
    return False


def dangerous_reason(argv: Sequence[str], *, program: Program | None = None) -> str | None:
    """Why ``argv`` could print or exfiltrate the injected values or run arbitrary code, or None.

    This is a tripwire, not a sandbox: a test suite the agent edits runs the agent's code too. The masking of the
    output and the audit log are the other layers; this one stops the commands whose *only* purpose is to show
    the environment or a secret file. With ``program`` (what argv[0] really resolves to) the check also looks at
    the real file's name: ``./bin/pytest`` that links to bash is bash.
    """
    reason = _dangerous(argv)
    if reason is None and program is not None and argv and os.path.basename(program.path) != os.path.basename(
            argv[0]):
        reason = _dangerous([program.path, *argv[1:]])
    return reason


def _dangerous(argv: Sequence[str]) -> str | None:
    if not argv:
        return "empty command"
    name = _base(argv[0])
    args = list(argv[1:])
    private = _private_dirs()
    if name in _SHELLS:
        return f"{name} runs arbitrary shell code"
    if name in _ENV_DUMPERS:
        return f"{name} prints the environment or runs another command with it"
    flags = _CODE_FLAGS.get(name)
    if flags is not None:
        if name in {"awk", "gawk", "tclsh", "jshell"}:
            return f"{name} runs code given on its command line"
        for a in args:
            if a in flags or any(a.startswith(f) and len(f) == 2 and not f.startswith("--") for f in flags) or (
                any(a.startswith(f + "=") for f in flags if f.startswith("--"))
            ):
                return f"{name} {a[:2] if not a.startswith('--') else a} runs code given on its command line"
        if name in {"python", "pypy"} and not args:
            return f"{name} without a script reads code from its input"
        if name in {"python", "pypy"} and len(args) >= 2 and args[0] == "-m" and args[1] in {
            "code", "pdb", "IPython", "base64", "json.tool", "http.server", "pydoc",
        }:
            return f"{name} -m {args[1]} can print or serve the environment"
    if name in _FILE_READERS or name in _SHELLS:
        for a in args:
            if _touches_sensitive(a, private):
                return f"{name} would read a secret file ({os.path.basename(a.rstrip('/')) or a})"
    for a in args:
        if a.startswith("/proc/") or "/environ" in a:
            return "reads another process's environment"
        if any(a == d or a.startswith(d + "/") for d in private):
            return "touches unleak's vault, grants or audit log"
    return None
