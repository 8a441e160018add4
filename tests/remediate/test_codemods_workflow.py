"""GitHub Actions workflows: values under env/with/credentials become ``${{ secrets.NAME }}`` with the layout kept;
anything else is a manual step that says what to write."""

from __future__ import annotations

import pytest
import yaml

from remediate.codemods import workflow
from tests.fakes import ALNUM, _rand

S1, S2 = "S1_PLACE", "S2_PLACE"


def _secret() -> str:
    return "Sx" + _rand(ALNUM, 22)


WORKFLOW = """\
name: deploy  # the production deploy
on: push
env:
  API_TOKEN: S1_PLACE   # global
jobs:
  build:
    runs-on: ubuntu-latest
    container:
      image: ghcr.io/me/build
      credentials:
        username: me
        password: 'S2_PLACE'
    steps:
      - uses: docker/login-action@v3
        with:
          username: me
          password: "S2_PLACE"
      - name: db
        env:
          DATABASE_URL: postgres://app:S1_PLACE@db:5432/app
        run: ./migrate
"""

AFTER = """\
name: deploy  # the production deploy
on: push
env:
  API_TOKEN: ${{ secrets.API_TOKEN }}   # global
jobs:
  build:
    runs-on: ubuntu-latest
    container:
      image: ghcr.io/me/build
      credentials:
        username: me
        password: '${{ secrets.DOCKER_PASSWORD }}'
    steps:
      - uses: docker/login-action@v3
        with:
          username: me
          password: "${{ secrets.DOCKER_PASSWORD }}"
      - name: db
        env:
          DATABASE_URL: postgres://app:${{ secrets.API_TOKEN }}@db:5432/app
        run: ./migrate
"""


def test_env_with_and_credentials_become_secret_expressions() -> None:
    s1, s2 = _secret(), _secret()
    text = WORKFLOW.replace(S1, s1).replace(S2, s2)
    sites = workflow.analyze(text, [s1, s2])
    assert sorted((s.line, s.kind, s.hint, s.scope, s.env_key) for s in sites) == [
        (4, "workflow", "API_TOKEN", None, "API_TOKEN"),
        (12, "workflow", "password", None, None),
        (17, "workflow", "password", "docker", None),
        (20, "workflow", "DATABASE_URL", None, "DATABASE_URL"),
    ]
    new, error = workflow.rewrite(text, {s1: "API_TOKEN", s2: "DOCKER_PASSWORD"})
    assert error is None and new == AFTER
    # A second fix: nothing to find, nothing to change.
    assert workflow.analyze(AFTER, [s1, s2]) == []
    assert workflow.rewrite(AFTER, {s1: "API_TOKEN"}) == (AFTER, None)


def test_github_prefix_is_reserved_for_actions_secrets() -> None:
    s1 = _secret()
    new, _ = workflow.rewrite(f"jobs:\n  a:\n    steps:\n      - env:\n          TOKEN: {s1}\n", {s1: "GITHUB_TOKEN"})
    assert new is not None and "${{ secrets.GH_TOKEN }}" in new
    step = workflow.gh_step("GITHUB_TOKEN", [".github/workflows/a.yml"])
    assert "gh secret set GH_TOKEN" in step and '"$GITHUB_TOKEN"' in step


@pytest.mark.parametrize(("text", "reason"), [
    ("jobs:\n  a:\n    steps:\n      - run: curl -u me:S1_PLACE https://x\n", "env: {NAME}: ${{ secrets.{NAME} }}"),
    ("jobs:\n  a:\n    steps:\n      - name: use S1_PLACE\n        run: x\n", "`name:`, not an env/with value"),

    ("on: push\n# old token S1_PLACE\n", "YAML comment"),
    ('env:\n  T: "S1_PLACE\\u0041"\n', None),
])
def test_other_places_are_manual_steps(text: str, reason: str | None) -> None:
    s1 = _secret()
    src = text.replace(S1, s1)
    sites = workflow.analyze(src, [s1])
    new, _ = workflow.rewrite(src, {s1: "T"})
    if reason is not None:
        assert [s.kind for s in sites] == ["manual"] and reason in (sites[0].manual or "")
        assert new == src  # untouched
    else:
        # A flow mapping or an escaped value: either rewritten and still read as intended, or refused.
        assert new is None or yaml.safe_load(new) == yaml.safe_load(src.replace(s1, "${{ secrets.T }}"))


def test_flow_mapping_values_are_quoted() -> None:
    s1 = _secret()
    src = f"jobs:\n  a:\n    steps:\n      - env: {{T: {s1}, U: x}}  # inline\n"
    assert [s.kind for s in workflow.analyze(src, [s1])] == ["workflow"]
    new, error = workflow.rewrite(src, {s1: "T"})
    assert error is None
    assert new == "jobs:\n  a:\n    steps:\n      - env: {T: '${{ secrets.T }}', U: x}  # inline\n"


def test_not_yaml_is_a_manual_step_not_a_crash() -> None:
    s1 = _secret()
    sites = workflow.analyze(f"jobs: [\n  {s1}\n", [s1])
    assert [s.kind for s in sites] == ["manual"] and "not valid YAML" in (sites[0].manual or "")
    assert workflow.rewrite(f"jobs: [\n  {s1}\n", {s1: "X"})[0] is None


@pytest.mark.parametrize(("path", "expected"), [
    (".github/workflows/ci.yml", True), ("sub/.github/workflows/deploy.yaml", True), ("ci.yml", False),
    (".github/dependabot.yml", False), (".github/workflows/README.md", False),
])
def test_handles(path: str, expected: bool) -> None:
    assert workflow.handles(path) is expected
