import json
import os
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def load() -> dict:
    """The worker's settings: config/app.yaml, then config/integrations.json; ${VAR} expands from the environment."""
    app = yaml.safe_load(os.path.expandvars((ROOT / "config" / "app.yaml").read_text()))
    app["integrations"] = json.loads(os.path.expandvars((ROOT / "config" / "integrations.json").read_text()))
    return app


def compose_environment(service: str) -> dict:
    """The environment docker compose gives a service (compose interpolates ${VAR} from the shell)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"][service]["environment"]
    return {k: os.path.expandvars(str(v)) for k, v in env.items()}
