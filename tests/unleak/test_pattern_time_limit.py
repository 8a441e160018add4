"""A pattern a config supplies cannot hang a scan.

The repository that holds `.unleak.toml` or `.gitleaks.toml` also holds the files scanned, and an agent can write
both: a custom rule, a rule's path pattern or an allowlist regex that backtracks (`(a|aa)+$` against a long run of
`a` and a `b`) would take longer than the age of the universe on one line. Each search of such a pattern has a time
limit; past it the pattern is stopped for the rest of the scan, the report says so in a note, everything else is
scanned and reported, and `--strict` makes the scan exit 2. Real repositories, the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.rules.base import PatternTimeout, UserPattern
from tests import fakes as f
from tests.conftest import GitRepo, run_cli

# Exponential in the number of a's for a backtracking matcher (Fibonacci many ways to split the run); even the
# regex module, which defuses `(a+)+$`, walks every one of them.
SLOW = "x=(a|aa)+$"
BAIT = "x=" + "a" * 60 + "b"
# Without the time limit one search of BAIT would not end; with it, a scan ends in seconds. The subprocess timeout
# is what turns a hang into a failure, not a speed target.
NO_HANG = 90


def _unleak_rule(regex: str, rid: str = "slow") -> str:
    return f'[[rules]]\nid = "{rid}"\nregex = \'\'\'{regex}\'\'\'\nkeywords = ["x="]\n'


def _scan(repo: GitRepo, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    proc = run_cli("scan", *args, "--format", "json", cwd=repo.path, timeout=NO_HANG)
    return proc, json.loads(proc.stdout)


def test_a_custom_rule_that_backtracks_is_stopped_and_the_rest_is_scanned(repo: GitRepo) -> None:
    token = f.github_pat()
    repo.write(".unleak.toml", _unleak_rule(SLOW))
    repo.write("bait.txt", BAIT + "\n")
    repo.write("app.py", f'TOKEN = "{token}"\n')
    repo.commit("init")
    proc, doc = _scan(repo)
    assert proc.returncode == 1, proc.stderr  # the token is still found
    assert [x["rule_id"] for x in doc["findings"]] == ["UL001"]  # type: ignore[attr-defined]
    notes = [n for n in doc["notes"] if "rule slow was stopped" in n]  # type: ignore[attr-defined]
    assert len(notes) == 1 and "time limit" in notes[0]
    assert token not in proc.stdout + proc.stderr
    # the text report says it too, and --strict fails the scan
    text = run_cli("scan", "--strict", cwd=repo.path, timeout=NO_HANG)
    assert text.returncode == 2
    assert "rule slow was stopped" in text.stdout + text.stderr
    assert token not in text.stdout + text.stderr


def test_a_rule_that_only_matches_is_not_stopped(repo: GitRepo) -> None:
    # the same rule on text that does not make it backtrack finds what it should, with no note
    repo.write(".unleak.toml", _unleak_rule(r"x=(?P<secret>[A-Za-z0-9]{24})\b", rid="acme"))
    value = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24))
    repo.write("conf.txt", f"x={value}\n")
    repo.commit("init")
    proc, doc = _scan(repo, "--strict")
    assert proc.returncode == 1, proc.stderr
    assert [x["rule_id"] for x in doc["findings"]] == ["acme"]  # type: ignore[attr-defined]
    assert not [n for n in doc["notes"] if "stopped" in n]  # type: ignore[attr-defined]


def test_a_stopped_pattern_costs_one_time_limit_not_one_per_file(repo: GitRepo) -> None:
    # 400 bait files: scanned by forked workers. At a time limit per file this would take minutes; each worker stops
    # the pattern at its first timeout, and every file it then leaves unsearched is counted.
    repo.write(".unleak.toml", _unleak_rule(SLOW))
    for i in range(400):
        repo.write(f"bait/{i:03}.txt", BAIT + "\n")
    repo.commit("init")
    proc, doc = _scan(repo)
    assert proc.returncode == 0, proc.stderr
    (note,) = [n for n in doc["notes"] if "rule slow was stopped" in n]  # type: ignore[attr-defined]
    m = re.search(r"([\d,]+) searches of it cut short or not made", note)
    assert m is not None and int(m.group(1).replace(",", "")) == 400, note


def test_an_allowlist_regex_that_backtracks_hides_nothing(repo: GitRepo) -> None:
    # A global allowlist judged against every finding's line: stopped, it drops nothing, so the token is reported.
    token = f.github_pat()
    repo.write(".gitleaks.toml", f"[allowlist]\nregexTarget = \"line\"\nregexes = ['''{SLOW}''']\n")
    repo.write("app.py", f'TOKEN = "{token}"  # {BAIT}\n')
    repo.commit("init")
    proc, doc = _scan(repo)
    assert proc.returncode == 1, proc.stderr
    assert [x["rule_id"] for x in doc["findings"]] == ["UL001"]  # type: ignore[attr-defined]
    assert [n for n in doc["notes"] if "an allowlist regex was stopped" in n]  # type: ignore[attr-defined]
    assert token not in proc.stdout + proc.stderr


def test_a_rules_path_pattern_that_backtracks_is_stopped(repo: GitRepo) -> None:
    # the file's name is the bait: a gitleaks rule restricted to paths matching a backtracking pattern
    repo.write(".gitleaks.toml", "[[rules]]\nid = \"acme-cfg\"\nregex = '''acmecfg=([A-Za-z0-9]{20})'''\n"
               f"path = '''{SLOW}'''\n")
    repo.write(BAIT + ".cfg", "nothing here\n")
    repo.commit("init")
    proc, doc = _scan(repo, "--strict")
    assert proc.returncode == 2, proc.stderr
    assert [n for n in doc["notes"] if "rule acme-cfg's path was stopped" in n]  # type: ignore[attr-defined]


def test_a_history_rescan_from_the_cache_keeps_the_note(repo: GitRepo) -> None:
    # The commit that stopped the pattern is cached with what happened to it: the rescan, read from the scan cache
    # (or replayed whole), says the same, instead of passing the commit as checked.
    repo.write(".unleak.toml", _unleak_rule(SLOW))
    repo.write("bait.txt", BAIT + "\n")
    repo.commit("init")
    first = run_cli("scan", "--history", "--strict", cwd=repo.path, timeout=NO_HANG)
    again = run_cli("scan", "--history", "--strict", cwd=repo.path, timeout=NO_HANG)
    for proc in (first, again):
        assert proc.returncode == 2, proc.stderr
        assert "rule slow was stopped" in proc.stdout + proc.stderr


def test_a_pattern_that_does_not_compile_is_a_config_error(repo: GitRepo) -> None:
    repo.write(".unleak.toml", _unleak_rule("x=(a"))
    proc = run_cli("scan", cwd=repo.path)
    assert proc.returncode == 2
    assert "rules[slow].regex does not compile" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("pattern", [r"acme_[a-z0-9]{4}", r"(?P<secret>ab+)c", r"(?i)^key=(\w+)$", r"\bx\b|y"])
def test_a_user_pattern_finds_what_re_finds(pattern: str) -> None:
    rx, up = re.compile(pattern), UserPattern("t", pattern)
    for text in ("acme_ab12 ACME_ab12", "xabbbc abc ac", "key=Value1\nKEY=v2", "x y xy x", ""):
        for pos, end in ((0, len(text)), (1, max(len(text) - 1, 0))):
            assert [(m.span(), m.groups()) for m in rx.finditer(text, pos, end)] == \
                [(m.span(), m.groups()) for m in up.finditer(text, pos, end)]
            for how in ("search", "match", "fullmatch"):
                a, b = getattr(rx, how)(text, pos, end), getattr(up, how)(text, pos, end)
                assert (a and a.span()) == (b and b.span())
    assert up.groups == rx.groups and up.groupindex == dict(rx.groupindex)


def test_a_stopped_pattern_raises_at_once_and_names_itself_only() -> None:
    up = UserPattern("rule slow", SLOW)
    with pytest.raises(PatternTimeout) as first:
        up.search(BAIT)
    assert up.stopped and str(first.value) == "rule slow: a search ran past its time limit"
    with pytest.raises(PatternTimeout):  # no second time limit: it is not searched again
        list(up.finditer("x=aab"))


def test_loading_a_config_without_patterns_does_not_import_regex(tmp_path: Path) -> None:
    # the pre-commit path stays light: the regex module is loaded by configured patterns only
    code = ("import sys; from scanner.api import scan_text; scan_text('x = 1'); "
            "print('regex' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.strip() == "False"


def test_a_pattern_stopped_in_one_scan_runs_again_in_the_next(tmp_path: Path) -> None:
    # One process, two scans (the Action's second scan, a fleet worker's next repository): the stop lasts one scan.
    from scanner.api import scan
    from tests.conftest import make_repo
    from unleak.config import scan_request

    rule = _unleak_rule(r"x=(?P<secret>(?:[a-z]|[a-z0-9])+)$")  # backtracks on letters that end in "!"
    value = "q7rk2mz9vw4hx8tn3bpd"
    bait, clean = make_repo(tmp_path / "bait"), make_repo(tmp_path / "clean")
    bait.write(".unleak.toml", rule)
    bait.write("bait.txt", "x=" + "a" * 40 + "!\n")
    clean.write(".unleak.toml", rule)
    clean.write("conf.txt", f"x={value}\n")
    first = scan(scan_request(bait.path, ("files",), ())[0])
    assert first.stopped == ["rule slow"]
    second = scan(scan_request(clean.path, ("files",), ())[0])
    assert second.stopped == [] and [f.rule_id for f in second.findings] == ["slow"]
