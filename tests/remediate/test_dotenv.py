""".env files -> reference files: values replaced in place, everything else kept byte for byte."""

from __future__ import annotations

import io

import pytest
from dotenv import dotenv_values

from remediate import configfiles, dotenv
from tests.fakes import ALNUM, _rand


def _secret() -> str:
    return "Dx" + _rand(ALNUM, 22)


REF_A, REF_B = "unleak://app/API_TOKEN", "unleak://app/DB_PASSWORD"

CASES = [
    ("plain", "API_TOKEN=@@1\n", "API_TOKEN=unleak://app/API_TOKEN\n"),
    ("export-and-comment", "# top\nexport API_TOKEN=@@1   # the token\nDEBUG=1\n",
     "# top\nexport API_TOKEN=unleak://app/API_TOKEN   # the token\nDEBUG=1\n"),
    ("quoted", "API_TOKEN='@@1'\nDB_PASSWORD=\"p\\\"@@2\"\n",
     "API_TOKEN=unleak://app/API_TOKEN\nDB_PASSWORD=unleak://app/DB_PASSWORD\n"),
    ("multiline-value", 'DB_PASSWORD="line1\n@@2"\nAFTER=1\n', "DB_PASSWORD=unleak://app/DB_PASSWORD\nAFTER=1\n"),
    ("spaces-around-equals", "API_TOKEN = @@1\n", "API_TOKEN = unleak://app/API_TOKEN\n"),
    ("no-trailing-newline", "X=1\nAPI_TOKEN=@@1", "X=1\nAPI_TOKEN=unleak://app/API_TOKEN"),
    ("comment-quoting-secret", "# was @@1\nAPI_TOKEN=@@1\n", "# was <unleak:API_TOKEN>\nAPI_TOKEN=unleak://app/API_TOKEN\n"),
    ("no-change", "DEBUG=1\n# nothing here\n", "DEBUG=1\n# nothing here\n"),
]


@pytest.mark.parametrize(("before", "after"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rewrite_in_place(before: str, after: str) -> None:
    s1, s2 = _secret(), _secret()
    text = before.replace("@@1", s1).replace("@@2", s2)
    sites = dotenv.analyze(text, [s1, s2])
    refs = {s.env_key: {"API_TOKEN": REF_A, "DB_PASSWORD": REF_B}[s.env_key] for s in sites if s.kind == "dotenv"
            and s.env_key}
    markers = {s.raw: "<unleak:API_TOKEN>" for s in sites if s.kind == "comment"}
    out = dotenv.rewrite(text, refs, markers)
    assert out == after.replace("@@1", s1).replace("@@2", s2)
    assert s1 not in out and s2 not in out
    # The file still parses, and the moved keys now hold references.
    values = dotenv_values(stream=io.StringIO(out))
    for key in refs:
        assert values[key] == refs[key]


def test_analyze_reports_runtime_value_of_whole_variable() -> None:
    s1 = _secret()
    text = f'DATABASE_URL="postgres://u:{s1}@db/x"\nESCAPED="a\\"{s1}"\n'
    sites = dotenv.analyze(text, [s1])
    assert [(s.env_key, s.value) for s in sites] == [("DATABASE_URL", f"postgres://u:{s1}@db/x"),
                                                    ("ESCAPED", f'a"{s1}')]


def test_append_references_keeps_existing_and_adds_header_once() -> None:
    text = "DEBUG=1"
    out = dotenv.append_references(text, {"DEBUG": "x", "A": "unleak://n/A"})
    assert out.startswith("DEBUG=1\n")
    assert out.count(dotenv.REFERENCE_HEADER) == 1
    assert out.endswith("A=unleak://n/A\n")
    again = dotenv.append_references(out, {"B": "unleak://n/B"})
    assert again.count(dotenv.REFERENCE_HEADER) == 1 and again.endswith("B=unleak://n/B\n")
    assert dotenv.append_references(again, {"A": "unleak://n/A"}) == again


@pytest.mark.parametrize(("path", "expected"), [(".env", True), (".env.local", True), ("prod.env", True),
                                                ("env.py", False), ("config/.env.production", True),
                                                ("environment.yml", False)])
def test_is_dotenv_path(path: str, expected: bool) -> None:
    assert dotenv.is_dotenv_path(path) is expected


def test_compose_file_gets_interpolation() -> None:
    s1, s2 = _secret(), _secret()
    text = (f"services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: {s1}\n      - API_TOKEN={s2}\n"
            f"      DATABASE_URL: postgres://u:{s1}@db/x\n")
    assert configfiles.interpolates("docker-compose.yml") and configfiles.interpolates("compose.prod.yaml")
    sites = configfiles.analyze("docker-compose.yml", text, [s1, s2])
    assert [(s.kind, s.hint) for s in sites] == [("interpolate", "POSTGRES_PASSWORD"), ("interpolate", "API_TOKEN"),
                                                 ("interpolate", "DATABASE_URL")]
    out = configfiles.rewrite(text, {s1: "POSTGRES_PASSWORD", s2: "API_TOKEN"})
    assert "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}" in out and "- API_TOKEN=${API_TOKEN}" in out
    assert "postgres://u:${POSTGRES_PASSWORD}@db/x" in out
    assert s1 not in out and s2 not in out


@pytest.mark.parametrize("path", ["config.yaml", "settings.json", "pyproject.toml", "app.ini", "x.properties"])
def test_other_config_files_are_manual(path: str) -> None:
    assert not configfiles.interpolates(path)
    assert "by hand" in configfiles.manual_reason(path)


def test_spring_properties_get_placeholders_named_by_key() -> None:
    s1 = _secret()
    text = f"spring.datasource.url=jdbc:postgresql://db/shop\nspring.datasource.password={s1}\n"
    sites = configfiles.analyze("src/main/resources/application-prod.properties", text, [s1])
    assert [(s.kind, s.hint, s.line) for s in sites] == [("interpolate", "spring.datasource.password", 2)]
    out = configfiles.rewrite(text, {s1: "SPRING_DATASOURCE_PASSWORD"})
    assert out.endswith("spring.datasource.password=${SPRING_DATASOURCE_PASSWORD}\n")


def test_value_interpolation_would_alter_is_manual() -> None:
    raw = "ab$cd" + _secret()
    sites = configfiles.analyze("compose.yaml", f"x:\n  PASSWORD: {raw}\n", [raw])
    assert [s.kind for s in sites] == ["manual"]


@pytest.mark.parametrize(("path", "hint"), [("web/app.ts", "process.env.{NAME}"), ("main.go", 'os.Getenv("{NAME}")'),
                                            ("deploy.sh", '"${NAME}"')])
def test_other_languages_get_a_manual_step_saying_how_to_read_the_environment(path: str, hint: str) -> None:
    assert hint in configfiles.manual_reason(path) and "by hand" in configfiles.manual_reason(path)
