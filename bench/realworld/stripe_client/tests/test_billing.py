import json
import time

import stripe
from payments import billing


def test_api_keys(expect):
    expect(stripe.api_key, "stripe_live_key#1", r"sk_live_[A-Za-z0-9]{24}")
    expect(billing.reporting._requestor.api_key, "stripe_restricted_key#1", r"rk_live_[A-Za-z0-9]{24}")


def test_webhook_signature_is_checked_with_the_endpoint_secret(expect):
    expect(billing.STRIPE_WEBHOOK_SECRET, "stripe_webhook_secret#1", r"whsec_[A-Za-z0-9]{32}")
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "invoice.paid", "data": {"object": {}}})
    ts = int(time.time())
    sig = stripe.WebhookSignature._compute_signature(f"{ts}.{payload}", billing.STRIPE_WEBHOOK_SECRET)
    assert billing.handle_webhook(payload, f"t={ts},v1={sig}") == "invoice.paid"
