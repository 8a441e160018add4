"""Exposure report on real repositories: secrets added then removed, only on a side branch, tagged, still in HEAD,
pushed to a local bare "remote" (so remote-tracking refs exist), and pasted into an agent transcript."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from scanner.api import ScanRequest
from scanner.errors import UsageError
from scanner.exposure.analysis import analyze
from scanner.exposure.model import Exposure, select
from scanner.finding import Confidence
from scanner.report.exposure import render
from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat, private_key_pem, slack_bot_token, stripe_live_key


@dataclass
class Story:
    """A repository with a known history of leaks. Commit shas by role, values by name."""

    repo: GitRepo
    remote: Path
    values: dict[str, str]  # removed, side, head
    shas: dict[str, str]


def build_story(repo: GitRepo, tmp_path: Path, head_secret: bool = True) -> Story:
    """
    main:  c1 (clean) ─ c2 (adds `removed` in config.py; tag v0.1; pushed) ─ c3 (removes it) ─ c4 (adds `head` in
           settings.py, pushed) [only when head_secret]
    side:  from c3 ─ s1 (adds `side` in side.py; never pushed)
    """
    remote = tmp_path / "remote.git"
    repo.git("init", "-q", "--bare", "-b", "main", str(remote))
    repo.git("remote", "add", "origin", str(remote))
    values = {"removed": github_pat(), "side": stripe_live_key(), "head": slack_bot_token()}
    shas: dict[str, str] = {}
    shas["c1"] = repo.commit("start", {"app.py": "import os\n\nprint('hello')\n", "README.md": "# demo\n"})
    shas["c2"] = repo.commit("add config", {"config.py": f'GITHUB_TOKEN = "{values["removed"]}"\nDEBUG = True\n'})
    repo.git("tag", "-a", "v0.1", "-m", "first release")
    repo.git("push", "-q", "origin", "main", "--tags")
    shas["c3"] = repo.commit("read token from env",
                             {"config.py": 'import os\nGITHUB_TOKEN = os.environ["GITHUB_TOKEN"]\nDEBUG = True\n'})
    repo.git("checkout", "-q", "-b", "side")
    shas["s1"] = repo.commit("side experiment", {"side.py": f'STRIPE = "{values["side"]}"\n'})
    repo.git("checkout", "-q", "main")
    if head_secret:
        shas["c4"] = repo.commit("settings", {"settings.py": f'SLACK = "{values["head"]}"\n'})
    else:
        shas["c4"] = repo.commit("docs", {"README.md": "# demo\n\nmore docs\n"})
    repo.git("push", "-q", "origin", "main")
    return Story(repo, remote, values, shas)


def _by_value(report_exposures: list[Exposure], story: Story) -> dict[str, Exposure]:
    out = {}
    for e in report_exposures:
        for name, v in story.values.items():
            if e.secret.reveal() == v:
                out[name] = e
    return out


def test_exposure_story(repo: GitRepo, tmp_path: Path) -> None:
    story = build_story(repo, tmp_path)
    report = analyze(repo.path)
    ex = _by_value(report.exposures, story)
    assert set(ex) == {"removed", "side", "head"}
    removed, side, head = ex["removed"], ex["side"], ex["head"]
    # added then removed: present only in c2's tree; history of main and side holds it; tagged; pushed
    assert removed.first.sha == story.shas["c2"] and removed.last.sha == story.shas["c2"]
    assert removed.commits == 1 and not removed.in_head and removed.tips == ("v0.1",)
    assert set(removed.branches) == {"main", "side"} and removed.tags == ("v0.1",)
    assert removed.pushed and "origin/main" in removed.remote_refs
    # only on a side branch, never pushed
    assert side.first.sha == story.shas["s1"] and side.branches == ("side",)
    assert not side.pushed and not side.in_head and side.tips == ("side",)
    assert side.tags == ()
    # still in HEAD and pushed
    assert head.in_head and head.pushed and head.first.sha == story.shas["c4"]
    assert set(head.tips) == {"main", "origin/main"}
    assert head.paths == ("settings.py",)
    # checklist: one entry per rule, each with the rule's revoke metadata
    assert {r.rule_id for r in report.rotation} == {e.rule_id for e in report.exposures}
    assert len(report.rotation) == 3
    assert all(r.revoke for r in report.rotation)


def test_secret_kept_across_later_commits(repo: GitRepo, tmp_path: Path) -> None:
    """A secret untouched by later commits is present in all of them: last = newest commit, count = all."""
    token = github_pat()
    repo.commit("one", {"a.py": f'T = "{token}"\n'})
    repo.commit("two", {"b.py": "x = 1\n"})
    last = repo.commit("three", {"a.py": f'T = "{token}"\nY = 2\n'})  # edits the file, keeps the secret line
    repo.git("mv", "a.py", "moved.py")
    moved = repo.commit("move it")
    (e,) = analyze(repo.path).exposures
    assert e.commits == 4 and e.in_head and e.last.sha == moved and last != moved
    assert e.tips == ("main",)


def test_moved_and_edited_file_still_counts(repo: GitRepo) -> None:
    token = github_pat()
    repo.commit("one", {"a.py": f'T = "{token}"\n'})
    (repo.path / "a.py").unlink()
    repo.commit("rename and edit", {"b.py": f'# header\nT = "{token}"\n'})
    (e,) = analyze(repo.path).exposures
    assert e.commits == 2 and e.in_head


def zipped(members: dict[str, str]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buf.getvalue()


def test_a_secret_inside_an_archive_is_followed_like_one_in_a_file(repo: GitRepo) -> None:
    """History reads archives; exposure opens the archive's versions, looks inside (the value is compressed, not
    in the blob's bytes) and takes the value from the member when the finding came from the cache."""
    repo.commit("one", {"a.py": "x = 1\n"})
    (repo.path / "drop.zip").write_bytes(zipped({"creds.env": f"GH={github_pat()}\n"}))
    added = repo.commit("zip")
    repo.commit("later", {"b.py": "y = 2\n"})
    for _ in range(2):  # the second reads the findings, without values, from the scan cache
        (e,) = analyze(repo.path).exposures
        assert (e.in_head, e.commits, e.first.sha, e.paths) == (True, 2, added, ("drop.zip!/creds.env",))
    (repo.path / "drop.zip").unlink()
    repo.commit("drop it")
    (e,) = analyze(repo.path).exposures
    assert not e.in_head and e.commits == 2 and e.branches == ("main",)


def test_clean_history(repo: GitRepo) -> None:
    repo.commit("one", {"a.py": "x = 1\n"})
    report = analyze(repo.path)
    assert report.exposures == [] and report.commits_scanned == 1


def test_agent_logs_match(repo: GitRepo, tmp_path: Path) -> None:
    story = build_story(repo, tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    # the value as a tool result, inside escaped JSON: no rule context around it
    (logs / "session.jsonl").write_text(json.dumps({"type": "tool_result", "content": "cat said: " +
                                                     story.values["side"] + " ok"}) + "\n")
    report = analyze(repo.path, agent_logs=[str(logs)])
    ex = _by_value(report.exposures, story)
    assert ex["side"].agent_logs == (str(logs / "session.jsonl"),)
    assert ex["removed"].agent_logs == () and report.agent_logs_scanned


@pytest.mark.parametrize(("prefix", "ok"), [("", True), ("abc", False), ("zzzzzzzz", False)])
def test_select(repo: GitRepo, tmp_path: Path, prefix: str, ok: bool) -> None:
    build_story(repo, tmp_path)
    report = analyze(repo.path)
    if prefix == "":
        assert len(select(report, [])) == 3
        fp = report.exposures[0].fingerprint
        assert select(report, [fp[:8]]) == [report.exposures[0]]
        return
    with pytest.raises(UsageError):
        select(report, [prefix])


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_render_never_shows_values(repo: GitRepo, tmp_path: Path, fmt: str) -> None:
    story = build_story(repo, tmp_path)
    report = analyze(repo.path)
    out = render(report, fmt)
    for v in story.values.values():
        assert v not in out
    shown = json.dumps(json.loads(out), ensure_ascii=False) if fmt == "json" else out
    for e in report.exposures:
        assert e.preview in shown and e.fingerprint[:8] in shown


@pytest.mark.parametrize(("args", "check"), [
    (["--json"], lambda out: json.loads(out)["exposures"]),
    (["--format", "markdown"], lambda out: "## Rotation checklist" in out),
    ([], lambda out: "rotation checklist" in out and "IN HEAD" in out and "PUSHED" in out),
])
def test_cli_exposure(repo: GitRepo, tmp_path: Path, args: list[str], check: Callable[[str], object]) -> None:
    story = build_story(repo, tmp_path)
    logs = tmp_path / "t.jsonl"
    logs.write_text(json.dumps({"text": story.values["removed"]}) + "\n")
    proc = run_cli("exposure", *args, "--agent-logs", str(logs), cwd=repo.path)
    assert proc.returncode == 1, proc.stderr
    assert check(proc.stdout)
    for v in story.values.values():
        assert v not in proc.stdout and v not in proc.stderr


def test_cli_exposure_clean_and_not_a_repo(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("one", {"a.py": "x = 1\n"})
    proc = run_cli("exposure", cwd=repo.path)
    assert proc.returncode == 0 and "no secrets in history" in proc.stdout
    plain = tmp_path / "plain"
    plain.mkdir()
    proc = run_cli("exposure", cwd=plain)
    assert proc.returncode == 2 and "not inside" in proc.stderr and "Traceback" not in proc.stderr


def test_agent_logs_default_locations(repo: GitRepo, tmp_path: Path, isolated_home: Path) -> None:
    """`--agent-logs` without a PATH reads the default transcript locations under $HOME."""
    story = build_story(repo, tmp_path)
    session = isolated_home / ".claude" / "projects" / "demo" / "s.jsonl"
    session.parent.mkdir(parents=True)
    session.write_text(json.dumps({"message": {"content": "export SLACK=" + story.values["head"]}}) + "\n")
    proc = run_cli("exposure", "--json", "--agent-logs", cwd=repo.path)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    seen = {e["paths"][0]: e["agent_logs"] for e in data["exposures"]}
    assert seen == {"config.py": [], "side.py": [], "settings.py": [str(session)]}
    assert data["agent_logs_scanned"] is True


def test_canary_never_in_any_channel(repo: GitRepo, tmp_path: Path, canary: str) -> None:
    repo.commit("leak", {"deploy.sh": f"export GH_TOKEN={canary}\n"})
    repo.commit("unleak", {"deploy.sh": "export GH_TOKEN=$GH_TOKEN\n"})
    log = tmp_path / "t.jsonl"
    log.write_text(json.dumps({"tool_output": canary}) + "\n")
    report_file = tmp_path / "report.md"
    runs = [run_cli("exposure", "--agent-logs", str(log), cwd=repo.path),
            run_cli("exposure", "--json", cwd=repo.path),
            run_cli("exposure", "--format", "markdown", "-o", str(report_file), cwd=repo.path)]
    for proc in runs:
        assert proc.returncode == 1, proc.stderr
        assert canary not in proc.stdout + proc.stderr
    assert "IN AGENT LOGS" in runs[0].stdout
    assert report_file.is_file() and canary not in report_file.read_text()
    report = analyze(repo.path)
    assert canary not in repr(report) and canary not in str(report.to_dict())


def test_empty_and_shallow(repo: GitRepo, tmp_path: Path) -> None:
    assert analyze(repo.path).exposures == []  # no commits at all
    token = github_pat()
    repo.commit("one", {"a.py": f'T = "{token}"\n'})
    for i in range(3):
        repo.commit(f"c{i}", {"b.py": f"x = {i}\n"})
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo.path}", str(shallow)], check=True)
    report = analyze(shallow)
    assert any("shallow" in n for n in report.notes)
    (e,) = report.exposures  # the boundary commit's tree still holds it: found as added there
    assert e.in_head and e.commits == 1


@pytest.mark.parametrize(("status", "listed"), [("false-positive", False), ("accepted-risk", True),
                                                ("rotated", True)])
def test_baseline_only_drops_false_positives(repo: GitRepo, status: str, listed: bool) -> None:
    """A baseline entry silences a finding in the tree; in history only a false positive is not an exposure."""
    token = github_pat()
    repo.commit("one", {"a.py": f'T = "{token}"\n'})
    assert run_cli("baseline", "create", cwd=repo.path).returncode == 0
    (fp,) = [e.fingerprint for e in analyze(repo.path).exposures]
    assert run_cli("baseline", "audit", "--mark", f"{fp[:10]}={status}", cwd=repo.path).returncode in (0, 1)
    repo.commit("baseline", {})
    proc = run_cli("exposure", "--json", cwd=repo.path)
    data = json.loads(proc.stdout)
    assert [e["fingerprint"] for e in data["exposures"]] == ([fp] if listed else [])
    assert proc.returncode == (1 if listed else 0)


def test_refs_agree_with_git_contains(repo: GitRepo, tmp_path: Path) -> None:
    """The bitset walk gives what `git branch -a --contains` / `git tag --contains` say for the introducing commit."""
    build_story(repo, tmp_path)
    for e in analyze(repo.path).exposures:
        branches = {b.strip("* ").strip() for b in repo.git("branch", "-a", "--contains", e.first.sha).splitlines()}
        tags = set(repo.git("tag", "--contains", e.first.sha).split())
        assert set(e.branches) | {"remotes/" + r for r in e.remote_refs} == branches
        assert set(e.tags) == tags


@pytest.mark.parametrize("n", [1, 3, 12, 40])  # below and above the Aho-Corasick threshold
def test_blob_matcher(n: int) -> None:
    from scanner.exposure.matcher import matcher

    values = [github_pat().encode() for _ in range(n - 1)] + [private_key_pem().encode()]
    match = matcher(values)
    assert match(b"nothing here") == 0
    for i, v in enumerate(values):
        assert match(b"x = '" + v + b"'\n") == 1 << i
    assert match(values[-1].replace(b"\n", b"\r\n")) == 1 << (n - 1)  # CRLF checkout of a key
    assert match(b"".join(values) + b"\xff\x00") == (1 << n) - 1
    assert match(values[0][:-1]) == 0  # a prefix is not the value


def test_many_secrets_in_history(repo: GitRepo) -> None:
    tokens = [github_pat() for _ in range(10)]
    for i, t in enumerate(tokens):
        repo.commit(f"c{i}", {f"m{i}.py": f'T = "{t}"\n'})
    repo.git("rm", "-q", "m3.py")
    repo.commit("drop m3")
    report = analyze(repo.path)
    assert len(report.exposures) == 10
    by_value = {e.secret.reveal(): e for e in report.exposures}
    assert [by_value[t].commits for t in tokens] == [11 - i for i in range(3)] + [7] + [11 - i for i in range(4, 10)]
    assert [by_value[t].in_head for t in tokens] == [i != 3 for i in range(10)]


def test_merges(repo: GitRepo) -> None:
    """A secret merged in from a branch is present in the merge and after; one added by the merge itself (an evil
    merge) is found too."""
    side_token, merge_token = github_pat(), github_pat()
    repo.commit("base", {"a.py": "x = 1\n"})
    repo.git("checkout", "-q", "-b", "feature")
    feat = repo.commit("feature", {"f.py": f'T = "{side_token}"\n'})
    repo.git("checkout", "-q", "main")
    repo.commit("main work", {"b.py": "y = 2\n"})
    repo.git("merge", "-q", "--no-ff", "--no-commit", "feature")
    repo.write("m.py", f'M = "{merge_token}"\n')
    repo.git("add", "m.py")
    repo.git("commit", "-q", "-m", "merge feature")
    merge = repo.git("rev-parse", "HEAD")
    repo.git("rm", "-q", "f.py")
    after = repo.commit("drop f.py")
    ex = {e.secret.reveal(): e for e in analyze(repo.path).exposures}
    side, evil = ex[side_token], ex[merge_token]
    assert side.first.sha == feat and side.last.sha == merge and side.commits == 2 and not side.in_head
    assert set(side.branches) == {"main", "feature"} and side.tips == ("feature",)
    assert evil.first.sha == merge and evil.last.sha == after and evil.in_head and evil.branches == ("main",)


def test_exposure_after_a_cached_history_scan(repo: GitRepo, tmp_path: Path) -> None:
    """A history scan may cache redacted findings (no values); exposure must still see every secret."""
    story = build_story(repo, tmp_path)
    assert run_cli("scan", "--history", cwd=repo.path).returncode == 1
    assert run_cli("scan", "--history", cwd=repo.path).returncode == 1
    assert len(analyze(repo.path).exposures) == len(story.values)


def test_value_next_to_invalid_utf8(repo: GitRepo) -> None:
    """Bytes that are not UTF-8 on the secret's line: the scan still finds it and exposure still reports it."""
    token = github_pat()
    (repo.path / "latin1.py").write_bytes(b"# caf\xe9\nT = '" + token.encode() + b"'\n")
    repo.commit("latin-1 file")
    (e,) = analyze(repo.path).exposures
    assert e.in_head and e.commits == 1


def _exposures(report: object) -> list[dict[str, object]]:
    return [e.to_dict() for e in report.exposures]  # type: ignore[attr-defined]


def test_exposure_from_the_scan_cache_equals_a_fresh_one(repo: GitRepo, tmp_path: Path) -> None:
    """Exposure reads findings through the scan cache (values read again from the introducing commits only); the
    report is the one a scan without any cache gives."""
    from scanner.api import ScanRequest

    build_story(repo, tmp_path)
    fresh = analyze(repo.path, ScanRequest(root=repo.path, cache=False))
    first = analyze(repo.path)  # fills the cache
    cached = analyze(repo.path)  # every commit from the cache
    assert any("read from the cache" in n for n in cached.notes)
    assert _exposures(fresh) == _exposures(first) == _exposures(cached)
    assert len(fresh.exposures) == 3


def test_presence_opens_only_blobs_where_a_secret_can_be(repo: GitRepo) -> None:
    from scanner.exposure.presence import Presence

    token = github_pat()
    repo.commit("secret", {"conf.py": f'T = "{token}"\n'})
    for i in range(30):
        repo.commit(f"work {i}", {f"src/m{i % 7}.py": f"x = {i}\n", "notes.txt": f"{i}\n"})
    repo.commit("edit conf", {"conf.py": f'T = "{token}"\nDEBUG = 1\n'})
    values = [token.encode()]
    every = Presence(repo.path, values)
    first = repo.git("rev-list", "--max-parents=0", "HEAD")
    narrow = Presence(repo.path, values, added={(first, "conf.py")})
    assert narrow.present == every.present and narrow.reach == every.reach
    assert every.opened > 30 and narrow.opened <= 4


def test_exposure_counts_secrets_and_says_how_scan_counts_findings(repo: GitRepo) -> None:
    token = github_pat()
    repo.commit("one", {"a.py": f'T = "{token}"\n'})
    repo.commit("two", {"b.py": f'T = "{token}"\n'})
    scan_doc = json.loads(run_cli("scan", "--history", "--format", "json", cwd=repo.path).stdout)
    proc = run_cli("exposure", "--json", cwd=repo.path)
    doc = json.loads(proc.stdout)
    assert len(doc["exposures"]) == 1 and doc["findings"] == len(scan_doc["findings"]) == 2
    text = run_cli("exposure", cwd=repo.path).stdout
    assert "1 secret(s) exposed" in text and "counts 2 finding(s), one per commit, path and line" in text


def test_exposure_survives_an_unreadable_object(repo: GitRepo) -> None:
    keep, lost = github_pat(), github_pat()
    repo.commit("one", {"keep.py": f'T = "{keep}"\n'})
    repo.commit("two", {"lost.py": f'T = "{lost}"\n'})
    oid = repo.git("rev-parse", "HEAD:lost.py")
    (repo.path / ".git" / "objects" / oid[:2] / oid[2:]).unlink()
    report = analyze(repo.path)
    assert [e.secret.reveal() for e in report.exposures] == [keep]
    assert report.skipped == 1 and any("could not be read" in n for n in report.notes)


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Number of objects each ``git cat-file`` stream of the exposure module was asked for."""
    from scanner import git

    asked: list[int] = []
    real = git.cat_file_stream

    def counting(repo: Path, names: list[str]):  # type: ignore[no-untyped-def]
        asked.append(len(names))
        return real(repo, names)

    monkeypatch.setattr(git, "cat_file_stream", counting)
    return asked


def test_second_exposure_reads_only_new_file_versions(repo: GitRepo, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """What each file version holds is kept (fingerprints per object id, no value) under .git/unleak, so a second
    exposure reads no file version again; a secret committed since makes it check every version again."""
    story = build_story(repo, tmp_path)
    for i in range(5):
        repo.commit(f"work {i}", {"config.py": f"import os\nGITHUB_TOKEN = os.environ['GITHUB_TOKEN']\nn = {i}\n"})
    asked = _count_reads(monkeypatch)
    first = analyze(repo.path)
    values_phase = len(first.exposures)  # one file version per secret, for its value
    assert sum(asked) > values_phase
    cache = repo.path / ".git" / "unleak" / "exposure-cache" / "blobs"
    assert cache.is_file() and cache.stat().st_mode & 0o077 == 0
    for v in story.values.values():
        assert v not in cache.read_text()
    asked.clear()
    second = analyze(repo.path)
    assert sum(asked) == values_phase  # values only: no presence read
    assert _exposures(second) == _exposures(first)
    new = stripe_live_key()
    repo.commit("another", {"late.py": f'KEY = "{new}"\n'})
    asked.clear()
    third = analyze(repo.path)
    assert sum(asked) > values_phase + 1
    fresh = analyze(repo.path, ScanRequest(root=repo.path, cache=False))
    assert _exposures(third) == _exposures(fresh) and len(third.exposures) == 4


def test_values_are_cut_from_file_versions_not_rescanned(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a cached history scan, exposure takes each value from the file version and line where it was found
    (checked against the fingerprint), a multi-line private key included, without scanning commits again."""
    from scanner import api

    token, key = github_pat(), private_key_pem()
    repo.commit("one", {"a.py": "x = 1\n"})
    repo.commit("leak", {"b.py": f'# config\nT = "{token}"\n', "id_rsa": key + "\n"})
    assert run_cli("scan", "--history", cwd=repo.path).returncode == 1  # fills the scan cache
    scans: list[tuple[str, ...]] = []
    real = api.scan

    def counting(req, progress=None):  # type: ignore[no-untyped-def]
        scans.append(req.revs)
        return real(req, progress=progress)

    monkeypatch.setattr(api, "scan", counting)
    report = analyze(repo.path)
    assert len(scans) == 1  # the cached history scan only
    assert {e.secret.reveal() for e in report.exposures} == {token, key}
    assert all(e.in_head and e.commits == 1 for e in report.exposures)


@pytest.mark.parametrize(("line", "column", "end"), [(9, 1, 5), (2, 40, 90), (2, 1, 3)])
def test_value_cut_needs_the_fingerprint(line: int, column: int, end: int) -> None:
    """A cut that does not hash to the fingerprint (wrong line, wrong columns) gives no value."""
    from scanner.exposure.values import value_at
    from scanner.finding import CommitInfo, Finding, Secret, fingerprint

    token = github_pat()
    text = f'# config\nT = "{token}"\n'
    fp = fingerprint("UL001", token)
    good = Finding(rule_id="UL001", title="t", confidence=Confidence.HIGH, path="b.py", line=2, column=6,
                   end_column=6 + len(token), fingerprint=fp, preview="p", source="commit",
                   commit=CommitInfo(sha="0" * 40, author="", email="", date=""), secret=Secret(""))
    assert value_at(text, good) == token
    bad = dataclasses.replace(good, line=line, column=column, end_column=end)
    assert value_at(text, bad) is None


def test_cat_file_stream(repo: GitRepo) -> None:
    from scanner import git

    repo.commit("one", {"a.txt": "alpha\n", "b.txt": "beta\n" * 1000})
    names = ["HEAD:a.txt", "0" * 40, "HEAD:b.txt", "HEAD:no\nsuch", "HEAD:missing.txt", "HEAD:a.txt"]
    got = list(git.cat_file_stream(repo.path, names))
    assert got == [("blob", b"alpha\n"), None, ("blob", b"beta\n" * 1000), None, None, ("blob", b"alpha\n")]


def test_values_in_messages_are_read_back_from_the_messages_without_a_rescan(repo: GitRepo,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With the scan cache warm, a secret's value is cut out of where it was found; for a commit or tag message
    that is the message itself, so exposure scans nothing again (the cached scan is its only scan)."""
    import scanner.api

    repo.commit(f"deploy\n\ntoken: {github_pat()}", {"a.py": "x = 1\n"})
    repo.commit("c2", {"b.py": f'TOKEN = "{github_pat()}"\n'})
    repo.git("tag", "-a", "v1", "-m", f"release\n\nslack: {slack_bot_token()}")
    first = analyze(repo.path)
    assert len(first.exposures) == 3
    calls: list[ScanRequest] = []
    real = scanner.api.scan

    def counting(req: ScanRequest, *a: object, **k: object) -> object:
        calls.append(req)
        return real(req, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(scanner.api, "scan", counting)
    again = analyze(repo.path)
    assert len(calls) == 1 and calls[0].cache
    assert [(e.fingerprint, e.paths) for e in again.exposures] == [(e.fingerprint, e.paths) for e in first.exposures]
