"""The fake GitHub API refuses what GitHub refuses, so a client that drifts from the documented shapes fails the
tests that use it (tests/fakes_github.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes_github import GITHUB_TOKEN, SECRETS_TOKEN, FakeGitHub, serve

pytest.importorskip("nacl.public")

HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "test"}


@pytest.fixture
def api() -> Iterator[FakeGitHub]:
    with serve(FakeGitHub("octo/shop", pr_number=7, head="a" * 40)) as state:
        yield state


def _call(api: FakeGitHub, method: str, path: str, token: str, headers: dict[str, str] | None = None,
          **kw: object) -> httpx.Response:
    h = {**(HEADERS if headers is None else headers), "Authorization": f"Bearer {token}"}
    return httpx.request(method, f"{api.url}/repos/octo/shop{path}", headers=h, **kw)  # type: ignore[arg-type]


def test_tokens_reach_what_github_lets_them_reach(api: FakeGitHub) -> None:
    assert _call(api, "GET", "/actions/secrets/public-key", GITHUB_TOKEN).status_code == 403
    assert _call(api, "GET", "/pulls/7/reviews", SECRETS_TOKEN).status_code == 403
    assert _call(api, "GET", "/pulls/7/reviews", "ghs_" + "x" * 36).status_code == 401
    assert _call(api, "GET", "/pulls/7/reviews", GITHUB_TOKEN).json() == []
    assert _call(api, "GET", "/pulls/8/reviews", GITHUB_TOKEN).status_code == 404  # no such pull request


def test_missing_headers_and_bad_reviews_are_recorded(api: FakeGitHub) -> None:
    _call(api, "GET", "/pulls/7/reviews?per_page=101", GITHUB_TOKEN, headers={"User-Agent": "test"})
    assert any("Accept" in e for e in api.errors) and any("X-GitHub-Api-Version" in e for e in api.errors)
    assert any("per_page" in e for e in api.errors)
    api.errors.clear()
    r = _call(api, "POST", "/pulls/7/reviews", GITHUB_TOKEN,
              json={"commit_id": "b" * 40, "event": "COMMENT", "body": "x", "comments": [{"path": "a", "position": 1}]})
    assert r.status_code == 422 and api.reviews == []
    assert {"commit_id is not the head sha", "position is deprecated: use line/side"} <= set(api.errors)
    api.errors.clear()
    ok = {"commit_id": "a" * 40, "event": "COMMENT", "body": "x", "comments": [{"path": "a", "line": 2, "body": "y"}]}
    assert _call(api, "POST", "/pulls/7/reviews", GITHUB_TOKEN, json=ok).status_code == 200 and api.errors == []
    api.reject_comments = True
    assert _call(api, "POST", "/pulls/7/reviews", GITHUB_TOKEN, json=ok).status_code == 422


def test_a_secret_write_must_be_a_sealed_box_under_the_current_key(api: FakeGitHub) -> None:
    assert _call(api, "PUT", "/actions/secrets/K", SECRETS_TOKEN, json={"value": "plain"}).status_code == 422
    assert _call(api, "PUT", "/actions/secrets/K", SECRETS_TOKEN,
                 json={"encrypted_value": "x", "key_id": "1"}).status_code == 422
    assert api.stored == {}
    api.deny_put = 403
    assert _call(api, "PUT", "/actions/secrets/K", SECRETS_TOKEN,
                 json={"encrypted_value": "x", "key_id": api.key_id}).status_code == 403
