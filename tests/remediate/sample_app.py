"""A small sample application with planted (generated, fake) secrets, for the end-to-end test of ``unleak fix``.

Layout: a package with a settings module (assignment, dict value, a password inside a connection URL, an env read
with a literal default), an API client (keyword argument), a module that reads ``.env`` (``load_dotenv(
override=True)``, ``dotenv_values()[KEY]``), a ``.env`` and a pytest suite that checks every value is what it was.
The suite compares SHA-256 digests, so no planted value is written anywhere but where the leak is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tests.fakes import github_pat, password, slack_bot_token, stripe_live_key


@dataclass(frozen=True)
class Planted:
    stripe: str
    db_password: str
    github: str
    slack: str
    api_token: str

    def values(self) -> list[str]:
        return [self.stripe, self.db_password, self.github, self.slack, self.api_token]


def _h(v: str) -> str:
    return hashlib.sha256(v.encode()).hexdigest()


def write_sample_app(root: Path) -> Planted:
    # Letters/digits plus '-', '.': valid in a URL's userinfo without percent-encoding.
    p = Planted(stripe=stripe_live_key(), db_password="Pw-" + password(12).translate(str.maketrans("!#%&*+", "abcdef"))
                + "x9.Q", github=github_pat(), slack=slack_bot_token(), api_token="tok-" + password(24).translate(
                    str.maketrans("!#%&*+", "ghijkl")))
    url_digest = _h(f"postgres://shop:{p.db_password}@db:5432/shop")
    files = {
        "shopapp/__init__.py": '"""Shop application."""\n',
        "shopapp/settings.py": f'''"""Settings for the shop."""

DEBUG = False

# Payments
STRIPE_KEY = "{p.stripe}"  # live key

DATABASES = {{
    "default": {{
        "ENGINE": "postgres",
        "HOST": "db",
        "PASSWORD": "{p.db_password}",
    }},
}}
DATABASE_URL = "postgres://shop:{p.db_password}@db:5432/shop"
''',
        "shopapp/client.py": f'''"""A tiny API client."""


class GitHub:
    def __init__(self, token: str, timeout: int = 10) -> None:
        self.token = token
        self.timeout = timeout


def make_client() -> GitHub:
    return GitHub(token="{p.github}", timeout=5)
''',
        "shopapp/dotenv_config.py": f'''"""Reads the project's .env file."""

import os
from pathlib import Path

from dotenv import dotenv_values, load_dotenv

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"
load_dotenv(ENV_FILE, override=True)

SLACK_TOKEN = dotenv_values(ENV_FILE)["SLACK_BOT_TOKEN"]
API_TOKEN = os.getenv("API_TOKEN", "{p.api_token}")
DEBUG = os.environ.get("DEBUG", "0")
''',
        ".env": f"""# local configuration
DEBUG=1
SLACK_BOT_TOKEN={p.slack}
export API_TOKEN="{p.api_token}"  # the API token
""",
        "tests/__init__.py": "",
        "tests/test_app.py": f'''import hashlib

from shopapp import client, dotenv_config, settings


def h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_settings() -> None:
    assert h(settings.STRIPE_KEY) == "{_h(p.stripe)}"  # unleak:allow (a digest)
    assert h(settings.DATABASES["default"]["PASSWORD"]) == "{_h(p.db_password)}"  # unleak:allow (a digest)
    assert h(settings.DATABASE_URL) == "{url_digest}"  # unleak:allow (a digest)


def test_client() -> None:
    assert h(client.make_client().token) == "{_h(p.github)}"  # unleak:allow (a digest)


def test_dotenv() -> None:
    assert h(dotenv_config.SLACK_TOKEN) == "{_h(p.slack)}"  # unleak:allow (a digest)
    assert h(dotenv_config.API_TOKEN) == "{_h(p.api_token)}"  # unleak:allow (a digest)
    assert dotenv_config.DEBUG == "1"
''',
        "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "-p no:cacheprovider"\n',
    }
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return p
