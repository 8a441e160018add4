"""Runs the TypeScript modules under node: type syntax is stripped with tree-sitter-typescript (no compiler here)."""

import json
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import tree_sitter_typescript
from tree_sitter import Language, Parser

SRC = Path(__file__).resolve().parents[1] / "src"
TYPE_ONLY = {"type_annotation", "type_arguments", "type_parameters", "interface_declaration",
             "type_alias_declaration"}
DRIVER = """
import { db, STRIPE_SECRET_KEY, mongoUri } from "./config.js";
import { githubHeaders, dbUser } from "./github.js";
console.log(JSON.stringify({ db, STRIPE_SECRET_KEY, mongoUri, headers: githubHeaders(), user: dbUser() }));
"""


def strip_types(source: bytes) -> bytes:
    parser = Parser(Language(tree_sitter_typescript.language_typescript()))
    cuts: list[tuple[int, int]] = []

    def walk(node) -> None:
        if node.type in TYPE_ONLY:
            parent = node.parent
            whole = parent if parent is not None and parent.type == "export_statement" else node
            cuts.append((whole.start_byte, whole.end_byte))
            return
        if node.type == "non_null_expression":
            cuts.append((node.end_byte - 1, node.end_byte))
        if node.type == "as_expression":
            cuts.append((node.children[0].end_byte, node.end_byte))
        for child in node.children:
            walk(child)

    tree = parser.parse(source)
    assert not tree.root_node.has_error, "the TypeScript does not parse"
    walk(tree.root_node)
    out = source
    for start, end in sorted(cuts, reverse=True):
        out = out[:start] + out[end:]
    return out


def run_modules(tmp_path: Path) -> dict:
    for ts in SRC.glob("*.ts"):
        (tmp_path / (ts.stem + ".js")).write_bytes(strip_types(ts.read_bytes()))
    (tmp_path / "package.json").write_text('{"type": "module"}')
    (tmp_path / "driver.js").write_text(DRIVER)
    out = subprocess.run(["node", "driver.js"], cwd=tmp_path, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_modules_read_their_credentials(tmp_path, expect):
    got = run_modules(tmp_path)
    assert got["user"] == "api@db.internal"
    expect(got["db"]["password"], "password#1", r"\S{18}")
    expect(got["STRIPE_SECRET_KEY"], "stripe_live_key#1", r"sk_live_[A-Za-z0-9]{24}")
    expect(urlsplit(got["mongoUri"]).password, "url_password#1", r"[\w.~-]{18}")
    scheme, token = got["headers"]["Authorization"].split(" ", 1)
    assert scheme == "Bearer"
    expect(token, "github_pat#1", r"ghp_[A-Za-z0-9]{36}")
