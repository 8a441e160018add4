from urllib.parse import urlsplit

from service.config import Settings


def test_settings(expect):
    settings = Settings()
    assert settings.app_name == "orders"
    expect(urlsplit(settings.database_url).password, "url_password#1", r"[\w.~-]{18}")
    expect(settings.github_token.get_secret_value(), "github_pat#1", r"ghp_[A-Za-z0-9]{36}")
    expect(settings.sentry_auth_token, "sentry_token#1", r"sntryu_[0-9a-f]{64}")
    assert "ghp_" not in repr(settings)
