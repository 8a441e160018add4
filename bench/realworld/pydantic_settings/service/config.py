from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    app_name: str = "orders"
    database_url: str = "postgresql://orders:{{FAKE:url_password#1}}@db.internal:5432/orders"
    github_token: SecretStr = SecretStr("{{FAKE:github_pat#1}}")
    sentry_auth_token: str = "{{FAKE:sentry_token#1}}"
    debug: bool = False


@lru_cache
def get_settings() -> Settings:
    return Settings()
