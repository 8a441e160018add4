import stripe

stripe.api_key = "{{FAKE:stripe_live_key#1}}"
STRIPE_WEBHOOK_SECRET = "{{FAKE:stripe_webhook_secret#1}}"

# read-only key for the finance dashboard
reporting = stripe.StripeClient("{{FAKE:stripe_restricted_key#1}}")


def handle_webhook(payload: str, signature: str) -> str:
    event = stripe.Webhook.construct_event(payload, signature, STRIPE_WEBHOOK_SECRET)
    return event["type"]
