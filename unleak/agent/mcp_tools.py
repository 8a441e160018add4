"""The MCP tools' contract: input and output JSON schemas, the read-only subset, and argument validation whose messages
name the rule broken, never the value sent."""


from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from scanner.errors import UsageError

MAX_DIFF = 5 * 1024 * 1024


_STR = {"type": "string", "minLength": 1, "maxLength": 4096}


_TASK = {"type": "string", "pattern": r"^[A-Za-z0-9._:/#-]{1,128}$",
         "description": "Your task or ticket id; grants and the audit log are grouped by it."}


_PATHS = {"type": "array", "items": _STR, "maxItems": 1000,
          "description": "Paths relative to the repository root (default: everything)."}


def _schema(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}


def _out(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    # Open (additional properties allowed): a client validates what it relies on, and answers may grow.
    return {"type": "object", "properties": props, "required": list(required)}


_FINDING = {"type": "object", "properties": {
    "rule_id": {"type": "string"}, "title": {"type": "string"}, "confidence": {"type": "string"},
    "path": {"type": "string"}, "line": {"type": "integer"}, "fingerprint": {"type": "string"},
    "preview": {"type": "string"}, "verified": {"type": "object"}},
    "required": ["rule_id", "path", "fingerprint", "preview"]}


_ARRAY = {"type": "array"}


# The structured answers (`outputSchema`) of each tool's successful call; an error answer is {"error", "kind"}.
OUTPUT_SCHEMAS: dict[str, dict[str, Any]] = {
    "scan": _out({"findings": {"type": "array", "items": _FINDING}, "count": {"type": "integer", "minimum": 0},
                  "next": {"type": "string"}}, ("findings", "count")),
    "check_diff": _out({"clean": {"type": "boolean"}, "secret_lines": _ARRAY,
                        "findings": {"type": "array", "items": _FINDING}, "advice": {"type": "string"}},
                       ("clean", "findings")),
    "fix": _out({"namespace": {"type": "string"}, "secrets": _ARRAY, "files": _ARRAY, "patch": {"type": "string"},
                 "manual": _ARRAY, "notes": _ARRAY}, ("secrets", "files")),
    "list_secrets": _out({"namespace": {"type": "string"}, "secrets": _ARRAY}, ("secrets",)),
    "run": _out({"status": {"type": "string"}, "exit_code": {"type": "integer"}, "output": {"type": "string"},
                 "message": {"type": "string"}}),
    "request_secret": _out({"status": {"type": "string"}, "name": {"type": "string"},
                            "reference": {"type": "string"}, "message": {"type": "string"}},
                           ("status", "name", "reference")),
}


# What `unleak mcp --read-only` serves: tools that neither change files, nor touch the vault, nor run anything.
READ_ONLY_TOOLS = ("scan", "check_diff", "list_secrets")


TOOLS: dict[str, dict[str, Any]] = {
    "scan": {
        "title": "Scan for secrets",
        "description": "Find secrets in the repository: working-tree files, staged changes, uncommitted changes or "
                       "every commit of a range. Returns redacted findings (rule, path, line, fingerprint, preview); "
                       "never a value.",
        "schema": _schema({
            "mode": {"type": "string", "enum": ["files", "staged", "changes", "range"], "default": "files"},
            "paths": _PATHS,
            "range": {"type": "string", "pattern": r"^[^\s-][^\s]{0,255}$",
                      "description": "BASE..HEAD, for mode=range"},
            "min_confidence": {"type": "string", "enum": ["high", "medium", "low", "unlikely"]},
            "verify": {"type": "boolean", "default": False,
                       "description": "Ask each credential's own provider whether it is live (valid, invalid or "
                                      "unknown per finding); sends each credential only to its provider, over HTTPS."},
            "task_id": _TASK,
        }),
        "annotations": {"read_only_hint": True, "destructive_hint": False, "idempotent_hint": True,
                        "open_world_hint": True},
    },
    "check_diff": {
        "title": "Check a diff for secrets",
        "description": "Scan a unified diff you are about to apply; says which added lines carry a secret so you "
                       "can use an environment variable instead.",
        "schema": _schema({"diff": {"type": "string", "minLength": 1, "maxLength": MAX_DIFF}, "task_id": _TASK},
                          ("diff",)),
        "annotations": {"read_only_hint": True, "destructive_hint": False, "idempotent_hint": True,
                        "open_world_hint": False},
    },
    "fix": {
        "title": "Move secrets into the vault",
        "description": "Plan (apply=false, the default) or apply `unleak fix` on the given paths: each secret "
                       "moves into the user's vault and the code is rewritten to read a reference. You get the "
                       "redacted patch.",
        "schema": _schema({"paths": _PATHS, "apply": {"type": "boolean", "default": False}, "task_id": _TASK}),
        "annotations": {"read_only_hint": False, "destructive_hint": True, "idempotent_hint": True,
                        "open_world_hint": False},
    },
    "list_secrets": {
        "title": "List secret names",
        "description": "Names and references of the secrets this repository can use (vault entries and the "
                       "references in its .env files). Never values.",
        "schema": _schema({}),
        "annotations": {"read_only_hint": True, "destructive_hint": False, "idempotent_hint": True,
                        "open_world_hint": False},
    },
    "run": {
        "title": "Run a command with secrets",
        "description": "Run an argv (a list, no shell) with the secrets of the repository's reference file "
                       "(.env.unleak) in its environment. Allowed only under a grant the human gave; otherwise "
                       "returns an approval request id and what the human must do. Returns the exit code and the "
                       "masked, size-capped output. Commands that print the environment or run inline code (sh -c, "
                       "python -c, env, printenv, cat .env …) are refused unless the human allowed exactly that.",
        "schema": _schema({
            "argv": {"type": "array", "items": {"type": "string", "maxLength": 8192, "pattern": "^[^\\x00]*$"},
                     "minItems": 1, "maxItems": 512},
            "cwd": {"type": "string", "maxLength": 4096,
                    "description": "Directory inside the repository (default: its root)."},
            "env_file": {"type": "string", "maxLength": 4096,
                         "description": "Reference file, relative to cwd (default: .env.unleak, else .env)."},
            "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 3600},
            "task_id": _TASK,
        }, ("argv",)),
        "annotations": {"read_only_hint": False, "destructive_hint": True, "idempotent_hint": False,
                        "open_world_hint": True},
    },
    "request_secret": {
        "title": "Ask the human for a new secret",
        "description": "Ask the human to enter a secret you need (e.g. an API key). They type it into a local "
                       "page that stores it in the vault; you get back the reference to put in .env.unleak, "
                       "never the value.",
        "schema": _schema({
            "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"},
            "reason": {"type": "string", "maxLength": 500},
            "task_id": _TASK,
        }, ("name",)),
        "annotations": {"read_only_hint": False, "destructive_hint": False, "idempotent_hint": False,
                        "open_world_hint": False},
    },
}


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def without_arguments(message: str, tool: str, args: Mapping[str, Any]) -> str:
    """``message`` with every free-text string the agent sent replaced by ``<argument>`` (a choice from an enum
    is the schema's own word and stays)."""
    props = TOOLS.get(tool, {}).get("schema", {}).get("properties", {})
    sent: set[str] = set()

    def collect(v: Any) -> None:
        if isinstance(v, str):
            sent.add(v)
        elif isinstance(v, Mapping):
            for x in v.values():
                collect(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                collect(x)

    collect({k: v for k, v in args.items() if "enum" not in props.get(k, {})})
    for s in sorted((x for x in sent if len(x) >= 2), key=len, reverse=True):
        message = message.replace(repr(s), "<argument>").replace(s, "<argument>")
    return message


def validate_arguments(name: str, args: dict[str, Any]) -> None:
    import jsonschema  # type: ignore[import-untyped, unused-ignore]

    spec = TOOLS.get(name)
    if spec is None:
        raise UsageError(f"unknown tool {echo_identifier(name)}; tools: {', '.join(TOOLS)}")
    validator = jsonschema.Draft202012Validator(spec["schema"])
    errors = sorted(validator.iter_errors(args), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.path) or "arguments"
        allowed = ", ".join(spec["schema"]["properties"]) or "none"
        # The message names the rule, not the offending value (an argument could hold anything).
        if e.validator == "additionalProperties":
            extra = sorted(set(e.instance) - set(spec["schema"]["properties"])) if isinstance(e.instance, dict) else []
            hint = f"unexpected argument(s) {', '.join(echo_identifier(x) for x in extra)}; allowed: {allowed}"
        elif e.validator == "required":
            hint = f"missing required argument(s) {', '.join(short_json(x) for x in e.validator_value)}"
        elif e.validator == "type":
            hint = f"must be of type {short_json(e.validator_value)}"
        else:
            hint = f"fails {e.validator} {short_json(e.validator_value)}"
        raise UsageError(f"invalid arguments for {name}: {where}: {hint}")


def echo_identifier(v: str) -> str:
    """An identifier the agent sent, echoed only when it is one; anything else could be any text at all."""
    return v if _IDENT.fullmatch(v) else "(invalid name)"


def short_json(v: Any) -> str:
    s = json.dumps(v) if not isinstance(v, str) else v
    return s if len(s) <= 80 else s[:77] + "..."
