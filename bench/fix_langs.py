"""Stress the notebook, JavaScript/TypeScript and workflow rewrites on real code.

Every plain string literal of at least 8 characters (JS/TS), every such string in a notebook's code cells, and every
scalar under a workflow's env/with is treated as if it were a secret; the file is analysed and rewritten, and the
result must still parse (tree-sitter / libcst via nbformat validation / PyYAML with each value read as intended),
keep every untouched byte (outputs, comments), and hold none of the rewritten literals. Prints one line per kind.

    python bench/fix_langs.py DIR [DIR...]
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

from remediate.codemods import javascript, notebook, workflow

_PLAIN = re.compile(r"""["']([A-Za-z0-9_./:@-]{8,80})["']""")


def _literals(text: str) -> list[str]:
    return sorted({m.group(1) for m in _PLAIN.finditer(text)})


def bench_js(path: Path, stats: Counter[str]) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    raws = _literals(text)
    if not raws:
        return
    stats["files"] += 1
    sites = javascript.analyze(str(path), text, raws)
    auto = {s.raw for s in sites if s.kind != "manual"}
    manual = {s.raw for s in sites if s.kind == "manual"}
    stats["sites"] += len(sites)
    stats["manual"] += sum(s.kind == "manual" for s in sites)
    names = {r: f"S_{i}" for i, r in enumerate(sorted(auto - manual))}
    if not names:
        return
    new, _ = javascript.rewrite(str(path), text, names)
    if new is None:
        stats["refused"] += 1
        return
    parser = javascript._parser(path.suffix.lower())
    assert parser is not None
    if parser.parse(new.encode()).root_node.has_error:
        stats["broken"] += 1
        print(f"BROKEN {path}", file=sys.stderr)
    stats["rewritten"] += 1
    stats["left"] += sum(1 for r in names if f'"{r}"' in new or f"'{r}'" in new)


def bench_notebook(path: Path, stats: Counter[str]) -> None:
    import nbformat

    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    code = "".join("".join(c.get("source", "")) for c in doc.get("cells", []) if c.get("cell_type") == "code")
    raws = [r for r in _literals(code) if r not in json.dumps([c.get("outputs") for c in doc["cells"]])]
    if not raws:
        return
    stats["files"] += 1
    outcome = notebook.analyze(text, raws)
    if not outcome.ok:
        stats["refused"] += 1
        return
    auto = {s.raw for s in outcome.sites if s.kind != "manual"}
    manual = {s.raw for s in outcome.sites if s.kind == "manual"}
    stats["sites"] += len(outcome.sites)
    stats["manual"] += len([s for s in outcome.sites if s.kind == "manual"])
    names = {r: f"S_{i}" for i, r in enumerate(sorted(auto - manual))}
    if not names:
        return
    after = notebook.rewrite(text, list(names), names=names)
    if after.code is None:
        stats["refused"] += 1
        return
    nbformat.validate(nbformat.reads(after.code, as_version=nbformat.NO_CONVERT))  # type: ignore[no-untyped-call]
    new = json.loads(after.code)
    if [c.get("outputs") for c in new["cells"]] != [c.get("outputs") for c in doc["cells"]]:
        stats["outputs_changed"] += 1
    stats["rewritten"] += 1
    diff = difflib.unified_diff(text.splitlines(), after.code.splitlines(), lineterm="", n=0)
    changed = [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    stats["diff_lines"] += len(changed)
    # Only source lines may change: every changed line of the JSON is a string element of a "source" array.
    stats["non_source_lines_changed"] += sum(1 for line in changed if not line[1:].lstrip().startswith('"'))


def bench_workflow(path: Path, stats: Counter[str]) -> None:
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return
    if root is None:
        return
    raws = sorted({n.value for p, n, _ in workflow._scalars(root)
                   if len(p) >= 2 and p[-2] in ("env", "with") and len(n.value) >= 8 and "${{" not in n.value
                   and "\n" not in n.value})
    if not raws:
        return
    stats["files"] += 1
    sites = workflow.analyze(text, raws)
    stats["sites"] += len(sites)
    stats["manual"] += sum(s.kind == "manual" for s in sites)
    auto = {s.raw for s in sites if s.kind == "workflow"} - {s.raw for s in sites if s.kind == "manual"}
    names = {r: f"S_{i}" for i, r in enumerate(sorted(auto))}
    if not names:
        return
    new, _ = workflow.rewrite(text, names)
    if new is None:
        stats["refused"] += 1
        return
    stats["rewritten"] += 1
    comments = [line for line in text.splitlines() if "#" in line]
    if len(new.splitlines()) != len(text.splitlines()) or sum("#" in x for x in new.splitlines()) != len(comments):
        stats["layout_changed"] += 1


def main(dirs: list[str]) -> None:
    kinds = {"js/ts": (bench_js, ("*.js", "*.mjs", "*.cjs", "*.jsx", "*.ts", "*.tsx")),
             "notebook": (bench_notebook, ("*.ipynb",)), "workflow": (bench_workflow, ("*.yml", "*.yaml"))}
    for kind, (fn, globs) in kinds.items():
        stats: Counter[str] = Counter()
        start = time.perf_counter()
        for d in dirs:
            for g in globs:
                for p in sorted(Path(d).rglob(g)):
                    if "node_modules" in p.parts or ".git" in p.parts or not p.is_file():
                        continue
                    fn(p, stats)
        print(f"{kind}: {dict(sorted(stats.items()))} in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main(sys.argv[1:])
