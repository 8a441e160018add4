"""Hooks: Claude Code's hook protocol, a generic content check for other agents' hook systems, and the installers
for the Claude Code settings entry and a plain git pre-commit hook.

Claude Code runs a hook command with a JSON payload on stdin (``hook_event_name``, ``tool_name``, ``tool_input``,
``prompt``, ``cwd`` …). A hook blocks by exiting with code 2 and a reason on stderr (the reason goes to the model
for PreToolUse, to the user for UserPromptSubmit), or by printing a JSON decision and exiting 0. :func:`decide` turns
a payload into a :class:`Decision`; the CLI renders it either way.

Everything here runs on every edit the agent makes, so imports of the scanner are lazy and only happen when there
is content to scan. No message ever carries a value: findings are described by rule, line and redacted preview.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from scanner.errors import ConfigError, UsageError
from scanner.lazyre import lazy

# --------------------------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Decision:
    """What a hook answers: allow, or block with a reason written for whoever reads it (model or user)."""

    block: bool
    reason: str = ""
    event: str = ""

    def claude_json(self) -> dict[str, Any]:
        """Claude Code's JSON decision form (printed on stdout with exit code 0)."""
        if not self.block:
            return {}
        if self.event == "PreToolUse":
            return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                           "permissionDecisionReason": self.reason}}
        return {"decision": "block", "reason": self.reason}


ALLOW = Decision(block=False)


@dataclass(frozen=True)
class Hit:
    """A redacted finding as hooks describe it: never the value."""

    rule_id: str
    title: str
    line: int
    preview: str
    fingerprint: str = ""

    def describe(self) -> str:
        return f"{self.rule_id} {self.title} {self.preview} (line {self.line})"


# ------------------------------------------------------------------------------------------------ scanning


# Rule families a hook skips unless asked for everything: the detect-secrets plugins cost ~0.5 s of imports on
# every call, and a hook runs on every edit. The pre-commit scan and CI still run them.
SLOW_FAMILIES = frozenset({"detect-secrets"})


#: filters a coding agent can trigger with what it writes, so hooks never apply them
AGENT_IGNORED_FILTERS = frozenset({"allow-comment"})


def scan_text(text: str, path: str = "<stdin>", root: Path | None = None, *, thorough: bool | None = None
              ) -> list[Hit]:
    """Secrets in ``text`` (hooks check content before it is written). The scanner is imported here, not at the
    top, so a hook that has nothing to scan stays at interpreter start-up cost. ``thorough`` (default: the
    UNLEAK_HOOK_THOROUGH environment variable) also runs the slow rule families.

    What hooks check comes from a coding agent, which can also write allow comments and the repository's
    ``.unleak.toml``. So allow comments are ignored, and so is the repository's configuration (``root`` only
    places the scan): ``disable`` and ``min-confidence`` would switch the guard off, and a custom rule's regex
    could be made slow enough for the hook to time out, which lets the call through. ``unleak scan``, pre-commit
    and CI apply the configuration."""
    if not text:
        return []
    from scanner.api import ScanRequest, scan
    from scanner.rules import all_rules

    if thorough is None:
        thorough = os.environ.get("UNLEAK_HOOK_THOROUGH", "") not in ("", "0")
    disabled: set[str] = set() if thorough else {r.id for r in all_rules().values() if r.family in SLOW_FAMILIES}
    result = scan(ScanRequest(root=root or Path.cwd(), modes=(), text=text, text_path=path, workers=1,
                              disabled=frozenset(disabled), ignore_filters=AGENT_IGNORED_FILTERS))
    return [Hit(f.rule_id, f.title, f.line, f.preview, f.fingerprint) for f in result.findings]


def _hits_text(hits: Sequence[Hit], limit: int = 5) -> str:
    shown = "; ".join(h.describe() for h in hits[:limit])
    more = f" and {len(hits) - limit} more" if len(hits) > limit else ""
    return shown + more


# ---------------------------------------------------------------------------------- secret-bearing files

# Files whose whole purpose is to hold secrets. Reading one hands its values to whoever reads the output.
_KEY_NAMES = {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk", ".netrc", "_netrc",
              ".pgpass", ".git-credentials", "credentials.json", "service-account.json", ".htpasswd",
              "vault.key"}
_KEY_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".kdbx", ".vault")
_DOTENV_SAFE = (".example", ".sample", ".template", ".dist", ".defaults", ".schema")
_REF_VALUE = lazy(r"^(unleak|op)://\S+$|^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


def _is_dotenv(name: str) -> bool:
    if name == ".env" or name.endswith(".env"):
        return True
    return name.startswith(".env.") and not name.endswith(_DOTENV_SAFE)


def _dotenv_is_references_only(path: Path) -> bool:
    """True when every assignment in a dotenv file is empty or a reference: such a file is safe to read (it is the
    file `unleak fix` writes). Unreadable or missing files count as unsafe only if they exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return True  # nothing to leak; the command fails on its own
    except (OSError, UnicodeDecodeError):
        return False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        if "=" not in line:
            continue
        value = line.split("=", 1)[1].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if value and not _REF_VALUE.match(value):
            return False
    return True


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


# ------------------------------------------------------------------------------------- Claude Code events

_WRITE_TOOLS = {"Write", "Edit", "MultiEdit", "NotebookEdit"}

_FIX_ADVICE = ("Do not put secret values in files. Write code that reads the value from the environment "
               "(e.g. os.environ[\"NAME\"]) and keep a reference such as unleak://<namespace>/NAME in .env; run "
               "`unleak fix <file>` to move an existing secret into the vault, and `unleak run -- <command>` to run "
               "with it (from an agent, that needs a grant: the human approves the request it makes).")
_BASH_ADVICE = ("Secrets must not be printed where an agent or a log can read them. Use `unleak secrets list` to see "
                "names and references, and `unleak run -- <command>` to run a program with the values injected "
                "(from an agent, under a grant the human approves).")
_PROMPT_ADVICE = ("It was not sent. Store the value with `unleak secrets set NAME` (it asks with a hidden prompt) "
                  "and refer to it by name, e.g. \"use NAME from the vault\". If it was real, consider it exposed "
                  "wherever you pasted it and rotate it.")


def _written_content(tool: str, tool_input: dict[str, Any]) -> list[str]:
    if tool == "Write":
        return [str(tool_input.get("content") or "")]
    if tool == "Edit":
        return [str(tool_input.get("new_string") or "")]
    if tool == "MultiEdit":
        edits = tool_input.get("edits") or []
        return [str(e.get("new_string") or "") for e in edits if isinstance(e, dict)]
    if tool == "NotebookEdit":
        return [str(tool_input.get("new_source") or "")]
    return []


# Files up to this size are checked whole after the edit (a key split over two edits is only whole there); a larger
# one is checked on the new text alone. A hook that times out lets the call through, and the agent chooses the
# file's content: ~0.5 s per scan of 512 KiB of dense random text on one core, twice (before and after).
WHOLE_FILE_LIMIT = 512 * 1024


def _read_text(path: Path) -> str | None:
    """The file's text (undecodable bytes replaced), "" when it does not exist, None when it is too big or
    unreadable."""
    try:
        if not path.is_file():
            return "" if not path.exists() else None
        if path.stat().st_size > WHOLE_FILE_LIMIT:
            return None
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None


def _apply_edit(text: str, old: str, new: str, replace_all: bool) -> str:
    """``text`` after Claude Code's Edit. An ``old`` that is not there fails the edit in Claude Code; the new text
    is appended anyway, so it is scanned in the file's context rather than not at all."""
    if not old:
        return new + text
    if old not in text:
        return text + "\n" + new
    return text.replace(old, new) if replace_all else text.replace(old, new, 1)


def _notebook_sources(raw: str) -> list[dict[str, Any]] | None:
    try:
        doc = json.loads(raw) if raw.strip() else {"cells": []}
    except json.JSONDecodeError:
        return None
    cells = doc.get("cells") if isinstance(doc, dict) else None
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else None


def _cell_text(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _notebook_after(cells: list[dict[str, Any]], tool_input: dict[str, Any]) -> list[dict[str, Any]]:
    """The cells after a NotebookEdit (replace, insert after ``cell_id`` or at the top, delete)."""
    cells = list(cells)
    mode = str(tool_input.get("edit_mode") or "replace")
    cell_id = tool_input.get("cell_id")
    idx = next((i for i, c in enumerate(cells) if cell_id is not None and c.get("id") == cell_id), None)
    new_cell = {"cell_type": tool_input.get("cell_type") or "code", "source": str(tool_input.get("new_source") or "")}
    if mode == "insert":
        cells.insert(0 if idx is None else idx + 1, new_cell)
    elif mode == "delete":
        if idx is not None:
            del cells[idx]
    elif idx is not None:
        cells[idx] = {**cells[idx], "source": new_cell["source"]}
    else:
        cells.append(new_cell)
    return cells


def content_before_after(tool: str, tool_input: dict[str, Any], path: Path) -> tuple[str, str] | None:
    """(the file's content now, its content after the tool call), as text to scan; None when the file cannot be
    checked whole (too big, unreadable, not a notebook the edit can be applied to)."""
    current = _read_text(path)
    if current is None:
        return None
    if tool == "Write":
        return current, str(tool_input.get("content") or "")
    if tool == "Edit":
        return current, _apply_edit(current, str(tool_input.get("old_string") or ""),
                                    str(tool_input.get("new_string") or ""), bool(tool_input.get("replace_all")))
    if tool == "MultiEdit":
        after = current
        for e in tool_input.get("edits") or []:
            if isinstance(e, dict):
                after = _apply_edit(after, str(e.get("old_string") or ""), str(e.get("new_string") or ""),
                                    bool(e.get("replace_all")))
        return current, after
    if tool == "NotebookEdit":
        cells = _notebook_sources(current)
        if cells is None:
            return None
        # Cells joined by blank lines: what the scanner sees is the code, as in the notebook's cells.
        return ("\n\n".join(_cell_text(c) for c in cells),
                "\n\n".join(_cell_text(c) for c in _notebook_after(cells, tool_input)))
    return None


def _new_hits(before: list[Hit], after: list[Hit]) -> list[Hit]:
    """Findings of ``after`` that ``before`` did not have (counted, so a second copy of a secret counts)."""
    from collections import Counter

    left = Counter((h.rule_id, h.fingerprint) for h in before)
    out: list[Hit] = []
    for h in after:
        key = (h.rule_id, h.fingerprint)
        if left[key] > 0:
            left[key] -= 1
        else:
            out.append(h)
    return out


def write_hits(tool: str, tool_input: dict[str, Any], cwd: Path) -> list[Hit]:
    """Secrets a write tool call would add. The whole resulting file is scanned — a key split over two edits, or
    completed next to text already there, is whole only there — and what the file already held is not reported
    again (a second copy of it is). A file that cannot be checked whole is checked on the new text alone."""
    path_text = str(tool_input.get("file_path") or tool_input.get("notebook_path") or "")
    rel = _relative(path_text or "<content>", cwd)
    root = _root(cwd)
    both = None
    if path_text:
        both = content_before_after(tool, tool_input, Path(path_text) if os.path.isabs(path_text)
                                    else cwd / path_text)
    if both is None:
        return [h for text in _written_content(tool, tool_input) for h in scan_text(text, rel, root)]
    before, after = both
    return _new_hits(scan_text(before, rel, root) if before else [], scan_text(after, rel, root))


def file_hits_after_write(tool_input: dict[str, Any], tool_response: Any, cwd: Path) -> list[Hit]:
    """PostToolUse: secrets in the file as it is now on disk that were not in it before the call (Claude Code
    reports the original content of an Edit; without it, every secret in the file counts)."""
    path_text = str(tool_input.get("file_path") or tool_input.get("notebook_path") or "")
    if not path_text:
        return []
    p = Path(path_text) if os.path.isabs(path_text) else cwd / path_text
    now = _read_text(p)
    if not now:
        return []
    rel = _relative(path_text, cwd)
    root = _root(cwd)
    if p.suffix == ".ipynb":
        cells = _notebook_sources(now)
        if cells is not None:
            now = "\n\n".join(_cell_text(c) for c in cells)
    original = tool_response.get("originalFile") if isinstance(tool_response, dict) else None
    before = scan_text(original, rel, root) if isinstance(original, str) and p.suffix != ".ipynb" else []
    return _new_hits(before, scan_text(now, rel, root))


def _cwd(payload: dict[str, Any]) -> Path:
    cwd = payload.get("cwd")
    return Path(cwd) if isinstance(cwd, str) and cwd else Path.cwd()


def _root(cwd: Path) -> Path | None:
    """The repository root for configuration, found without running git (this runs on every edit)."""
    for d in (cwd, *cwd.parents):
        if (d / ".git").exists():
            return d
    return cwd if cwd.is_dir() else None


def decide(payload: dict[str, Any]) -> Decision:
    """Claude Code's decision for one hook payload. Unknown events and tools are allowed: the hook only guards
    what it understands, and Claude Code's own permission flow still applies."""
    event = str(payload.get("hook_event_name") or "")
    cwd = _cwd(payload)
    if event == "PreToolUse":
        tool = str(payload.get("tool_name") or "")
        tool_input = payload.get("tool_input") or {}
        if not isinstance(tool_input, dict):
            raise UsageError("hook payload: tool_input is not an object")
        if tool in _WRITE_TOOLS:
            path = str(tool_input.get("file_path") or tool_input.get("notebook_path") or "<content>")
            rel = _relative(path, cwd)
            hits = write_hits(tool, tool_input, cwd)
            if hits:
                return Decision(True, f"unleak blocked this {tool} to {rel}: the new content carries a secret "
                                      f"({_hits_text(hits)}). {_FIX_ADVICE}", event)
            return ALLOW
        if tool == "Bash":
            command = str(tool_input.get("command") or "")
            why = bash_reason(command, cwd)
            if why:
                return Decision(True, f"unleak blocked this command: {why}. {_BASH_ADVICE}", event)
            hits = scan_text(command, "<command>", _root(cwd))
            if hits:
                return Decision(True, "unleak blocked this command: it carries a secret literal on its command line "
                                      f"({_hits_text(hits)}), where every process listing and log can read it. "
                                      f"{_BASH_ADVICE}", event)
            return ALLOW
        if tool == "Read":
            why = secret_file_reason(str(tool_input.get("file_path") or ""), cwd)
            if why:
                return Decision(True, f"unleak blocked reading {tool_input.get('file_path')}: {why}. "
                                      f"{_BASH_ADVICE}", event)
            return ALLOW
        if tool == "Grep":
            # Grep prints matching lines: searching a secret-bearing file (or a glob naming .env files) reads it.
            target = str(tool_input.get("path") or "")
            why = secret_file_reason(target, cwd) if target else None
            glob = str(tool_input.get("glob") or "")
            if why is None and glob and _is_dotenv(PurePosixPath(glob.rstrip("*").rstrip(".") or glob).name):
                why = f"the glob {glob} selects .env files, which hold secret values"
            if why:
                return Decision(True, f"unleak blocked this search: {why}. {_BASH_ADVICE}", event)
            return ALLOW
        # Any other tool (MCP tools, WebFetch, subagents …): a value anywhere in its input leaves with the call.
        return scan_tool_input(tool, tool_input, cwd, event)
    if event == "PostToolUse":
        tool = str(payload.get("tool_name") or "")
        tool_input = payload.get("tool_input") or {}
        if tool not in _WRITE_TOOLS or not isinstance(tool_input, dict):
            return ALLOW
        hits = file_hits_after_write(tool_input, payload.get("tool_response"), cwd)
        if hits:
            rel = _relative(str(tool_input.get("file_path") or tool_input.get("notebook_path")), cwd)
            return Decision(True, f"unleak: after this {tool}, {rel} holds a secret it did not hold before "
                                  f"({_hits_text(hits)}). Remove it from the file now. {_FIX_ADVICE}", event)
        return ALLOW
    if event == "UserPromptSubmit":
        hits = scan_text(str(payload.get("prompt") or ""), "<prompt>", _root(cwd))
        if hits:
            return Decision(True, f"unleak: your prompt contains a secret ({_hits_text(hits)}). {_PROMPT_ADVICE}",
                            event)
        return ALLOW
    return ALLOW


def _strings(obj: Any) -> Iterator[str]:
    """Every string in a JSON value (keys included: a secret can be a key as well)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def scan_tool_input(tool: str, tool_input: Any, cwd: Path, event: str) -> Decision:
    """Block a call whose input carries a secret anywhere (every string of it, however nested)."""
    hits = scan_text("\n".join(_strings(tool_input)), f"<{tool} input>", _root(cwd))
    if hits:
        return Decision(True, f"unleak blocked this call to {tool}: its input carries a secret "
                              f"({_hits_text(hits)}). Pass a reference or a secret's name, never its value.", event)
    return ALLOW


def _relative(path: str, cwd: Path) -> str:
    try:
        return str(Path(path).relative_to(cwd))
    except ValueError:
        return path


def parse_payload(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw.strip() else None
    except json.JSONDecodeError as exc:
        raise UsageError(f"stdin is not a Claude Code hook payload: invalid JSON at line {exc.lineno} column "
                         f"{exc.colno}") from None
    if not isinstance(data, dict):
        raise UsageError("stdin is not a Claude Code hook payload: expected a JSON object with hook_event_name")
    return data


# ------------------------------------------------------------------------------------------------ installers

HOOK_COMMAND = "unleak hook claude-code"
# Every tool: MCP tools and WebFetch carry whatever their input holds (Claude Code's "*" matches all tools).
PRE_TOOL_MATCHER = "*"
# Claude Code's own permission rules for files that hold values: denied even where the hook cannot run.
DENY_READ_RULES = ("Read(./.env)", "Read(./.env.*)", "Read(./**/.env)", "Read(./**/.env.*)", "Read(./**/id_rsa)",
                   "Read(./**/id_ed25519)", "Read(./**/id_ecdsa)", "Read(./**/*.key)", "Read(~/.ssh/**)",
                   "Read(~/.aws/credentials)")
#: after a write, the file on disk is checked whole again: edits that slipped past PreToolUse (made in pieces, or
#: changed on disk in between) are reported to the agent at once
POST_TOOL_MATCHER = "Write|Edit|MultiEdit|NotebookEdit"


@dataclass
class InstallResult:
    path: Path
    changed: bool
    added: list[str] = field(default_factory=list)


def claude_settings_path(scope: str, project_dir: Path, home: Path | None = None) -> Path:
    if scope == "user":
        return (home or Path.home()) / ".claude" / "settings.json"
    if scope == "local":
        return project_dir / ".claude" / "settings.local.json"
    if scope == "project":
        return project_dir / ".claude" / "settings.json"
    raise UsageError(f"unknown scope {scope!r}; use project, local or user")


def guarded_command(command: str) -> str:
    """The hook command as written into an agent's settings: a POSIX shell line that fails closed.

    Agents treat any exit code but 2 as a non-blocking error, so a bare ``unleak …`` where unleak is not on PATH
    (exit 127), or an interpreter that cannot start, would switch the guard off without a word. The line checks
    that the program exists and turns every exit code but 0 and 2 into 2 with a message on stderr."""
    import shlex

    prog = shlex.split(command)[0] if command.strip() else "unleak"
    missing = shlex.quote(f"unleak: {prog} is not on PATH, so the secret guard cannot run and the call is "
                          "blocked; install unleak (pipx install unleak) or fix PATH for the agent")
    failed = shlex.quote("unleak: the secret guard failed, so the call is blocked (exit ")
    return (f"command -v {shlex.quote(prog)} >/dev/null 2>&1 || {{ echo {missing} >&2; exit 2; }}; "
            f"{command}; rc=$?; [ $rc -eq 0 ] || [ $rc -eq 2 ] || {{ echo {failed}\"$rc)\" >&2; exit 2; }}; "
            "exit $rc")


def _is_ours(h: Any, command: str) -> bool:
    # The guarded line, or the bare command an older unleak wrote (which the install upgrades).
    return isinstance(h, dict) and h.get("command") in (command, guarded_command(command))


def install_claude_code(settings: Path, command: str = HOOK_COMMAND, timeout: int = 10) -> InstallResult:
    """Merge unleak's hook entries into a Claude Code settings file; keep everything else; idempotent. The
    command written is :func:`guarded_command`, so a missing unleak blocks instead of silently allowing."""
    from scanner.fileio import atomic_write_text

    doc: dict[str, Any] = {}
    if settings.exists():
        try:
            loaded = json.loads(settings.read_text(encoding="utf-8") or "{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{settings}: not valid JSON ({exc}); fix or move it, then run the install again") \
                from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{settings}: expected a JSON object at the top level")
        doc = loaded
    hooks = doc.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise ConfigError(f"{settings}: key 'hooks' must be an object")
    added: list[str] = []
    for event, matcher in (("PreToolUse", PRE_TOOL_MATCHER), ("PostToolUse", POST_TOOL_MATCHER),
                           ("UserPromptSubmit", None)):
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise ConfigError(f"{settings}: key 'hooks.{event}' must be a list")
        ours = [g for g in groups if isinstance(g, dict) and any(_is_ours(h, command) for h in g.get("hooks") or [])]
        if ours:
            # Installed before: widen a matcher an older unleak wrote (only in a group that holds nothing else).
            g = ours[0]
            if matcher is not None and g.get("matcher") != matcher and len(g.get("hooks") or []) == 1:
                g["matcher"] = matcher
                added.append(f"{event} (matcher updated)")
            for h in g.get("hooks") or []:
                if isinstance(h, dict) and h.get("command") == command:
                    h["command"] = guarded_command(command)
                    added.append(f"{event} (fails closed now)")
            continue
        group: dict[str, Any] = {"hooks": [{"type": "command", "command": guarded_command(command),
                                            "timeout": timeout}]}
        if matcher is not None:
            group = {"matcher": matcher, **group}
        groups.append(group)
        added.append(event)
    perms = doc.setdefault("permissions", {})
    if not isinstance(perms, dict) or not isinstance(perms.setdefault("deny", []), list):
        raise ConfigError(f"{settings}: key 'permissions.deny' must be a list")
    missing = [r for r in DENY_READ_RULES if r not in perms["deny"]]
    if missing:
        perms["deny"].extend(missing)
        added.append(f"permissions.deny ({len(missing)} rule{'s' if len(missing) != 1 else ''})")
    if not added:
        return InstallResult(settings, False)
    settings.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(settings, json.dumps(doc, indent=2) + "\n")
    return InstallResult(settings, True, added)


GIT_HOOK_MARKER = "# installed by `unleak install-hook`"


def git_hook_script(python: str) -> str:
    # Prefer `unleak` on PATH (a virtualenv the user activates); fall back to the interpreter that installed the
    # hook, so the hook keeps working from GUI git clients that do not see the user's PATH.
    return f"""#!/bin/sh
{GIT_HOOK_MARKER}
# Blocks a commit whose staged changes add a secret. Bypass once with: git commit --no-verify
if command -v unleak >/dev/null 2>&1; then
    exec unleak scan --staged
fi
exec {shlex.quote(python)} -m unleak scan --staged
"""


def install_git_hook(repo: Path, force: bool = False, python: str | None = None) -> InstallResult:
    """Write the pre-commit hook where git looks for it (honours core.hooksPath). Refuses to replace a hook that
    unleak did not write unless ``force``."""
    import sys

    from scanner import git
    from scanner.fileio import atomic_write_text

    top = git.require_repo(repo, "install-hook")
    hooks_dir = Path(git.run(["rev-parse", "--git-path", "hooks"], top).strip())
    if not hooks_dir.is_absolute():
        hooks_dir = top / hooks_dir
    target = hooks_dir / "pre-commit"
    script = git_hook_script(python or sys.executable)
    if target.exists():
        try:
            current = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            current = ""
        if current == script:
            return InstallResult(target, False)
        if GIT_HOOK_MARKER not in current and not force:
            raise UsageError(f"{target} already exists and was not written by unleak; add `unleak scan --staged` "
                             "to it yourself, or replace it with `unleak install-hook --force`")
    hooks_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, script, mode=0o755)
    return InstallResult(target, True)
