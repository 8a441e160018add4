"""`unleak scan` end to end: exit codes, allow comments, config, explain, min-confidence."""

from __future__ import annotations

import json
import os
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


def test_a_named_file_git_ignores_is_scanned(repo: GitRepo) -> None:
    # `unleak scan .env` must never answer "no secrets" for a file it did not open: the user named it. A scan of the
    # directory keeps git's view (tracked plus untracked-not-ignored), as documented.
    token = github_pat()
    repo.commit("init", {".gitignore": ".env\nlocal/\n", "README.md": "x\n"})
    repo.write(".env", f"GITHUB_TOKEN={token}\n")
    repo.write("local/creds.txt", f"token: {token}\n")
    for named in ([".env"], ["local/creds.txt"], ["./.env", "README.md"]):
        proc = run_cli("scan", *named, "--format", "json", cwd=repo.path)
        assert proc.returncode == 1, (named, proc.stderr)
        assert [x["rule_id"] for x in json.loads(proc.stdout)["findings"]] == ["UL001"], named
        assert token not in proc.stdout + proc.stderr
    whole = run_cli("scan", cwd=repo.path)
    assert whole.returncode == 0, whole.stdout
    # a directory git ignores, named, is still walked through git's view (its files are not named one by one)
    assert run_cli("scan", "local", cwd=repo.path).returncode == 0


@pytest.mark.parametrize("inside", [True, False])
def test_a_named_fifo_or_device_is_counted_as_skipped(repo: GitRepo, tmp_path: Path, inside: bool) -> None:
    # never opened (a FIFO's read waits for a writer), and said so instead of "scanned 0 chunks" alone
    where = repo.path if inside else tmp_path / "plain"
    where.mkdir(exist_ok=True)
    os.mkfifo(where / "pipe")
    proc = run_cli("scan", "pipe", "/dev/null", cwd=where, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "skipped 2 FIFO/socket/device" in proc.stdout + proc.stderr
    doc = json.loads(run_cli("scan", "pipe", "--format", "json", cwd=where, timeout=60).stdout)
    assert doc["stats"]["special_skipped"] == 1
