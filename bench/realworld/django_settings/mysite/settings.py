import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# SECURITY WARNING: keep the secret key used in production secret!
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "{{FAKE:django_secret_key#1}}")

DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["shop.internal", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "mysite",
        "USER": "mysite",
        "PASSWORD": "{{FAKE:password#1}}",
        "HOST": "db.internal",
        "PORT": "5432",
    }
}

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "smtp.sendgrid.net"
EMAIL_HOST_USER = "apikey"
EMAIL_HOST_PASSWORD = "{{FAKE:sendgrid_key#1}}"

# django-storages
AWS_ACCESS_KEY_ID = "{{FAKE:aws_access_key_id#1}}"
AWS_SECRET_ACCESS_KEY = "{{FAKE:aws_secret_key#1}}"
AWS_STORAGE_BUCKET_NAME = "mysite-media"
