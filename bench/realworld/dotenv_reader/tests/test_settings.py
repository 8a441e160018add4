import importlib
from urllib.parse import urlsplit

import newsletter.settings


def test_settings_from_the_environment(monkeypatch, expect):
    monkeypatch.chdir(newsletter.settings.__file__.rsplit("/newsletter/", 1)[0])
    settings = importlib.reload(newsletter.settings)
    expect(settings.MAILCHIMP_API_KEY, "mailchimp_key#1", r"[0-9a-f]{32}-us\d+")
    assert settings.MAILCHIMP_DC.startswith("us")
    expect(urlsplit(settings.DATABASE_URL).password, "url_password#1", r"[\w.~-]{18}")
    token = settings.telegram_api("getMe").split("/bot", 1)[1].rsplit("/", 1)[0]
    expect(token, "telegram_bot_token#1", r"\d{10}:AA[\w-]{33}")
