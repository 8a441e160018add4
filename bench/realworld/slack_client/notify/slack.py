import json
import urllib.request

from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

slack = WebClient(token="{{FAKE:slack_bot_token#1}}")
verifier = SignatureVerifier(signing_secret="{{FAKE:hex32#1}}")
ALERTS_WEBHOOK = "{{FAKE:slack_webhook#1}}"


def post_release(version: str) -> str:
    response = slack.chat_postMessage(channel="#releases", text=f"Released {version}")
    return response["ts"]


def alert(text: str) -> urllib.request.Request:
    """The webhook request (sent by the caller's opener)."""
    return urllib.request.Request(ALERTS_WEBHOOK, data=json.dumps({"text": text}).encode(), method="POST")


def is_from_slack(body: str, timestamp: str, signature: str) -> bool:
    return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
