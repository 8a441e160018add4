"""The console script's entry: ``unleak scan --staged [FILE...]`` (the pre-commit hook), ``unleak scan --history``
or ``--range`` (CI, and a rescan that finds every commit in the cache) and ``unleak run [...] -- COMMAND`` (every use
of a secret) without importing click.

A hook runs many times a day, and click with what it pulls in is ~10 ms of a ~60 ms run (~50 ms where its bytecode
is not compiled). An invocation made only of ``scan``, one of ``--staged``, ``--changes``, ``--pre-push``,
``--history`` or ``--range``, and the plain options a hook or a CI job passes is parsed here and handed to the very
function the click command calls (:func:`unleak.scancmd.run_scan`); anything else — help, paths, other commands, an
unknown, repeated or malformed option — goes to :mod:`unleak.cli`, which owns every message. ``unleak run`` is
taken here when its options are followed by ``--`` and a command (the form every example and integration uses) and
goes to :func:`unleak.runcmd.run_main`, which the click command calls too. A test proves that for each accepted
command line this parse equals click's.

Errors map to messages and exit codes in :func:`unleak.errors.error_handler`, the handler the click group uses. After a
fast run the process ends with ``os._exit`` once stdout and stderr are flushed: the scan leaves nothing for
interpreter teardown to do, and tearing down every imported module is ~8 ms.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from unleak.errors import EXIT_INTERRUPTED, error_handler

_FLAGS = {"--staged": "staged", "--changes": "changes", "--pre-push": "pre_push", "--history": "history",
          "--no-baseline": "no_baseline", "--exit-zero": "exit_zero"}
# option -> (parameter, allowed values or None for any value)
_VALUED: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "--format": ("fmt", ("text", "json", "sarif", "github")),
    "--min-confidence": ("min_confidence", ("high", "medium", "low", "unlikely")),
    "--baseline": ("baseline_path", None),
    "--config": ("config_path", None),
    "-C": ("repo_dir", None),
    "--repo": ("repo_dir", None),
    "--range": ("range_", None),
    "-o": ("output", None),
    "--output": ("output", None),
}


def parse(argv: Sequence[str]) -> dict[str, Any] | None:
    """The keyword arguments of :func:`~unleak.scancmd.run_scan` for a hook-style command line, or None when
    click should handle it."""
    if not argv or argv[0] != "scan":
        return None
    params: dict[str, Any] = {}
    paths: list[str] = []
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg == "--":  # everything after it is a path, as for click
            paths += rest
            break
        if arg and not arg.startswith("-"):  # a file name pre-commit passes
            paths.append(arg)
            continue
        if arg in _FLAGS:
            name = _FLAGS[arg]
            if name in params:
                return None
            params[name] = True
            continue
        opt, eq, value = arg.partition("=")
        if opt not in _VALUED or (eq and not opt.startswith("--")):
            return None
        if not eq:
            if not rest:
                return None
            value = rest.pop(0)
        name, allowed = _VALUED[opt]
        if name in params or not value or value.startswith("-") or (allowed is not None and value not in allowed):
            return None
        params[name] = value
    if not any(params.get(mode) for mode in ("staged", "changes", "pre_push", "history", "range_")):
        return None
    if paths:
        params["paths"] = tuple(paths)
    return params


def _warn(message: str) -> None:
    sys.stderr.write(f"unleak: WARNING: {message}\n")


def _value_of(option: str, arg: str, rest: list[str]) -> str | None:
    """The value when ``arg`` is ``option`` (``--opt VALUE``, taken from ``rest``, or ``--opt=VALUE``); None when it is
    not, or when the value is missing, empty or looks like an option (click then says what is wrong)."""
    if arg == option and rest and rest[0] and not rest[0].startswith("-"):
        return rest.pop(0)
    if arg.startswith(option + "=") and len(arg) > len(option) + 1:
        return arg[len(option) + 1:]
    return None


def parse_run(argv: Sequence[str]) -> dict[str, Any] | None:
    """The keyword arguments of :func:`~unleak.runcmd.run_main` for ``unleak run [--env-file F]... [--no-masking]
    [--no-override] -- COMMAND...``, or None when click should handle the command line (help, an unknown or
    repeated option, no ``--``)."""
    if argv[:1] != ["run"]:
        return None
    env_files: list[str] = []
    flags = {"--no-masking": False, "--no-override": False}
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            if not rest:
                return None
            return {"env_files": tuple(env_files), "no_masking": flags["--no-masking"],
                    "no_override": flags["--no-override"], "command": tuple(rest)}
        if arg in flags and not flags[arg]:
            flags[arg] = True
        elif (value := _value_of("--env-file", arg, rest)) is not None:
            env_files.append(value)
        else:
            return None
    return None


def parse_agent(argv: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(allow_ports, command) for ``unleak agent [--allow-port PORTS]... -- COMMAND...``, or None for click
    (help, ``install``, anything else)."""
    if argv[:1] != ["agent"]:
        return None
    ports: list[str] = []
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            if not rest or rest[0] == "install":
                return None
            return tuple(ports) or ("443",), tuple(rest)
        if (value := _value_of("--allow-port", arg, rest)) is not None:
            ports.append(value)
        else:
            return None
    return None


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("run", "mcp") and {"UNLEAK_BROKER_FD", "UNLEAK_BROKER_SOCKET"} & os.environ.keys():
        # Inside `unleak agent`: `run` and `mcp` are handed to the broker without loading click (one hop less of
        # start-up for every MCP server and run the agent starts).
        from unleak.agent.client import fast_forward

        with error_handler():
            code = fast_forward(args)
        if code is not None:
            sys.exit(code)
    agent = parse_agent(args)
    if agent is not None:
        with error_handler():
            from unleak.agent.broker import session

            code = session(*agent, _warn)
        sys.exit(code)
    run = parse_run(args)
    if run is not None:
        with error_handler():
            from unleak.runcmd import run_main

            code = run_main(**run)
        sys.exit(code)  # not os._exit: a run's pumps and audit records end the ordinary way
    params = parse(args)
    if params is None:
        from unleak.cli import main as cli_main

        cli_main(args)
        return
    try:
        code = _run(params)
        sys.stdout.flush()
        sys.stderr.flush()
    except SystemExit as exc:  # the error handler's one line is written; keep its code
        code = exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:  # between the scan's own handler and here
        code = _interrupted()
    except BrokenPipeError:
        code = 0
    if argv is None:
        os._exit(code)
    sys.exit(code)


def _run(params: dict[str, Any]) -> int:
    with error_handler():
        from unleak.scancmd import run_scan

        if not params.get("history"):  # the pre-commit hook's path: nothing of replay is imported
            return run_scan(**params)
        from unleak import replay

        key = replay.lookup_key(params)
        if key is not None:
            rec = replay.load(key)
            if rec is not None:
                return replay.replay(rec, params)
            from scanner import git

            git.start_rev_list(key[2], ["--all"])  # walks history while the scanner is imported and built
        recorder: dict[str, Any] = {}
        code = run_scan(**params, recorder=recorder)
        # Recorded only when nothing it depends on moved while it ran (a commit, a fetch, an edited config).
        if key is not None and recorder.get("replayable") and replay.lookup_key(params) == key:
            replay.save(key, recorder)
        return code


def _interrupted() -> int:
    sys.stderr.write("unleak: interrupted\n")
    return EXIT_INTERRUPTED
