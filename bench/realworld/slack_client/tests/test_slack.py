import time
from urllib.parse import urlsplit

from notify import slack
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.base_client import BaseClient


def test_post_release_uses_the_bot_token(monkeypatch, expect):
    seen = {}

    def fake_http(self, *, url, args):
        seen["auth"] = args["headers"]["Authorization"]
        return {"status": 200, "headers": {}, "body": '{"ok": true, "ts": "1700000000.1"}'}

    monkeypatch.setattr(BaseClient, "_perform_urllib_http_request", fake_http)
    assert slack.post_release("1.2.0") == "1700000000.1"
    scheme, token = seen["auth"].split(" ", 1)
    assert scheme == "Bearer"
    expect(token, "slack_bot_token#1", r"xoxb-\d{11}-\d{12}-[A-Za-z0-9]{24}")


def test_request_signature(expect):
    expect(slack.verifier.signing_secret, "hex32#1", r"[0-9a-f]{32}")
    body, ts = "command=/deploy", str(int(time.time()))
    signature = SignatureVerifier(slack.verifier.signing_secret).generate_signature(timestamp=ts, body=body)
    assert slack.is_from_slack(body, ts, signature)
    assert not slack.is_from_slack(body, ts, "v0=" + "0" * 64)


def test_alert_webhook(expect):
    request = slack.alert("disk full")
    assert urlsplit(request.full_url).hostname == "hooks.slack.com"
    expect(request.full_url, "slack_webhook#1", r"https://hooks\.slack\.com/services/T\w{8}/B\w{10}/\w{24}")
