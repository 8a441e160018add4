"""The HTML of the approval and secret-entry pages, built from the request alone (no HTTP here: see
:mod:`unleak.agent.approval`). Every field an agent chose goes through :func:`unleak.agent.display.shown` and is
HTML-escaped."""

from __future__ import annotations

import html
import shlex
from typing import TYPE_CHECKING

from unleak.agent.display import shown, when
from unleak.agent.policy import format_duration

if TYPE_CHECKING:
    from unleak.agent.approval import SecretRequest
    from unleak.agent.policy import ApprovalRequest

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.4rem} dt{font-weight:600;margin-top:.6rem} dd{margin:0 0 0 1rem}
code{background:#f2f2f2;padding:.1rem .3rem;border-radius:3px;word-break:break-all}
.warn{background:#fff0f0;border:1px solid #d33;padding:.6rem;border-radius:4px}
button{font-size:1rem;padding:.4rem 1.2rem;margin-right:.6rem} textarea{width:100%;font-family:monospace}
"""


def page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()


def refusal(title: str, text: str) -> bytes:
    return page(title, f"<p>{html.escape(text)}</p>")


def _esc(text: str | None) -> str:
    return html.escape(shown(text or ""))


def approve_page(req: ApprovalRequest, token: str, code: str, csrf: str) -> bytes:
    """What is asked, in plain words, the command to approve it with in the human's terminal, and the deny form."""
    esc = _esc
    names = "".join(f"<li><code>{esc(n)}</code></li>" for n in req.secrets) or "<li>(none)</li>"
    danger = ""
    flag = ""
    if req.dangerous:
        danger = (f"<p class=warn id=danger><strong>Warning:</strong> {esc(req.dangerous)}. A command "
                  "like this can print or send away the secrets it receives. Approve only if you "
                  "wrote or checked it yourself.</p>")
        flag = " --allow-dangerous"
    from unleak.agent.treepin import approval_kind

    if req.tier != "dev":
        flag += " --pinned"
    who = esc(req.client or "an unknown program")
    body = (
        f"<p id=summary>{who} asks to run a command with {len(req.secrets)} secret(s) in its "
        f"environment. It will not see the values; the command will. Everything below was written by "
        f"the agent: read it as its claim, not as a fact.</p>{danger}"
        "<dl>"
        f"<dt>Command</dt><dd><code id=command>{esc(shlex.join(list(req.argv)))}</code></dd>"
        f"<dt>Secrets</dt><dd><ul id=secrets>{names}</ul></dd>"
        f"<dt>Repository</dt><dd><code id=repo>{esc(req.repo)}</code></dd>"
        f"<dt>Branch</dt><dd><code id=branch>{esc(req.branch)}</code></dd>"
        f"<dt>Environment</dt><dd id=tier>{esc(req.tier)}"
        + (f", from <code id=env_file>{esc(req.env_file)}</code>" if req.env_file else "") + "</dd>"
        f"<dt>Kind</dt><dd id=kind>{esc(approval_kind(req.tier))}</dd>"
        f"<dt>For how long</dt><dd id=duration>{esc(format_duration(req.ttl))} after you approve "
        "(this exact command only)</dd>"
        + (f"<dt>Task</dt><dd><code id=task>{esc(req.task)}</code></dd>" if req.task else "")
        + f"<dt>Request</dt><dd><code id=request>{esc(req.id)}</code>, asked at "
        f"{when(req.created, date=False)}, "
        f"this page expires at {when(req.expires, date=False)}</dd></dl>"
        # Approving needs this code typed in the human's own terminal: a program that loads this page
        # (the agent included) can read the code, but it cannot type into that terminal.
        "<p class=warn id=howto>To approve, run this in <strong>your own terminal</strong> and type the "
        f"code when asked:<br><code id=approve_command>unleak approve {esc(req.id)}{flag}</code></p>"
        f"<p>Code: <code id=code>{esc(code)}</code></p>"
        "<p>Never type this code into anything the agent can see (its chat, a file it reads).</p>"
        f"<form method=post action='/approve/{esc(token)}' id=decide>"
        f"<input type=hidden name=csrf value='{esc(csrf)}'>"
        "<button type=submit name=decision value=deny id=deny>Deny</button></form>"
    )
    return page("Approve a command for a coding agent?", body)


def secret_page(sr: SecretRequest, token: str, csrf: str) -> bytes:
    """The form a human types a new secret into."""
    esc = _esc
    body = (
        f"<p id=summary>{esc(sr.client or 'A coding agent')} asks for a secret named "
        f"<code id=name>{esc(sr.name)}</code> for the repository <code id=repo>{esc(sr.repo)}</code>. "
        "If you want to give it, type or paste the value here. After you send it, this page shows a "
        "code: type it into <code>unleak approve</code> in your own terminal, and only then does the "
        "value go into your local vault. The agent gets only the reference, never the value.</p>"
        + ("<p>Reason, as written by the agent (unverified, not from unleak):</p>"
           f"<blockquote id=reason>{esc(sr.reason)}</blockquote>" if sr.reason else "")
        + ("<p class=warn id=held>A value was already entered on this page and waits for confirmation. "
           "If you did not enter it, enter yours: it replaces that one and gets a new code.</p>"
           if sr.held is not None else "")
        + f"<form method=post action='/secret/{esc(token)}' id=store autocomplete=off>"
        f"<input type=hidden name=csrf value='{esc(csrf)}'>"
        "<p><textarea name=value id=value rows=4 required spellcheck=false autocomplete=off></textarea></p>"
        "<button type=submit name=decision value=store id=save>Continue</button>"
        "<button type=submit name=decision value=cancel id=cancel formnovalidate>Cancel</button></form>"
        f"<p>This page expires at {when(sr.expires, date=False)}.</p>"
    )
    return page("Enter a secret", body)


def confirm_page(sr: SecretRequest, code: str) -> bytes:
    """After a value was entered: the code to type in the human's own terminal."""
    esc = html.escape
    body = (f"<p id=result>One more step. In <strong>your own terminal</strong>, run "
            f"<code id=approve_command>unleak approve {esc(sr.id)}</code> and type this code:</p>"
            f"<p>Code: <code id=code>{esc(code)}</code></p>"
            f"<p>Then <code>{esc(shown(sr.name))}</code> goes into the vault. Never type this code into "
            "anything the agent can see.</p>")
    return page("Confirm in your terminal", body)
