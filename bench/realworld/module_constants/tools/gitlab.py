"""Small release helper: tags a project on the company GitLab and mails the changelog."""

import smtplib
from email.message import EmailMessage
from urllib.request import Request

GITLAB_URL = "https://gitlab.internal"
PRIVATE_TOKEN = "{{FAKE:gitlab_pat#1}}"
SMTP_HOST = "smtp.internal"


def tag_request(project: int, tag: str, token: str = "{{FAKE:gitlab_pat#1}}") -> Request:
    url = f"{GITLAB_URL}/api/v4/projects/{project}/repository/tags?tag_name={tag}&ref=main"
    return Request(url, method="POST", headers={"PRIVATE-TOKEN": token})


class Mailer:
    user = "release-bot"
    password = "{{FAKE:password#1}}"

    def __init__(self, smtp_factory=smtplib.SMTP) -> None:
        self.smtp_factory = smtp_factory

    def send(self, to: str, body: str) -> None:
        msg = EmailMessage()
        msg["To"], msg["From"], msg["Subject"] = to, "release@internal", "Release notes"
        msg.set_content(body)
        with self.smtp_factory(SMTP_HOST, 587) as smtp:
            smtp.starttls()
            smtp.login(self.user, self.password)
            smtp.send_message(msg)
