import os

import django
from django.conf import settings
from django.core import signing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django.setup()


def test_signing_uses_the_secret_key(expect):
    expect(settings.SECRET_KEY, "django_secret_key#1", r"\S{50}")
    token = signing.dumps({"order": 42})
    assert signing.loads(token) == {"order": 42}


def test_database_and_mail_credentials(expect):
    db = settings.DATABASES["default"]
    assert db["USER"] == "mysite"
    expect(db["PASSWORD"], "password#1", r"\S{18}")
    expect(settings.EMAIL_HOST_PASSWORD, "sendgrid_key#1", r"SG\.[\w-]{22}\.[\w-]{43}")


def test_storage_credentials(expect):
    expect(settings.AWS_ACCESS_KEY_ID, "aws_access_key_id#1", r"AKIA[A-Z2-7]{16}")
    expect(settings.AWS_SECRET_ACCESS_KEY, "aws_secret_key#1", r"[A-Za-z0-9/+]{40}")
