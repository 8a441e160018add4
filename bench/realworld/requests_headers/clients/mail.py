import requests


class SendGrid:
    def __init__(self) -> None:
        self.session = requests.Session()
        self.session.headers.update({"Authorization": "Bearer {{FAKE:sendgrid_key#1}}"})

    def send(self, to: str, subject: str) -> int:
        body = {"personalizations": [{"to": [{"email": to}]}], "subject": subject}
        return self.session.post("https://api.sendgrid.com/v3/mail/send", json=body, timeout=10).status_code


def deploy_hook(ref: str) -> int:
    response = requests.post(
        "https://ci.internal/api/deploy",
        json={"ref": ref},
        auth=("deployer", "{{FAKE:url_password#1}}"),
        timeout=10,
    )
    return response.status_code
