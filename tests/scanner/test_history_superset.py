"""History ⊇ tree, as a property over generated repositories.

At every commit, whatever a scan of that commit's tree reports must be reported by a history scan in that commit or
an earlier one, with the same identity (path, rule id, fingerprint), so a baseline carries across modes. The
generated histories change multi-line secrets in place: a private key regenerated below its unchanged BEGIN line,
some of its body lines only, a Kubernetes Secret's value under an unchanged ``kind: Secret`` and ``data:``; and an
archive (binary to git) rebuilt with a new value in a member.
"""

from __future__ import annotations

import base64
import io
import os
import random
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.api import ScanRequest, scan
from tests import fakes as f
from tests.conftest import GIT_ENV

Identity = tuple[str, str, str]


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, capture_output=True, text=True,
                          check=True)
    return proc.stdout.strip()


def _key_body(rnd: st.DataObject, lines: list[str], kind: str) -> list[str]:
    """Regenerate the key in place: some body lines (or all of them) get new base64, BEGIN/END stay."""
    body = lines[1:-1]
    picks = rnd.draw(st.lists(st.integers(0, len(body) - 1), min_size=1, max_size=len(body), unique=True))
    for i in picks:
        body[i] = f._rand(f.B64, 64)
    return [f"-----BEGIN {kind}PRIVATE KEY-----", *body, f"-----END {kind}PRIVATE KEY-----"]


def _secret_manifest(values: dict[str, str]) -> str:
    items = "\n".join(f"  {k}: {base64.b64encode(v.encode()).decode()}" for k, v in values.items())
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ntype: Opaque\ndata:\n{items}\n"


def _zipped(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), text)  # same bytes for the same members
    return buf.getvalue()


_STEPS = st.lists(st.sampled_from(["key", "key-prefixed", "secret", "secret-add", "env", "readme", "zip"]),
                  min_size=1, max_size=5)


def _identities(root: Path, modes: tuple[str, ...]) -> list[tuple[Identity, str]]:
    res = scan(ScanRequest(root=root, modes=modes, cache=False, workers=1))
    return [((x.path, x.rule_id, x.fingerprint), x.commit.sha if x.commit else "") for x in res.findings]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_STEPS, data=st.data())
def test_history_reports_every_tree_finding_with_the_same_identity(steps: list[str], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _git(root, "init", "-q", "-b", "main")
        files = {
            "keys/id_rsa": f.private_key_pem("RSA "),
            # The key inside a larger file, below other lines: the BEGIN line is not at the top of a hunk either.
            "config/service.yaml": "service:\n  name: app\n  key: |\n    " +
                                   f.private_key_pem("EC ").replace("\n", "\n    ") + "\n  port: 8080\n",
            "deploy/secret.yaml": _secret_manifest({"password": f.password(), "api-token": f._rand(f.ALNUM, 32)}),
            ".env": f"PORT=8080\nDB_PASSWORD={f.password()}\n",
            "README.md": "# app\n",
        }
        secret_values = {"password": f.password(), "api-token": f._rand(f.ALNUM, 32)}
        archive = {"conf/app.env": f"PORT=8080\nGITHUB_TOKEN={f.github_pat()}\n", "README": "bundle\n"}
        commits: list[str] = []
        trees: list[set[Identity]] = []

        def commit(message: str) -> None:
            for rel, text in files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(text, encoding="utf-8")
            (root / "dist").mkdir(exist_ok=True)
            (root / "dist" / "bundle.zip").write_bytes(_zipped(archive))
            _git(root, "add", "-A")
            _git(root, "commit", "-q", "--allow-empty", "-m", message)
            commits.append(_git(root, "rev-parse", "HEAD"))
            trees.append({ident for ident, _ in _identities(root, ("files",))})

        commit("initial")
        for step in steps:
            if step == "key":
                files["keys/id_rsa"] = "\n".join(_key_body(data, files["keys/id_rsa"].split("\n"), "RSA "))
            elif step == "key-prefixed":
                lines = files["config/service.yaml"].split("\n")
                start = next(i for i, ln in enumerate(lines) if "BEGIN EC PRIVATE KEY" in ln)
                end = next(i for i, ln in enumerate(lines) if "END EC PRIVATE KEY" in ln)
                block = _key_body(data, [ln.strip() for ln in lines[start:end + 1]], "EC ")
                lines[start:end + 1] = ["    " + ln for ln in block]
                files["config/service.yaml"] = "\n".join(lines)
            elif step in ("secret", "secret-add"):
                key = "password" if step == "secret" else f"token-{len(secret_values)}"
                secret_values[key] = f.password()
                files["deploy/secret.yaml"] = _secret_manifest(secret_values)
            elif step == "zip":
                archive["conf/app.env"] = f"PORT=8080\nGITHUB_TOKEN={f.github_pat()}\n"
            elif step == "env":
                files[".env"] = f"PORT=8080\nDB_PASSWORD={f.password()}\n"
            else:
                files["README.md"] += "more\n"
            commit(step)

        history = _identities(root, ("history",))
        for i, tree in enumerate(trees):
            upto = set(commits[: i + 1])
            seen = {ident for ident, sha in history if sha in upto}
            missing = tree - seen
            assert not missing, (steps, i, sorted((p, r) for p, r, _ in missing))


def test_widen_adds_only_the_blocks_that_hold_an_added_line() -> None:
    from scanner.postimage import widen

    key = f.private_key_pem("RSA ").split("\n")
    lines = ["a: 1", *key, "b: 2", "c: 3"]
    post = "\n".join(lines).encode()
    # Line 4 (inside the key) changed: the whole key block, lines 2..15, comes along.
    text, numbers = widen("k.yaml", lines[3], (4,), lambda: post)
    assert numbers == tuple(range(2, 2 + len(key))) and text.split("\n")[0].startswith("-----BEGIN")
    # Line 17 (after the key) changed: nothing to add, and the post-image is not even read.
    reads: list[int] = []
    assert widen("k.yaml", "c: 3", (17,), lambda: reads.append(1) or post) == ("c: 3", (17,)) and not reads


def test_widen_gives_a_secret_value_its_kind_and_data_lines() -> None:
    from scanner.postimage import widen

    doc = _secret_manifest({"password": "x" * 12, "token": "y" * 12}).split("\n")
    other = "apiVersion: v1\nkind: ConfigMap\ndata:\n  token: " + "z" * 16
    post = ("\n".join(doc) + "---\n" + other).encode()
    n = doc.index(next(ln for ln in doc if ln.startswith("  token:"))) + 1
    assert widen("s.yaml", doc[n - 1], (n,), lambda: post)[1] == (2, 6, n)
    # The same shape in a ConfigMap document: no Secret, nothing added.
    cm = len(doc) + 4
    assert widen("s.yaml", "  token: " + "z" * 16, (cm,), lambda: post)[1] == (cm,)


def test_staged_key_changed_in_place_is_found(tmp_path: Path) -> None:
    """The pre-commit path sees the staged post-image too: a key body edited below its BEGIN line is UL100."""
    _git(tmp_path, "init", "-q", "-b", "main")
    key = f.private_key_pem("RSA ").split("\n")
    (tmp_path / "id_rsa").write_text("\n".join(key) + "\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "key")
    key[5] = f._rand(f.B64, 64)
    (tmp_path / "id_rsa").write_text("\n".join(key) + "\n")
    _git(tmp_path, "add", "-A")
    res = scan(ScanRequest(root=tmp_path, modes=("staged",)))
    assert [x.rule_id for x in res.findings] == ["UL100"]


def _secret_context_reference(lines: list[str], added: list[int]) -> set[int]:
    """The definition, line by line (quadratic): for an added line in a document with ``kind: Secret``, that kind
    line and the nearest ``data:``/``stringData:`` header above the line in its document."""
    import re

    out: set[int] = set()
    docs = [0] + [i + 1 for i, ln in enumerate(lines) if ln.rstrip() == "---"]
    for i in added:
        d = max(x for x in docs if x <= i)
        nxt = min([x for x in docs if x > i] or [len(lines)])
        kind = next((j for j in range(d, nxt) if re.match(r"^kind:[ \t]*[\"']?Secret[\"']?[ \t]*$", lines[j])), -1)
        header = next((j for j in range(i - 1, d - 1, -1)
                       if re.match(r"^[ \t]{0,20}(?:data|stringData):[ \t]*$", lines[j])), -1)
        if kind >= 0 and header >= 0:
            out.update((kind, header))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_secret_context_is_its_definition(seed: int) -> None:
    from scanner.postimage import _secret_context

    rnd = random.Random(seed)
    pool = ["---", "kind: Secret", "kind: ConfigMap", "data:", "  stringData:", "  key: dmFsdWU=", "metadata:",
            "  name: x", "kind: 'Secret'", ""]
    for _ in range(200):
        lines = [rnd.choice(pool) for _ in range(rnd.randint(0, 40))]
        added = sorted(rnd.sample(range(len(lines)), rnd.randint(0, len(lines)))) if lines else []
        assert _secret_context(lines, added) == _secret_context_reference(lines, added), (lines, added)


def test_needs_context_answers_the_same_with_hyperscan_and_with_the_regexes() -> None:
    """History scans load hyperscan and answer ``needs_context`` in one pass over UTF-8 bytes; the pre-commit path
    does not load it and uses the regexes. Both answers agree on generated text built from the patterns' parts."""
    pytest.importorskip("hyperscan")
    from scanner import postimage

    rnd = random.Random(5)
    parts = ["A" * 41, "QUJD" * 12, "-----END RSA PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----",
             "  key: abcd\n", "\n", " ", "\t", '"', "'", "\\n", "=", ",", "é", "x:", "kind: Secret\n",
             "  token: 'Zm9vYmFy'\n", "Az09+/", "-", "_", "."]
    seen: dict[tuple[str, bool], int] = {}
    saved = postimage._HS
    try:
        for _ in range(4000):
            text = "".join(rnd.choice(parts) for _ in range(rnd.randint(0, 40)))
            for path in ("secret.yaml", "key.py"):
                postimage._HS = False  # the regexes
                slow = postimage.needs_context(path, text)
                postimage._HS = None  # built again from hyperscan
                assert postimage._hyperscan_found(text, True) is not None
                assert postimage.needs_context(path, text) == slow, (path, text)
                seen[(path, slow)] = seen.get((path, slow), 0) + 1
    finally:
        postimage._HS = saved
    assert all(seen.get((p, b), 0) > 100 for p in ("secret.yaml", "key.py") for b in (True, False)), seen
