import base64
import json

import pytest
import requests
from clients import github, mail


@pytest.fixture
def sent(monkeypatch):
    """No network: every request is captured and answered with a canned response."""
    requests_seen = []

    def send(self, request, **kwargs):
        requests_seen.append(request)
        response = requests.Response()
        response.status_code = 202 if request.method == "POST" else 200
        response._content = json.dumps([{"name": "api"}, {"name": "web"}]).encode()
        response.request = request
        return response

    monkeypatch.setattr(requests.Session, "send", send)
    return requests_seen


def test_github_token_header(sent, expect):
    assert github.list_repos("acme") == ["api", "web"]
    scheme, token = sent[0].headers["Authorization"].split(" ", 1)
    assert scheme == "token"
    expect(token, "github_pat#1", r"ghp_[A-Za-z0-9]{36}")


def test_sendgrid_bearer(sent, expect):
    assert mail.SendGrid().send("ann@shop.internal", "hi") == 202
    scheme, key = sent[0].headers["Authorization"].split(" ", 1)
    assert scheme == "Bearer"
    expect(key, "sendgrid_key#1", r"SG\.[\w-]{22}\.[\w-]{43}")


def test_deploy_hook_basic_auth(sent, expect):
    assert mail.deploy_hook("main") == 202
    user, password = base64.b64decode(sent[0].headers["Authorization"].split()[1]).decode().split(":", 1)
    assert user == "deployer"
    expect(password, "url_password#1", r"[\w.~-]{18}")
