"""Saved passwords in the configuration files of mail and database clients.

These files exist to hold a login (the user typed the password once and the client stored it), so the field is a
credential whatever its value looks like; a weak one is still reported (demoted as ``weak-password``).
"""

from __future__ import annotations

from scanner.finding import Confidence
from scanner.rules.base import Rule, register

register(
    Rule(
        id="UL214", title="Mail client saved password", confidence=Confidence.HIGH,
        # esmtp, msmtp and fetchmail: `password "…"`, `password …` (msmtp, fetchmail's `password '…'`/`pass …`).
        pattern=r"(?m)^[ \t]*(?:password|pass|passwd)[ \t]+[\"']?(?P<secret>(?<=\")[^\"\n]{1,200}(?=\")"
                r"|(?<=')[^'\n]{1,200}(?=')|(?<![\"'])[^\s\"'#][^\s#]{0,200})",
        path_pattern=r"(?:^|/)(?:\.?esmtprc|\.?msmtprc|\.?fetchmailrc)$",
        keywords=("pass",), family="credential-file",
        revoke="change the mailbox password (an app password, if the provider has them) and store it in the "
               "client's keyring (msmtp: passwordeval)",
        description="password of esmtp's .esmtprc, msmtp's .msmtprc and fetchmail's .fetchmailrc",
    ),
    Rule(
        id="UL215", title="DBeaver saved database password", confidence=Confidence.HIGH,
        # The XML of DBeaver's older workspaces (`<connection … password="…"/>`) and the JSON of data-sources*.json
        # when credentials were not moved to the encrypted credentials-config.json.
        pattern=r"(?:\bpassword=\"(?P<secret>[^\"\n]{1,300})\"|\"(?:password|auth-password)\"\s{0,4}:\s{0,4}"
                r"\"(?P<bare>[^\"\n]{1,300})\")",
        path_pattern=r"(?:^|/)(?:dbeaver-)?data-sources[\w.-]{0,40}\.(?:xml|json)$",
        keywords=("password",), family="credential-file",
        revoke="change the database user's password, then enable DBeaver's secure storage (or a master password)",
        description="saved connection passwords in DBeaver's data-sources*.json and dbeaver-data-sources*.xml",
    ),
)
