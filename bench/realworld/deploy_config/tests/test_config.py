from pathlib import Path
from urllib.parse import urlsplit

import yaml
from worker import config


def test_worker_config(expect):
    cfg = config.load()
    expect(urlsplit(cfg["queue"]["url"]).password, "url_password#2", r"[\w.~-]{18}")
    expect(cfg["smtp"]["password"], "password#1", r"\S{18}")
    expect(cfg["integrations"]["sentry"]["auth_token"], "sentry_token#1", r"sntryu_[0-9a-f]{64}")
    expect(cfg["integrations"]["pagerduty"]["routing_key"], "hex32#1", r"[0-9a-f]{32}")


def test_compose_environment(expect):
    db = config.compose_environment("db")
    expect(db["POSTGRES_PASSWORD"], "url_password#1", r"[\w.~-]{18}")
    worker = config.compose_environment("worker")
    expect(urlsplit(worker["DATABASE_URL"]).password, "url_password#1", r"[\w.~-]{18}")


def test_workflow_is_valid():
    wf = yaml.safe_load((Path(config.ROOT) / ".github/workflows/deploy.yml").read_text())
    login = wf["jobs"]["image"]["steps"][1]
    assert login["uses"] == "docker/login-action@v3"
    assert login["with"]["username"] == "acmebot" and login["with"]["password"]
