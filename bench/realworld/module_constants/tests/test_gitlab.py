from tools import gitlab


def test_token_constant_and_default(expect):
    expect(gitlab.PRIVATE_TOKEN, "gitlab_pat#1", r"glpat-[\w-]{20}")
    request = gitlab.tag_request(12, "v1.0")
    expect(request.get_header("Private-token"), "gitlab_pat#1", r"glpat-[\w-]{20}")


def test_mailer_logs_in(expect):
    calls = []

    class FakeSMTP:
        def __init__(self, host, port):
            calls.append(("connect", host, port))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def starttls(self):
            calls.append(("starttls",))

        def login(self, user, password):
            calls.append(("login", user))
            expect(password, "password#1", r"\S{18}")

        def send_message(self, msg):
            calls.append(("send", msg["To"]))

    gitlab.Mailer(smtp_factory=FakeSMTP).send("team@internal", "v1.0")
    assert calls == [("connect", "smtp.internal", 587), ("starttls",), ("login", "release-bot"),
                     ("send", "team@internal")]
