"""The GitHub Actions secrets backend against the FAKE of GitHub's REST API (tests/fakes_github.py: it checks the
documented request shapes and keeps the sealed values): the value arrives sealed to the repository's key, the test
opens it with the private half, and the plain value is in no request, URL, header, output or error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import fakes
from tests.conftest import run_cli
from tests.fakes_github import SECRETS_TOKEN, FakeGitHub, serve

pytest.importorskip("nacl.public")


@pytest.fixture
def api() -> Iterator[FakeGitHub]:
    with serve(FakeGitHub("acme/shop")) as state:
        yield state


def _vault(api: FakeGitHub, token: str = SECRETS_TOKEN) -> Any:
    from remediate.vault import open_vault

    return open_vault("github", namespace="acme/shop", token=token, api_url=api.url)


def test_put_seals_the_value_to_the_repository_key(api: FakeGitHub) -> None:
    value = fakes.stripe_live_key()
    ref = _vault(api).put("stripe_secret_key", value)
    assert ref == "${{ secrets.STRIPE_SECRET_KEY }}"
    assert api.opened("STRIPE_SECRET_KEY") == value
    for r in api.requests:
        assert value not in r["path"] + json.dumps(r["headers"]) + r["raw"], r["method"]  # only ever sealed
    assert [(r["method"], r["path"].split("/")[-1]) for r in api.requests] == [
        ("GET", "public-key"), ("PUT", "STRIPE_SECRET_KEY"), ("GET", "STRIPE_SECRET_KEY")]
    assert api.errors == []  # every request had GitHub's documented headers


def test_names_get_and_delete(api: FakeGitHub) -> None:
    v = _vault(api)
    v.put("B_TOKEN", fakes.github_pat())
    v.put("A_KEY", fakes.openai_key())
    assert [(e.name, e.reference) for e in v.names()] == [("A_KEY", "${{ secrets.A_KEY }}"),
                                                          ("B_TOKEN", "${{ secrets.B_TOKEN }}")]
    from scanner.errors import UsageError, VaultError

    with pytest.raises(VaultError, match="write-only"):
        v.get("${{ secrets.A_KEY }}")
    v.delete("a_key")
    assert [e.name for e in v.names()] == ["B_TOKEN"]
    with pytest.raises(VaultError, match="no GitHub secret"):
        v.delete("A_KEY")
    with pytest.raises(VaultError, match="already exists"):
        v.put("B_TOKEN", "x", overwrite=False)
    for bad in ("GITHUB_TOKEN", "1ABC", "a-b"):
        with pytest.raises(UsageError):
            v.reference_for(bad)
    assert api.errors == []


@pytest.mark.parametrize(("status", "hint"), [(403, "Secrets: write"), (404, "cannot see it")])
def test_a_refused_write_says_why_and_shows_nothing(api: FakeGitHub, status: int, hint: str) -> None:
    from scanner.errors import VaultError

    api.deny_put = status
    value = fakes.github_pat()
    with pytest.raises(VaultError) as exc:
        _vault(api).put("DEPLOY_TOKEN", value)
    assert hint in str(exc.value) and value not in str(exc.value) and SECRETS_TOKEN not in str(exc.value)


def test_bad_token_and_unreachable_api(api: FakeGitHub) -> None:
    from remediate.vault import open_vault
    from scanner.errors import VaultError

    with pytest.raises(VaultError, match="not valid"):
        _vault(api, token="ghs_" + "x" * 36).put("K", "v")
    with pytest.raises(VaultError, match="unreachable"):
        open_vault("github", namespace="acme/shop", token=SECRETS_TOKEN, api_url="http://127.0.0.1:9").put("K", "v")


def test_cli_secrets_set_with_the_github_backend(api: FakeGitHub, tmp_path: Path) -> None:
    value = fakes.slack_bot_token()
    env = {"UNLEAK_GITHUB_SECRETS_TOKEN": SECRETS_TOKEN, "GITHUB_API_URL": api.url}
    r = run_cli("secrets", "set", "SLACK_BOT_TOKEN", "--backend", "github", "--namespace", "acme/shop",
                input=value + "\n", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "${{ secrets.SLACK_BOT_TOKEN }}"
    assert api.opened("SLACK_BOT_TOKEN") == value and value not in r.stdout + r.stderr
    r = run_cli("secrets", "list", "--backend", "github", "--namespace", "acme/shop", cwd=tmp_path, env=env)
    assert "SLACK_BOT_TOKEN  ${{ secrets.SLACK_BOT_TOKEN }}" in r.stdout
    r = run_cli("secrets", "set", "X", "--backend", "github", "--namespace", "acme/shop", input="v\n", cwd=tmp_path,
                env={**env, "UNLEAK_GITHUB_SECRETS_TOKEN": ""})
    assert r.returncode == 2 and "GITHUB_TOKEN cannot" in r.stderr
    assert api.errors == []
