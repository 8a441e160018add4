"""Structured config files (YAML, JSON, TOML, INI, properties, …).

Only where the consumer interpolates environment variables is a value replaced, by ``${NAME}``: Docker Compose
files (``docker compose`` substitutes ``${NAME}`` from the environment ``unleak run`` provides) and Spring Boot
``application*.properties|yml`` (``${NAME}`` placeholders resolve from the environment). Anywhere else the consumer
reads the value verbatim, so the secret is listed as a manual step: it is never left behind silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath

from remediate.codemods.sites import Site

_COMPOSE = re.compile(r"^(?:docker-)?compose(?:\.[\w.-]+)?\.ya?ml$")
_SPRING = re.compile(r"^application(?:-[\w.-]+)?\.(?:properties|ya?ml)$")
_KEY_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*)[\"']?\s*[:=]\s*[\"']?[^\"'\s]*$")

_KIND = {
    ".yaml": "YAML", ".yml": "YAML", ".json": "JSON", ".toml": "TOML", ".ini": "INI", ".cfg": "INI",
    ".conf": "config", ".properties": "properties", ".xml": "XML",
}


def interpolates(path: str) -> bool:
    name = PurePosixPath(path).name
    return bool(_COMPOSE.match(name) or _SPRING.match(name))


# Source files of other languages: how that language reads an environment variable.
_ENV_READ = {
    ".js": "process.env.NAME", ".mjs": "process.env.NAME", ".cjs": "process.env.NAME", ".ts": "process.env.NAME",
    ".jsx": "process.env.NAME", ".tsx": "process.env.NAME", ".go": 'os.Getenv("NAME")', ".rb": 'ENV["NAME"]',
    ".java": 'System.getenv("NAME")', ".kt": 'System.getenv("NAME")',
    ".cs": 'Environment.GetEnvironmentVariable("NAME")',
    ".php": "getenv('NAME')", ".rs": 'std::env::var("NAME")', ".sh": '"$NAME"', ".bash": '"$NAME"', ".zsh": '"$NAME"',
}


def manual_reason(path: str) -> str:
    """Why a secret in ``path`` is left by hand and what to write instead; ``{NAME}`` stands for the variable the
    planner chose (it fills it in)."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in _ENV_READ:
        read = _ENV_READ[suffix].replace("NAME", "{NAME}")
        return (f"unleak fix does not rewrite this language: store the value with `unleak secrets set {{NAME}}` and "
                f"read it with {read} by hand")
    what = _KIND.get(suffix, "this file type")
    return (f"{what} is read verbatim by its consumer: move the value by hand (store it with `unleak secrets set "
            "{NAME}` and make the program read {NAME} from its environment)")


_BLOCK = re.compile(r"^(\s*)[\"']?([A-Za-z_][\w.-]*)[\"']?\s*[:=]\s*[\[{]?\s*$")
_USERINFO = re.compile(r"://[^/\s:@]*:$")


def key_hint(text: str, line: int, raw: str) -> tuple[str | None, str | None]:
    """(hint, scope) for a value at ``line`` of a YAML/JSON/TOML-like file: the key it is written under and the
    block that holds it (``smtp: / password: …`` -> ("password", "smtp")); a URL's password is a "password" in
    the block of its key, so the manual step can name the variable (SMTP_PASSWORD) instead of a bare SECRET."""
    lines = text.splitlines()
    if not 0 < line <= len(lines) or raw not in lines[line - 1]:
        return None, None
    current = lines[line - 1]
    before = current[: current.index(raw)]
    m = _KEY_BEFORE.search(before.rsplit("://", 1)[0] if "://" in before else before)
    key = m.group(1).rsplit(".", 1)[-1] if m else None
    indent = len(current) - len(current.lstrip())
    block = None
    for prev in reversed(lines[: line - 1]):
        b = _BLOCK.match(prev)
        if b and len(b.group(1)) < indent:
            block = b.group(2)
            break
    if _USERINFO.search(before):
        return "password", block or key
    return key, block


def analyze(path: str, text: str, raws: list[str]) -> list[Site]:
    """Sites for an interpolating config file; a value that interpolation would alter is a manual step."""
    sites: list[Site] = []
    for n, line in enumerate(text.splitlines(), 1):
        for raw in raws:
            if raw not in line:
                continue
            if any(c in raw for c in "$\\\"'{}"):
                sites.append(Site(line=n, kind="manual", raw=raw, value=raw,
                                  manual="the value has characters interpolation would change: move it by hand"))
                continue
            m = _KEY_BEFORE.search(line[: line.index(raw)])
            sites.append(Site(line=n, kind="interpolate", raw=raw, value=raw, hint=m.group(1) if m else None))
    return sites


def rewrite(text: str, names: Mapping[str, str]) -> str:
    """Each raw secret -> ``${NAME}``."""
    for raw in sorted(names, key=len, reverse=True):
        text = text.replace(raw, "${" + names[raw] + "}")
    return text
