"""The 1Password backend against the FAKE ``op`` CLI (tests/fakes_op/op), which records every argv it receives."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from remediate.vault import open_vault, resolve_reference
from remediate.vault.onepassword import OnePasswordVault, scrub
from scanner.errors import BadReferenceError, UsageError, VaultError
from tests.fakes import github_pat, password
from tests.fakes_op import FakeOp


def _assert_never_on_argv(fake: FakeOp, *values: str) -> None:
    argvs = fake.argvs()
    assert argvs, "the fake op was never called"
    for argv in argvs:
        joined = "\0".join(argv)
        for value in values:
            assert value not in joined, f"a secret value reached op's argv: {argv[:3]}"


def test_put_get_roundtrip_and_reference_syntax(fake_op: FakeOp) -> None:
    v = open_vault("op", namespace="shop-api", op_vault="dev")
    value = github_pat()
    ref = v.put("STRIPE_API_KEY", value)
    assert ref == "op://dev/STRIPE_API_KEY/credential"
    assert v.get(ref) == value
    assert resolve_reference(ref) == value
    [item] = fake_op.items()
    assert item["title"] == "STRIPE_API_KEY" and item["category"] == "API_CREDENTIAL"
    assert set(item["tags"]) == {"unleak", "unleak/shop-api"}
    # the create went through stdin ('-'), never an assignment statement
    creates = [a for a in fake_op.argvs() if a[:2] == ["item", "create"]]
    assert creates and all("-" in a and not any("=" in x for x in a) for a in creates)
    _assert_never_on_argv(fake_op, value)


def test_op_run_resolves_what_unleak_writes(fake_op: FakeOp) -> None:
    """`op read` (what `op run --env-file` does per reference) resolves the reference unleak returned."""
    v = OnePasswordVault("proj", op_vault="dev")
    value = password()
    ref = v.put("DB_PASSWORD", value)
    out = subprocess.run(["op", "read", ref], capture_output=True, text=True, check=True).stdout
    assert out == value + "\n"


def test_update_uses_a_private_template_file(fake_op: FakeOp) -> None:
    v = OnePasswordVault("proj", op_vault="dev")
    first, second = github_pat(), github_pat()
    ref = v.put("TOKEN", first)
    assert v.put("TOKEN", second) == ref
    assert v.get(ref) == second
    edits = [c for c in fake_op.calls() if c["argv"][:2] == ["item", "edit"]]
    assert len(edits) == 1 and edits[0]["template_mode"] == 0o600
    template_path = edits[0]["argv"][edits[0]["argv"].index("--template") + 1]
    assert not os.path.exists(template_path)  # removed right after use
    assert len(fake_op.items()) == 1
    _assert_never_on_argv(fake_op, first, second)


def test_idempotent_put_does_not_write(fake_op: FakeOp) -> None:
    v = OnePasswordVault("proj", op_vault="dev")
    value = github_pat()
    v.put("TOKEN", value)
    n = len(fake_op.argvs())
    v.put("TOKEN", value)
    new = fake_op.argvs()[n:]
    assert not any(a[:2] in (["item", "create"], ["item", "edit"]) for a in new)
    with pytest.raises(VaultError) as info:
        v.put("TOKEN", github_pat(), overwrite=False)
    assert value not in str(info.value)


def test_names_and_delete(fake_op: FakeOp) -> None:
    v = OnePasswordVault("proj", op_vault="dev")
    other = OnePasswordVault("other-proj", op_vault="dev")
    for n in ("B_KEY", "A_KEY"):
        v.put(n, password())
    other.put("C_KEY", password())
    assert [(e.name, e.reference) for e in v.names()] == [
        ("A_KEY", "op://dev/A_KEY/credential"), ("B_KEY", "op://dev/B_KEY/credential")]
    v.delete("A_KEY")
    assert [e.name for e in v.names()] == ["B_KEY"]
    with pytest.raises(VaultError, match="no secret named 'A_KEY'"):
        v.delete("A_KEY")
    # an item this project did not create is never overwritten or deleted
    with pytest.raises(VaultError, match="did not create"):
        v.put("C_KEY", password())
    with pytest.raises(VaultError, match="did not create"):
        v.delete("C_KEY")


def test_default_op_vault_is_the_namespace(fake_op: FakeOp) -> None:
    data = json.loads(fake_op.store.read_text())
    data["vaults"].append("shop-api")
    fake_op.store.write_text(json.dumps(data))
    v = open_vault("op", namespace="shop-api")
    assert v.reference_for("KEY") == "op://shop-api/KEY/credential"
    v.put("KEY", "value-1")
    assert v.names()[0].reference == "op://shop-api/KEY/credential"


def test_errors_from_op_are_vault_errors_scrubbed_of_values(fake_op: FakeOp, monkeypatch: pytest.MonkeyPatch) -> None:
    v = OnePasswordVault("proj", op_vault="nope")
    with pytest.raises(VaultError, match="isn't a vault") as missing:
        v.put("KEY", "value-1")
    assert "op vault create nope" in str(missing.value)
    monkeypatch.setenv("FAKE_OP_SIGNED_OUT", "1")
    value = github_pat()
    with pytest.raises(VaultError, match="not currently signed in") as info:
        OnePasswordVault("proj", op_vault="dev").put("KEY", value)
    assert value not in str(info.value) and "[ERROR]" not in str(info.value)
    with pytest.raises(VaultError, match="not currently signed in"):
        OnePasswordVault("proj", op_vault="dev").get("op://dev/MISSING/credential")


def test_missing_item_on_read(fake_op: FakeOp) -> None:
    with pytest.raises(VaultError, match="isn't an item"):
        resolve_reference("op://dev/MISSING/credential")


def test_op_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(VaultError, match="`op` was not found"):
        OnePasswordVault("proj", op_vault="dev").names()


@pytest.mark.parametrize("vault_name", ["bad/vault", "Ünïcode", " lead"])
def test_vault_names_that_cannot_be_referenced(vault_name: str) -> None:
    with pytest.raises(UsageError, match="cannot appear in a secret reference"):
        OnePasswordVault("proj", op_vault=vault_name)


def test_get_rejects_other_schemes() -> None:
    with pytest.raises(BadReferenceError):
        OnePasswordVault("proj", op_vault="dev").get("unleak://proj/KEY")


@pytest.mark.parametrize(("text", "secret", "expected"), [
    ("[ERROR] 2024/01/01 00:00:00 bad value SECRETXYZ here", "SECRETXYZ", "bad value [redacted] here"),
    ("line1 abcd\nline2 efgh", "abcd\nefgh", "line1 [redacted]\nline2 [redacted]"),
    ("nothing to hide", "SECRETXYZ", "nothing to hide"),
])
def test_scrub(text: str, secret: str, expected: str) -> None:
    assert scrub(text, [secret]) == expected


def test_multiline_value_roundtrip(fake_op: FakeOp) -> None:
    v = OnePasswordVault("proj", op_vault="dev")
    pem = "-----BEGIN FAKE KEY-----\n" + password(40) + "\n-----END FAKE KEY-----"
    ref = v.put("PEM", pem)
    assert v.get(ref) == pem
    _assert_never_on_argv(fake_op, pem, *pem.splitlines()[1:2])


def test_template_left_by_a_killed_process_is_removed_at_start(fake_op: FakeOp) -> None:
    """`op item edit` reads its template from a file; a SIGKILL between writing and removing it leaves the value
    in /dev/shm. The next update removes every such file whose process is gone."""
    from remediate.vault import onepassword

    dead = subprocess.Popen(["true"])
    dead.wait()
    base = onepassword._template_base()
    stale = base / f"unleak-op-{dead.pid}-x1y2z3"
    stale.mkdir(mode=0o700)
    (stale / "item.json").write_text(json.dumps({"fields": [{"value": github_pat()}]}))
    mine = base / f"unleak-op-{os.getpid()}-alive0"  # a live process's template stays
    mine.mkdir(mode=0o700)
    try:
        v = OnePasswordVault("proj", op_vault="dev")
        v.put("TOKEN", github_pat())
        v.put("TOKEN", github_pat())  # an update: writes (and first cleans) templates
        assert not stale.exists()
        assert mine.exists()
    finally:
        for d in (stale, mine):
            for f in d.glob("*"):
                f.unlink()
            if d.exists():
                d.rmdir()
