"""`unleak exposure --html FILE`: one self-contained page, loaded in a real headless Chromium. Rows, timelines and
refs render, the table sorts, repository-chosen names (an author, a branch) stay text, nothing is fetched, and no
secret value is anywhere on the page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner.exposure.analysis import analyze
from scanner.report.exposure_html import render_html
from tests.browser import CDP, Tab, headless_chromium
from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat
from tests.scanner.test_exposure import build_story

HOSTILE_AUTHOR = 'Eve" autofocus onfocus="document.title=\'pwned\'" x="&amp;'
HOSTILE_BRANCH = "fix<b>bold</b>"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CDP]:
    yield from headless_chromium(tmp_path_factory, "the exposure page")


def _open(browser: CDP, page: Path) -> tuple[Tab, list[dict[str, Any]]]:
    tab = Tab(browser)
    browser.send("Network.enable", session=tab.session)
    tab.goto(page.as_uri())
    requests = [e for e in browser.events if e.get("method") == "Network.requestWillBeSent"
                and e.get("sessionId") == tab.session]
    return tab, requests


def _rows(tab: Tab) -> list[list[str]]:
    got = tab.eval("Array.from(document.querySelectorAll('#secrets tbody tr'))"
                   ".map(r => Array.from(r.cells).map(c => c.innerText))")
    assert isinstance(got, list)
    return got


def test_exposure_page_in_chromium(repo: GitRepo, tmp_path: Path, browser: CDP, canary: str) -> None:
    story = build_story(repo, tmp_path)
    # A secret whose introducing commit has an author name written as attribute injection (git keeps no angle
    # brackets in names), on a branch whose name is HTML.
    repo.git("checkout", "-q", "-b", HOSTILE_BRANCH)
    repo.write("deploy.sh", f"export GH_TOKEN={canary}\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "deploy", "--author", f"{HOSTILE_AUTHOR} <evil@example.com>")
    repo.git("checkout", "-q", "main")
    page = tmp_path / "exposure.html"
    proc = run_cli("exposure", "--html", str(page), cwd=repo.path)
    assert proc.returncode == 1, proc.stderr
    assert f"wrote {page}: 4 secrets" in proc.stderr
    source = page.read_text(encoding="utf-8")
    for value in [*story.values.values(), canary]:
        assert value not in source and value not in proc.stdout + proc.stderr
    assert "Content-Security-Policy" in source and "default-src 'none'" in source

    tab, requests = _open(browser, page)
    assert [r["params"]["request"]["url"] for r in requests] == [page.as_uri()]  # the page itself, nothing else
    report = analyze(repo.path)
    rows = _rows(tab)
    assert len(rows) == 4
    assert {r[0] for r in rows} == {e.preview for e in report.exposures}
    by_preview = {e.preview: e for e in report.exposures}
    for r in rows:
        e = by_preview[r[0]]
        assert r[4] == str(e.commits) and r[5] == ("yes" if e.in_head else "no")
        assert r[6] == ("yes" if e.pushed else "no") and r[7] == str(len(e.branches))
    # one life per secret, with its timeline bar and its refs
    assert tab.eval("document.querySelectorAll('section.secret').length") == 4
    assert tab.eval("document.querySelectorAll('section.secret .track .span').length") == 4
    text = tab.text()
    assert "removed from HEAD" in text and "still in HEAD" in text and "Rotation checklist" in text
    for value in [*story.values.values(), canary]:
        assert value not in text
    # hostile names are text: no image, no title change, the branch shown as written
    assert tab.eval("document.images.length") == 0 and tab.eval("document.querySelectorAll('b').length") == 0
    assert tab.eval("document.title") != "pwned"
    author = repo.git("log", "-1", "--format=%an", HOSTILE_BRANCH)  # as git keeps it (it trims some punctuation)
    assert 'onfocus="document.title' in author and author in text and HOSTILE_BRANCH in text


def test_exposure_page_sorts(repo: GitRepo, tmp_path: Path, browser: CDP) -> None:
    tokens = [github_pat() for _ in range(4)]
    for i, t in enumerate(tokens):
        repo.commit(f"c{i}", {f"m{i}.py": f'T = "{t}"\n'})
    repo.git("rm", "-q", "m1.py")
    repo.commit("drop m1")
    page = tmp_path / "p.html"
    page.write_text(render_html(analyze(repo.path)), encoding="utf-8")
    tab, _ = _open(browser, page)
    header = "document.querySelectorAll('#secrets thead th')[4]"  # Commits
    tab.eval(f"{header}.click()")
    up = [int(r[4]) for r in _rows(tab)]
    tab.eval(f"{header}.click()")
    down = [int(r[4]) for r in _rows(tab)]
    assert up == sorted(up) and down == sorted(up, reverse=True) and len(set(up)) > 1
    assert tab.eval(f"{header}.getAttribute('aria-sort')") == "descending"


def test_empty_history_page(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("one", {"a.py": "x = 1\n"})
    out = render_html(analyze(repo.path))
    assert "No secrets in history (1 commits scanned)" in out and 'id="secrets"' not in out
    json.dumps(out)  # plain text, no bytes
