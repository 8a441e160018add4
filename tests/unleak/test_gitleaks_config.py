"""Migration from gitleaks / betterleaks: their TOML config and .gitleaksignore, read as they are, in real
repositories scanned through the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scanner.errors import ConfigError
from tests import fakes as f
from tests.conftest import GitRepo, run_cli
from unleak import config, gitleaks

GITLEAKS_TOML = r"""
title = "acme"

[extend]
useDefault = true

[[rules]]
id = "acme-api-token"
description = "ACME API token"
regex = '''(acme)_(?:live|test)_([a-z0-9]{24})\b'''
secretGroup = 2
entropy = 2.5
keywords = ["acme_"]
tags = ["internal"]
report = false
[[rules.allowlists]]
stopwords = ["deadbeef"]
[[rules.allowlists]]
regexTarget = "match"
regexes = ['''^acme_test_''']

[[rules]]
id = "acme-config-only"
regex = '''acmecfg=([A-Za-z0-9]{20})'''
path = '''\.cfg$'''

[[rules]]
id = "acme-path-only"
path = '''secrets\.bin$'''

[allowlist]
description = "vendored code"
paths = ['''(?:^|/)vendor/''']
regexes = ['''^AKIA[A-Z2-7]{12}FAKE$''']
"""


def _scan(repo: GitRepo, *args: str) -> tuple[set[tuple[str, int, str]], str]:
    proc = run_cli("scan", *args, "--format", "json", cwd=repo.path)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    return {(x["path"], x["line"], x["rule_id"]) for x in doc["findings"]}, proc.stderr


def _acme() -> str:
    return f._rand("abcdefghijklmnopqrstuvwxyz0123456789", 24)


def test_gitleaks_rules_and_allowlists_apply_and_unsupported_fields_are_named(repo: GitRepo) -> None:
    live, test, stop = _acme(), _acme(), _acme()[:16] + "deadbeef"
    repo.write(".gitleaks.toml", GITLEAKS_TOML)
    repo.write("app.py", f'T = "acme_live_{live}"\nU = "acme_test_{test}"\nV = "acme_live_{stop}"\n')
    repo.write("vendor/lib.py", f'T = "acme_live_{_acme()}"\nG = "{f.github_pat()}"\n')
    repo.write("a.cfg", f"acmecfg={f._rand(f.ALNUM, 20)}\n")
    repo.write("a.txt", f"acmecfg={f._rand(f.ALNUM, 20)}\n")
    found, err = _scan(repo)
    # The custom rule finds the live token (its secretGroup), not the test one (match allowlist) nor the one with
    # a stopword; nothing under vendor/ (global path allowlist, built-in rules included); the path-restricted
    # rule only in .cfg files.
    assert found == {("app.py", 1, "acme-api-token"), ("a.cfg", 1, "acme-config-only")}
    assert "'rules[acme-api-token].report' is not supported" in err
    assert "'rules[acme-path-only]' has no regex" in err
    assert live not in err and test not in err


def test_secret_group_is_the_reported_value(repo: GitRepo) -> None:
    live = _acme()
    repo.write(".gitleaks.toml", GITLEAKS_TOML)
    repo.write("app.py", f'T = "acme_live_{live}"\n')
    proc = run_cli("scan", "--format", "json", cwd=repo.path)
    doc = json.loads(proc.stdout)
    (finding,) = doc["findings"]
    # The preview and column point at the group, not at "acme_live_".
    assert finding["column"] == len('T = "acme_live_') + 1
    assert finding["end_column"] - finding["column"] == 24


def test_without_use_default_unleak_says_it_keeps_its_own_rules(repo: GitRepo) -> None:
    repo.write(".gitleaks.toml", "[[rules]]\nid = 'x-token'\nregex = 'xtok_[a-z]{10}'\n")
    repo.write("a.py", f'G = "{f.github_pat()}"\n')
    found, err = _scan(repo)
    assert found == {("a.py", 1, "UL001")}
    assert "without [extend] useDefault = true" in err


def test_betterleaks_config_by_name_and_by_flag(repo: GitRepo) -> None:
    repo.write(".betterleaks.toml", "[extend]\nuseDefault = true\n[[rules]]\nid = 'b-token'\n"
                                    "regex = 'btok_[A-Za-z0-9]{16}'\nkeywords = ['btok_']\n")
    repo.write("a.py", f'B = "btok_{f._rand(f.ALNUM, 16)}"\n')
    assert _scan(repo)[0] == {("a.py", 1, "b-token")}
    (repo.path / "conf").mkdir()
    (repo.path / ".betterleaks.toml").rename(repo.path / "conf" / "my.gitleaks.toml")
    assert _scan(repo)[0] == set()
    assert _scan(repo, "--config", "conf/my.gitleaks.toml")[0] == {("a.py", 1, "b-token")}


def test_extend_path_and_disabled_rules(repo: GitRepo) -> None:
    repo.write("base.toml", "[[rules]]\nid = 'one'\nregex = 'one_[a-z0-9]{12}'\nkeywords = ['one_']\n"
                            "[[rules]]\nid = 'two'\nregex = 'two_[a-z0-9]{12}'\nkeywords = ['two_']\n")
    repo.write(".gitleaks.toml", "[extend]\npath = 'base.toml'\ndisabledRules = ['two', 'aws-access-token']\n")
    repo.write("a.py", f'A = "one_{_acme()[:12]}"\nB = "two_{_acme()[:12]}"\n')
    found, err = _scan(repo)
    assert found == {("a.py", 1, "one")}
    assert "'aws-access-token', a gitleaks built-in rule" in err


def test_gitleaksignore_fingerprints(repo: GitRepo) -> None:
    repo.write(".gitleaks.toml", GITLEAKS_TOML)
    repo.write("app.py", f'T = "acme_live_{_acme()}"\nK = "acme_live_{_acme()}"\n')
    repo.write("keys.py", f'G = "{f.github_pat()}"\nH = "{f.github_pat()}"\n')
    sha = repo.commit("add")
    found, _ = _scan(repo, "--history")
    assert {x for x in found if x[0] != ".gitleaks.toml"} == {
        ("app.py", 1, "acme-api-token"), ("app.py", 2, "acme-api-token"), ("keys.py", 1, "UL001"),
        ("keys.py", 2, "UL001")}
    # A fingerprint of a rule the config defines suppresses that finding; one of a gitleaks built-in rule
    # (github-pat) suppresses whatever unleak finds on that reviewed line. Directory-scan fingerprints have no
    # commit. A line that is not a fingerprint is named in a warning.
    repo.write(".gitleaksignore", f"# reviewed\n{sha}:app.py:acme-api-token:1\nkeys.py:github-pat:2\nnonsense\n")
    found, err = _scan(repo, "--history")
    assert {x for x in found if x[0] != ".gitleaks.toml"} == {("app.py", 2, "acme-api-token"), ("keys.py", 1, "UL001")}
    assert ".gitleaksignore:4: not a gitleaks fingerprint" in err
    found, _ = _scan(repo)
    assert found == {("app.py", 1, "acme-api-token"), ("app.py", 2, "acme-api-token"), ("keys.py", 1, "UL001")}


def test_allowlisted_commits(repo: GitRepo) -> None:
    repo.write("a.py", f'G = "{f.github_pat()}"\n')
    old = repo.commit("old")
    repo.write("b.py", f'G = "{f.github_pat()}"\n')
    repo.commit("new")
    repo.write(".gitleaks.toml", f"[extend]\nuseDefault = true\n[[allowlists]]\ncommits = ['{old[:12]}']\n")
    found, _ = _scan(repo, "--history")
    assert found == {("b.py", 1, "UL001")}


@pytest.mark.parametrize(("go", "py"), [
    (r"foo\z", r"foo\Z"),
    (r"(?<tok>[a-z]+)", r"(?P<tok>[a-z]+)"),
    (r"[[:alpha:]][[:digit:]]", r"[A-Za-z][0-9]"),
    (r"key=(?i)secret", r"key=(?i:secret)"),
    (r"(?i)abc", r"(?i)abc"),
])
def test_go_regex_translation(go: str, py: str) -> None:
    assert gitleaks.go_regex(go) == py
    re.compile(py)


def test_bad_gitleaks_config_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / ".gitleaks.toml").write_text("[[rules]]\nid = 'x'\nregex = '(unclosed'\n")
    with pytest.raises(ConfigError, match=r"\.gitleaks\.toml: 'rules\[x\]\.regex' does not compile"):
        config.load(tmp_path)
    (tmp_path / ".gitleaks.toml").write_text("[[rules]]\nid = 'x'\nregex = 'a(b)'\nsecretGroup = 3\n")
    with pytest.raises(ConfigError, match="secretGroup' is 3 but the regex has 1 groups"):
        config.load(tmp_path)
    proc = run_cli("scan", cwd=tmp_path)
    assert proc.returncode == 2 and ".gitleaks.toml" in proc.stderr


def test_no_baseline_also_ignores_gitleaksignore(repo: GitRepo) -> None:
    repo.write("keys.py", f'G = "{f.github_pat()}"\n')
    repo.write(".gitleaksignore", "keys.py:github-pat:1\n")
    assert _scan(repo)[0] == set()
    assert _scan(repo, "--no-baseline")[0] == {("keys.py", 1, "UL001")}


def test_allowlist_conditions_targets_and_target_rules(tmp_path: Path) -> None:
    """AND needs every given criterion, OR any; regexTarget line searches the whole line; targetRules limits a
    global allowlist to the rules it names (here a built-in one)."""
    from scanner.chunk import Chunk
    from scanner.engine import Engine, EngineOptions

    (tmp_path / ".gitleaks.toml").write_text(r"""
[extend]
useDefault = true
[[rules]]
id = "t-token"
regex = '''ttok_[a-z0-9]{16}'''
keywords = ["ttok_"]
[[rules.allowlists]]
condition = "AND"
paths = ['''docs/''']
regexTarget = "line"
regexes = ['''# sample''']
[[allowlists]]
targetRules = ["UL001"]
regexTarget = "line"
regexes = ['''reviewed''']
""")
    cfg = config.load(tmp_path)
    engine = Engine(EngineOptions(extra_rules=cfg.rules, disabled=cfg.disable))

    def ids(path: str, text: str) -> set[str]:
        return {x.rule_id for x in engine.scan_chunk(Chunk(path, text + "\n"))}

    tok = f"ttok_{_acme()[:16]}"
    assert ids("docs/a.md", f"{tok}  # sample") == set()  # path and line regex both hold
    assert ids("src/a.py", f"x = '{tok}'  # sample") == {"t-token"}  # AND: the path does not
    assert ids("docs/a.md", f"x = '{tok}'") == {"t-token"}  # AND: the line regex does not
    # Only the target rule is allowlisted (as in gitleaks): another rule may still report the value.
    assert "UL001" not in ids("a.py", f"G = '{f.github_pat()}'  # reviewed")
    assert "UL001" in ids("a.py", f"G = '{f.github_pat()}'")
    assert ids("a.py", f"S = '{f.stripe_live_key()}'  # reviewed") == {"UL020"}  # not a target rule
