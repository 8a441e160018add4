"""Which rule a value is reported under when two token formats match overlapping spans of it."""

from __future__ import annotations

import secrets
import string

from scanner.api import scan_text

B62 = string.ascii_letters + string.digits


def _run(n: int) -> str:
    return "".join(secrets.choice(B62) for _ in range(n))


def test_a_bearer_token_holding_an_api_secret_shaped_run_is_the_bearer_token() -> None:
    # X bearer tokens are URL-encoded base64: the first 50 characters, up to an escape, are letters and digits and
    # fit the X API-secret format too. The token is the finding, whichever rule's candidate came first.
    for _ in range(20):
        token = "A" * 21 + _run(29) + "%2B" + _run(9) + "%3D" + _run(40)
        # the line before makes the API-secret rule's candidates arrive first (its keyword `x_consumer`)
        found = scan_text(f"X_CONSUMER_NAME=shop\nTWITTER_API_KEY={token}\n", "app.env").findings
        assert [(f.rule_id, f.line, f.column, f.end_column) for f in found] == [
            ("UL530", 2, 17, 17 + len(token))], token[:4]


def test_two_generic_rules_keep_their_order() -> None:
    # Rules without a token format keep the order their candidates came in, so the ids (and fingerprints) a
    # baseline holds stay as they were: a short password is UL903's.
    found = scan_text('password: "h7Rq"\n', "app.yaml").findings
    assert [f.rule_id for f in found] == ["UL903"]
