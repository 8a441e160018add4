"""ruff and mypy (strict on the packages) are part of the test command, so a lint or type error fails CI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_clean() -> None:
    proc = _run("ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_clean() -> None:
    proc = _run("mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_architecture_arrows() -> None:
    """unleak -> remediate -> scanner; only the CLI layer (unleak/cli.py, unleak/commands/) imports
    click; only one adapter imports detect_secrets."""
    import ast

    problems: list[str] = []
    for pkg, forbidden in (("scanner", {"remediate", "unleak", "click"}), ("remediate", {"unleak", "click"}),
                           ("unleak", {"click"})):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for n in names:
                    top = n.split(".")[0]
                    if top in forbidden and not (top == "click" and _cli_layer(rel)):
                        problems.append(f"{rel} imports {n}")
                    if top == "detect_secrets" and rel != "scanner/detect_secrets/adapter.py":
                        problems.append(f"{rel} imports detect_secrets outside the adapter")
    assert problems == []


def _cli_layer(rel: str) -> bool:
    return rel == "unleak/cli.py" or rel.startswith("unleak/commands/")


def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the three packages by dotted name, with its file and whether it is a package."""
    mods: dict[str, tuple[Path, bool]] = {}
    for pkg in ("scanner", "remediate", "unleak"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


def _runtime_imports(name: str, path: Path, is_pkg: bool, mods: dict[str, tuple[Path, bool]]
                     ) -> Iterator[tuple[str, int]]:
    """(module, line) of every import that runs, at the top or inside a function (a lazy import is still an
    arrow); imports under ``if TYPE_CHECKING:`` never run and are left out. ``from a import b`` yields ``a.b`` when
    that is a module of ours (a submodule: ``a`` is only its package), else ``a``."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                yield (sub if sub in mods else mod), node.lineno


def test_no_import_cycles() -> None:
    """No module of scanner, remediate or unleak reaches itself through imports, lazy ones included: a cycle
    makes the result of an import depend on which module was imported first."""
    mods = _modules()
    graph = {name: sorted({m for m, _ in _runtime_imports(name, path, is_pkg, mods) if m in mods and m != name})
             for name, (path, is_pkg) in mods.items()}
    # Tarjan's strongly connected components: every component of more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


_SPAWNERS = {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput",
             "execv", "execvp", "execvpe", "execl", "execlp", "spawnv", "spawnvp", "create_subprocess_exec",
             "system", "popen"}


def test_git_only_in_scanner_git() -> None:
    """Every git call lives in the scanner/git package: no other module imports GitPython (``git``) or starts a
    process whose command is git (so each call gets the same clean environment and error mapping)."""
    import ast

    problems: list[str] = []
    mods = _modules()
    for name, (path, is_pkg) in mods.items():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("scanner/git/"):
            continue
        for mod, line in _runtime_imports(name, path, is_pkg, mods):
            if mod == "git" or mod.startswith("git."):
                problems.append(f"{rel}:{line} imports {mod}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.List | ast.Tuple) and node.elts and isinstance(node.elts[0], ast.Constant) \
                    and node.elts[0].value == "git":
                problems.append(f"{rel}:{node.lineno} builds a git command line")  # run later from a variable
                continue
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called not in _SPAWNERS:
                continue
            first = node.args[0]
            argv0 = first.elts[0] if isinstance(first, ast.List | ast.Tuple) and first.elts else first
            text = argv0.value if isinstance(argv0, ast.Constant) and isinstance(argv0.value, str) else ""
            if text.startswith("git ") or text.endswith("/git"):
                problems.append(f"{rel}:{node.lineno} runs git")
    assert problems == []


def test_repository_scans_itself_clean() -> None:
    """unleak on its own repository, with its baseline and config, finds nothing."""
    proc = _run("unleak", "scan")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_version_has_one_value() -> None:
    import tomllib

    from scanner.version import VERSION
    from unleak import __version__

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == VERSION == __version__
