"""`unleak scan` end to end: exit codes, allow comments, config, explain, min-confidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import GitRepo, run_cli
from tests.fakes import aws_access_key_id, github_pat


def test_exit_codes_clean_and_findings(repo: GitRepo) -> None:
    repo.commit("a", {"a.py": "x = 1\n"})
    assert run_cli("scan", cwd=repo.path).returncode == 0
    repo.write("b.py", f"T = '{github_pat()}'\n")
    assert run_cli("scan", cwd=repo.path).returncode == 1
    assert run_cli("scan", "--exit-zero", cwd=repo.path).returncode == 0


@pytest.mark.parametrize(
    ("lines", "found"),
    [
        (["T = '{s}'  # pragma: allowlist secret"], False),
        (["T = '{s}'  # gitleaks:allow"], False),
        (["T = '{s}'  // unleak:allow"], False),
        (["# pragma: allowlist nextline secret", "T = '{s}'"], False),
        (["# unleak:allow-next-line", "T = '{s}'"], False),
        (["# pragma: allowlist secret", "", "T = '{s}'"], True),  # two lines above: not covered
        (["T = '{s}'  # allowlist"], True),  # near miss
    ],
)
def test_inline_allow_comments(tmp_path: Path, lines: list[str], found: bool) -> None:
    s = github_pat()
    (tmp_path / "f.py").write_text("\n".join(lines).format(s=s) + "\n")
    proc = run_cli("scan", "--format", "json", cwd=tmp_path)
    assert bool(json.loads(proc.stdout)["findings"]) is found


def test_explain_names_the_filter_never_the_value(tmp_path: Path) -> None:
    s = github_pat()
    (tmp_path / "f.py").write_text(f"T = '{s}'  # unleak:allow\nU = '{s}'\n")
    proc = run_cli("scan", "--explain", cwd=tmp_path)
    assert "allow-comment" in proc.stdout and "f.py:1" in proc.stdout
    assert s not in proc.stdout + proc.stderr


def test_config_excludes_disables_and_adds_rules(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.unleak]\nexclude = ["vendor/**"]\ndisable = ["UL010"]\n'
        '[[tool.unleak.rules]]\nid = "acme-token"\nregex = "acme_[a-z0-9]{20}"\nkeywords = ["acme_"]\n'
        'confidence = "high"\n'
    )
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "v.txt").write_text(github_pat() + "\n")
    (tmp_path / "a.txt").write_text(aws_access_key_id() + "\nacme_k3j9x0qmz7w2b8v5n1cr\n")
    proc = run_cli("scan", "--format", "json", cwd=tmp_path)
    found = {(f["path"], f["rule_id"]) for f in json.loads(proc.stdout)["findings"]}
    assert ("a.txt", "acme-token") in found
    assert not any(p.startswith("vendor/") or r == "UL010" for p, r in found)


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ("exclude = 'x'\n", "'exclude' must be a list of strings"),
        ("bogus = 1\n", "unknown key 'bogus'"),
        ("disable = ['UL999999']\n", "unknown rule 'UL999999'"),
        ("[[rules]]\nid = 'r1'\nregex = '('\n", "rules[r1].regex does not compile"),
        ("[[rules]]\nregex = 'x'\n", "missing 'id'"),
        ("min-confidence = 'very'\n", "'min-confidence'"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_malformed_config_exits_2_naming_file_and_key(tmp_path: Path, config: str, needle: str) -> None:
    (tmp_path / ".unleak.toml").write_text(config)
    proc = run_cli("scan", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert needle in proc.stderr and ".unleak.toml" in proc.stderr and "Traceback" not in proc.stderr


def test_flags_beat_config(tmp_path: Path) -> None:
    (tmp_path / ".unleak.toml").write_text(
        "min-confidence = 'medium'\n[[rules]]\nid = 'weak'\nregex = 'weak_[0-9]{8}'\nkeywords = ['weak_']\n"
        "confidence = 'low'\n"
    )
    (tmp_path / "a.txt").write_text("weak_73918246\n")
    assert json.loads(run_cli("scan", "--format", "json", cwd=tmp_path).stdout)["findings"] == []
    proc = run_cli("scan", "--format", "json", "--min-confidence", "low", cwd=tmp_path)
    assert json.loads(proc.stdout)["findings"]


def test_scan_specific_paths(repo: GitRepo) -> None:
    repo.commit("a", {"one/a.py": f"T = '{github_pat()}'\n", "two/b.py": f"T = '{github_pat()}'\n"})
    proc = run_cli("scan", "two", "--format", "json", cwd=repo.path)
    assert [f["path"] for f in json.loads(proc.stdout)["findings"]] == ["two/b.py"]
    proc = run_cli("scan", "-C", str(repo.path / "one"), "--format", "json", cwd=repo.path.parent)
    assert {f["path"] for f in json.loads(proc.stdout)["findings"]} >= {"one/a.py"}


def test_version_and_help() -> None:
    assert run_cli("--version").stdout.startswith("unleak")
    assert "--staged" in run_cli("scan", "--help").stdout
