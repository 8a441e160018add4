"""History purge on real repositories with real git-filter-repo: the plan file, refusals, the rewrite on a fresh
mirror, the proof (including proofs that must fail), and pushing the result to a local bare "remote"."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from remediate import purge, purge_proof, purge_run
from scanner import git
from scanner.exposure.analysis import analyze
from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat
from tests.scanner.test_exposure import Story, build_story
from tests.unleak.test_masking import fake_pem

needs_filter_repo = pytest.mark.skipif(purge.find_filter_repo() is None, reason="git-filter-repo not installed")


def _all_output(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def _assert_no_values(text: str, story: Story) -> None:
    for name, v in story.values.items():
        assert v not in text, f"value {name} leaked"


def _refs(repo: GitRepo) -> str:
    return repo.git("for-each-ref", "--format=%(refname) %(objectname)")


def test_purge_plan_writes_private_file_inside_git_dir(repo: GitRepo, tmp_path: Path) -> None:
    story = build_story(repo, tmp_path)
    proc = run_cli("purge-plan", cwd=repo.path)
    assert proc.returncode == 0, proc.stderr
    _assert_no_values(_all_output(proc), story)
    file = repo.path / ".git" / "unleak" / purge.REPLACEMENTS_NAME
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    lines = file.read_bytes().splitlines()
    assert len(lines) == 3 and all(line.startswith(b"literal:") and b"==>UNLEAK-REDACTED-" in line for line in lines)
    assert {line[len(b"literal:"):line.index(b"==>")].decode() for line in lines} == set(story.values.values())
    assert repo.git("status", "--porcelain", "--ignored") == ""  # nothing landed in the work tree
    out = proc.stdout
    for needle in ("Rotate every selected secret FIRST", "pull-request refs", "must re-clone", "filter-repo",
                   "--replace-text", "git clone --mirror", "Still in the current tree"):
        assert needle in out
    assert str(file) in out


def test_purge_plan_selects_by_fingerprint_prefix(repo: GitRepo, tmp_path: Path) -> None:
    story = build_story(repo, tmp_path)
    side = next(e for e in analyze(repo.path).exposures if e.secret.reveal() == story.values["side"])
    proc = run_cli("purge-plan", "--fingerprint", side.fingerprint[:8], cwd=repo.path)
    assert proc.returncode == 0, proc.stderr
    data = (repo.path / ".git" / "unleak" / purge.REPLACEMENTS_NAME).read_bytes()
    assert story.values["side"].encode() in data and story.values["removed"].encode() not in data
    bad = run_cli("purge-plan", "--fingerprint", "ffffffffff", cwd=repo.path)
    assert bad.returncode == 2 and "matches no secret" in bad.stderr


@needs_filter_repo
@pytest.mark.parametrize("dirname", ["repo", "it's my repo"])  # printed commands must survive shell quoting
def test_purge_execute_end_to_end_and_push(repo: GitRepo, tmp_path: Path, dirname: str) -> None:
    if dirname != "repo":
        repo = GitRepo(tmp_path / dirname)
        repo.path.mkdir()
        repo.git("init", "-q", "-b", "main")
    story = build_story(repo, tmp_path, head_secret=False)
    before = _refs(repo)
    proc = run_cli("purge", "--execute", cwd=repo.path)
    assert proc.returncode == 0, proc.stderr
    out = _all_output(proc)
    _assert_no_values(out, story)
    assert "proof:" in out and "PROOF FAILED" not in out
    assert "rewrote 5 commit(s)" in out and "2 file version(s)" in out
    # the working clone is untouched and the values file is gone
    assert _refs(repo) == before
    assert not (repo.path / ".git" / "unleak" / purge.REPLACEMENTS_NAME).exists()
    # run the printed push instructions exactly as shown
    lines = proc.stdout.split("to publish the rewritten history:\n", 1)[1].splitlines()
    script = "set -e\n" + "\n".join(line.strip() for line in lines if line.startswith("  "))
    push = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert push.returncode == 0, push.stderr
    _assert_no_values(push.stdout + push.stderr, story)
    fresh = GitRepo(tmp_path / "fresh")
    subprocess.run(["git", "clone", "-q", str(story.remote), str(fresh.path)], check=True)
    again = run_cli("exposure", "--json", cwd=fresh.path)
    assert again.returncode == 0 and '"exposures": []' in again.stdout, again.stdout
    assert "UNLEAK-REDACTED-" in fresh.git("show", "v0.1:config.py")
    # every other line and every message survived
    assert fresh.git("show", "v0.1:config.py").endswith("DEBUG = True")
    assert fresh.git("log", "--format=%s", "main") == repo.git("log", "--format=%s", "main")
    # the side branch was never pushed, so it is not pushed now either (it is in the mirror, rewritten)
    assert "side" not in fresh.git("branch", "-a")


@needs_filter_repo
def test_purge_only_selected(repo: GitRepo, tmp_path: Path) -> None:
    story = build_story(repo, tmp_path, head_secret=False)
    side = next(e for e in analyze(repo.path).exposures if e.secret.reveal() == story.values["side"])
    work = tmp_path / "work"
    res = purge_run.execute(repo.path, [side.fingerprint], work)
    assert res.proof.ok, res.proof.problems
    assert res.mirror == work.resolve() / "repo.git"
    blobs = git.run(["log", "--all", "-p", "--format=%H"], res.mirror)
    assert story.values["side"] not in blobs and story.values["removed"] in blobs
    assert "UNLEAK-REDACTED-" + side.fingerprint[:12] in git.run(["show", "side:side.py"], res.mirror)


@needs_filter_repo
def test_purge_multiline_private_key_with_crlf(repo: GitRepo) -> None:
    key = fake_pem().replace("FAKE TEST KEY", "RSA PRIVATE KEY")
    (repo.path / "id_rsa").write_bytes(key.replace("\n", "\r\n").encode())
    repo.commit("oops", {"notes.txt": "keep me\r\n"})
    repo.commit("remove key")  # nothing staged yet: an empty commit keeps the key in HEAD
    (repo.path / "id_rsa").unlink()
    repo.commit("really remove key")
    report = analyze(repo.path)
    (e,) = report.exposures
    assert e.rule_id == "UL100" and e.commits == 2 and not e.in_head
    res = purge_run.execute(repo.path, [], None)
    assert res.proof.ok, res.proof.problems
    assert res.proof.blobs_changed == 1
    body = key.splitlines()[1]
    assert body not in git.run(["log", "--all", "-p"], res.mirror)


@pytest.mark.parametrize("case", ["no-filter-repo-on-path", "env-points-nowhere", "dirty", "in-head", "clean"])
def test_purge_refuses_bad_input(repo: GitRepo, tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    story = build_story(repo, tmp_path, head_secret=(case == "in-head"))
    env: dict[str, str] = {}
    if case == "no-filter-repo-on-path":
        git_dir = str(Path(shutil.which("git") or "/usr/bin/git").parent)
        assert not (Path(git_dir) / "git-filter-repo").exists()
        env = {"PATH": git_dir}
        monkeypatch.delenv(purge.FILTER_REPO_ENV, raising=False)  # restored after the test
    elif case == "env-points-nowhere":
        env = {purge.FILTER_REPO_ENV: str(tmp_path / "no-such-git-filter-repo")}
    elif case == "dirty":
        repo.write("app.py", "print('edited')\n")
    elif case == "clean":
        other = GitRepo(tmp_path / "clean")
        other.path.mkdir()
        other.git("init", "-q", "-b", "main")
        other.commit("one", {"a.py": "x = 1\n"})
        proc = run_cli("purge", "--execute", cwd=other.path, env=env)
        assert proc.returncode == 2 and "no secrets to purge" in proc.stderr
        return
    proc = run_cli("purge", "--execute", cwd=repo.path, env=env)
    assert proc.returncode == 2, proc.stderr
    _assert_no_values(_all_output(proc), story)
    assert "Traceback" not in proc.stderr
    expected = {"no-filter-repo-on-path": "git-filter-repo is not installed",
                "env-points-nowhere": "git-filter-repo is not installed",
                "dirty": "uncommitted changes", "in-head": "still in HEAD"}[case]
    assert expected in proc.stderr
    assert not list((repo.path / ".git").glob("unleak/mirror-*"))  # nothing was cloned
    assert not (repo.path / ".git" / "unleak" / purge.REPLACEMENTS_NAME).exists()


def test_purge_without_execute_changes_nothing(repo: GitRepo, tmp_path: Path) -> None:
    story = build_story(repo, tmp_path, head_secret=False)
    before = _refs(repo)
    proc = run_cli("purge", cwd=repo.path)
    assert proc.returncode == 1 and "--execute" in proc.stderr
    _assert_no_values(_all_output(proc), story)
    assert _refs(repo) == before and not list((repo.path / ".git").glob("unleak/mirror-*"))


def _rewrite(repo: GitRepo, dest: Path, expressions: bytes) -> tuple[Path, set[str]]:
    """A mirror rewritten by git-filter-repo with ``expressions`` (the steps `purge --execute` takes), and the
    original's refs as they are named in the mirror."""
    dest.mkdir()
    mirror = dest / "m.git"
    git.clone_mirror(repo.path, mirror)
    git.run(["config", "--remove-section", "remote.origin"], mirror)
    git.move_refs(mirror, "refs/remotes/", purge.REMOTES_NS)
    refs = {purge.REMOTES_NS + n[len("refs/remotes/"):] if n.startswith("refs/remotes/") else n
            for n, _ in git.ref_targets(repo.path, ("refs/",))}
    file = dest / "expr.txt"
    file.write_bytes(expressions)
    cmd = purge.find_filter_repo()
    assert cmd is not None
    subprocess.run([*cmd, "--force", "--replace-text", str(file), "--replace-message", str(file),
                    *purge.FILTER_REPO_FLAGS], cwd=mirror, check=True, capture_output=True)
    return mirror, refs


@needs_filter_repo
@pytest.mark.parametrize(("extra", "problem"), [
    (b"", None),
    (b"literal:DEBUG = True==>DEBUG = False\n", "content differs beyond the replaced values"),
    (b"literal:read token==>fetch token\n", "message differs beyond the replaced values"),
    (b"literal:first release==>1st release\n", "v0.1: tag message differs beyond the replaced values"),
])
def test_proof_catches_collateral_changes(repo: GitRepo, tmp_path: Path, extra: bytes, problem: str | None) -> None:
    build_story(repo, tmp_path, head_secret=False)
    p = purge.plan(repo.path, [])
    mirror, refs = _rewrite(repo, tmp_path / "rw", p.replacements_file.read_bytes() + extra)
    proof = purge_proof.prove(repo.path, mirror, p.reps, {r.fingerprint for r in p.reps}, refs)
    if problem is None:
        assert proof.ok, proof.problems
        assert proof.commits == 5 and proof.blobs_changed == 2
    else:
        assert any(problem in x for x in proof.problems), proof.problems


@needs_filter_repo
def test_proof_catches_value_left_behind(repo: GitRepo, tmp_path: Path) -> None:
    story = build_story(repo, tmp_path, head_secret=False)
    p = purge.plan(repo.path, [])
    # the rewrite "forgets" one value; the proof is told it was purged
    kept = b"".join(r.expression() + b"\n" for r in p.reps if r.value != story.values["removed"].encode())
    mirror, refs = _rewrite(repo, tmp_path / "rw", kept)
    proof = purge_proof.prove(repo.path, mirror, p.reps, {r.fingerprint for r in p.reps}, refs)
    assert any("still hold a purged value" in x for x in proof.problems), proof.problems
    assert any("history scan of the mirror still finds 1" in x for x in proof.problems), proof.problems
    assert all(story.values["removed"] not in x for x in proof.problems)


def _archived_secret(repo: GitRepo) -> purge.PurgePlan:
    from tests.scanner.test_exposure import zipped

    repo.commit("one", {"a.py": "x = 1\n"})
    (repo.path / "drop.zip").write_bytes(zipped({"creds.env": f"GH={github_pat()}\n"}))
    repo.commit("zip")
    return purge.plan(repo.path, [])


def test_a_value_inside_an_archive_is_named_in_the_warnings(repo: GitRepo) -> None:
    """Text replacement cannot reach a value in a compressed member: the plan says so."""
    p = _archived_secret(repo)
    assert any(w.startswith("Inside an archive:") and "drop.zip!/creds.env" in w for w in p.warnings)


@needs_filter_repo
def test_proof_fails_when_a_value_inside_an_archive_is_left(repo: GitRepo, tmp_path: Path) -> None:
    """When the rewrite runs anyway, the proof's history scan of the mirror reads the archive and still finds it."""
    p = _archived_secret(repo)
    mirror, refs = _rewrite(repo, tmp_path / "rw", p.replacements_file.read_bytes())
    proof = purge_proof.prove(repo.path, mirror, p.reps, {r.fingerprint for r in p.reps}, refs)
    assert any("history scan of the mirror still finds 1" in x for x in proof.problems), proof.problems


def test_replacement_expressions() -> None:
    one = purge.Replacement("a" * 20, b"tok==>en", b"R1", regex=False)
    multi = purge.Replacement("b" * 20, b"line1\nline.2", b"R2", regex=True)
    assert one.expression() == b"literal:tok==>en==>R1"  # git-filter-repo splits on the LAST ==>
    assert multi.expression() == b"regex:line1\\r?\\nline\\.2==>R2"
    assert purge.apply([one, multi], b"x tok==>en line1\r\nline.2 line1\nline.2 line1\nlineX2") == \
        b"x R1 R2 R2 line1\nlineX2"


@needs_filter_repo
def test_canary_never_in_any_purge_channel(repo: GitRepo, canary: str) -> None:
    repo.commit("leak", {"deploy.sh": f"export GH_TOKEN={canary}\n", "keep.txt": "unchanged\n"})
    repo.commit("fix", {"deploy.sh": "export GH_TOKEN=$GH_TOKEN\n"})
    plan_proc = run_cli("purge-plan", cwd=repo.path)
    dry = run_cli("purge", cwd=repo.path)
    run = run_cli("purge", "--execute", cwd=repo.path)
    assert plan_proc.returncode == 0 and dry.returncode == 1 and run.returncode == 0, run.stderr
    for proc in (plan_proc, dry, run):
        assert canary not in proc.stdout + proc.stderr
    # nothing the purge leaves behind holds the value: mirror metadata, refs, config, filter-repo's own files
    (mirror_dir,) = (repo.path / ".git" / "unleak").glob("mirror-*")
    for f in mirror_dir.rglob("*"):
        if f.is_file() and "objects" not in f.parts:
            assert canary.encode() not in f.read_bytes(), f
    assert not (repo.path / ".git" / "unleak" / purge.REPLACEMENTS_NAME).exists()


def test_purge_refuses_shallow_clone(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("one", {"a.py": f'T = "{fake_pem()}"\n'})
    repo.commit("two", {"a.py": "T = None\n"})
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo.path}", str(shallow)], check=True)
    proc = run_cli("purge", "--execute", cwd=shallow)
    if purge.find_filter_repo() is None:
        assert proc.returncode == 2 and "not installed" in proc.stderr
    else:
        assert proc.returncode == 2 and "shallow" in proc.stderr, proc.stderr


@needs_filter_repo
def test_proof_notes_headers_fast_export_cannot_carry(repo: GitRepo) -> None:
    """A commit with a tool-specific header (as GitButler writes) loses it in any rewrite: a note, not a failure."""
    from tests.fakes import github_pat

    secret = github_pat()
    repo.commit("add", {"a.py": f'T = "{secret}"\n'})
    repo.commit("remove", {"a.py": "T = None\n"})
    raw = repo.git("cat-file", "commit", "HEAD")
    head, _, msg = raw.partition("\n\n")
    custom = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=repo.path, check=True,
                            input=f"{head}\nx-tool-change-id 1234\n\n{msg}\n", capture_output=True, text=True)
    repo.git("update-ref", "refs/heads/main", custom.stdout.strip())
    res = purge_run.execute(repo.path, [])
    assert res.proof.ok, res.proof.problems
    assert any("'x-tool-change-id' header" in n for n in res.proof.notes)
    assert secret not in git.run(["log", "--all", "-p"], res.mirror)


@pytest.mark.parametrize("args", [["purge-plan"], ["purge"], ["purge", "--execute"]])
def test_purge_outside_a_repository(tmp_path: Path, args: list[str]) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    proc = run_cli(*args, cwd=plain)
    assert proc.returncode == 2 and "not inside" in proc.stderr and "Traceback" not in proc.stderr


def test_replacements_file_is_private_even_with_open_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        target = tmp_path / "r.txt"
        purge.write_replacements(target, [purge.Replacement("a" * 20, b"value", b"R", regex=False)])
        purge.write_replacements(target, [purge.Replacement("a" * 20, b"value2", b"R", regex=False)])  # replace
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == b"literal:value2==>R\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]  # no temp file left behind


@needs_filter_repo
@pytest.mark.parametrize(("where", "message"), [("inside", "inside the work tree"), ("taken", "already exists")])
def test_purge_bad_workdir_is_refused(repo: GitRepo, tmp_path: Path, where: str, message: str) -> None:
    build_story(repo, tmp_path, head_secret=False)
    workdir = repo.path / "scratch" if where == "inside" else tmp_path / "work"
    if where == "taken":
        (workdir / "repo.git").mkdir(parents=True)
    proc = run_cli("purge", "--execute", "--workdir", "scratch" if where == "inside" else str(workdir), cwd=repo.path)
    assert proc.returncode == 2 and message in proc.stderr
    if where == "inside":
        assert not workdir.exists()
    else:
        assert list(workdir.iterdir()) == [workdir / "repo.git"] and not any((workdir / "repo.git").iterdir())
    assert not (repo.path / ".git" / "unleak" / purge.REPLACEMENTS_NAME).exists()


@pytest.mark.parametrize("quoted", ["value", "line", "pattern"])
def test_filter_repo_failure_message_never_quotes_a_value(tmp_path: Path, quoted: str) -> None:
    """git-filter-repo's last stderr line is shown on failure, unless it quotes any piece of a purged value."""
    import sys

    reps = [purge.Replacement("a" * 20, b"tok-one-line-value", b"R1", regex=False),
            purge.Replacement("b" * 20, b"first-line-of-key\nsecond_line_of_key", b"R2", regex=True)]
    said = {"value": "tok-one-line-value", "line": "second_line_of_key",
            "pattern": reps[1].pattern.decode()}[quoted]
    file = tmp_path / "r.txt"
    purge.write_replacements(file, reps)
    p = purge.PurgePlan(root=tmp_path, targets=[], replacements_file=file, mirror=tmp_path, commands=[],
                        warnings=[], reps=reps)
    # a stand-in for git-filter-repo that fails quoting part of its input (read from the file, not argv)
    script = (f"import sys; data = open({str(file)!r}).read(); i = data.index({said!r}); "
              f"sys.stderr.write('error near ' + data[i:i + {len(said)}] + '\\n'); sys.exit(1)")
    with pytest.raises(purge.PurgeError) as err:
        purge_run._run_filter_repo([sys.executable, "-c", script], tmp_path, p)
    assert "message withheld" in str(err.value)
    for r in reps:
        for piece in (r.value.decode(), *r.value.decode().splitlines(), r.pattern.decode()):
            assert piece not in str(err.value)
    assert "tok-one-line-value" not in repr(reps) and "second_line" not in repr(p)


# Repository-local git variables (`git rev-parse --local-env-vars`) as git hooks, `git rebase -x`, IDEs and CI
# wrappers set them: they must never redirect what unleak clones, rewrites or reads.
_LOCAL_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")


@needs_filter_repo
@pytest.mark.parametrize("var", [*_LOCAL_VARS, "all"])
def test_purge_never_rewrites_the_users_clone_under_git_variables(repo: GitRepo, tmp_path: Path, var: str) -> None:
    story = build_story(repo, tmp_path, head_secret=False)
    gitdir = repo.path / ".git"
    values = {"GIT_DIR": str(gitdir), "GIT_WORK_TREE": str(repo.path), "GIT_INDEX_FILE": str(gitdir / "index"),
              "GIT_OBJECT_DIRECTORY": str(gitdir / "objects")}
    env = values if var == "all" else {var: values[var]}
    before = _refs(repo)
    remotes = repo.git("remote", "-v")
    objects = repo.git("count-objects", "-v")
    proc = run_cli("purge", "--execute", cwd=repo.path, env=env)
    out = _all_output(proc)
    _assert_no_values(out, story)
    assert proc.returncode == 0, out
    assert "PROOF FAILED" not in out and "rewrote 5 commit(s)" in out
    # the user's clone: same refs, same remote, same objects, and still holds its (unpurged) history
    assert _refs(repo) == before
    assert repo.git("remote", "-v") == remotes
    assert repo.git("count-objects", "-v") == objects
    assert not (gitdir / "filter-repo").exists()
    assert story.values["removed"] in repo.git("show", f"{story.shas['c2']}:config.py")


def test_rewrite_refuses_any_repository_but_the_new_mirror(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("one", {"a.py": "x = 1\n"})
    mirror = (tmp_path / "m.git").resolve()
    git.clone_mirror(repo.path, mirror)
    git.run(["config", purge_run.MIRROR_MARK_KEY, "right"], mirror)
    purge_run._check_is_mirror(mirror, repo.path, "right")
    for target, mark in ((mirror, "wrong"), ((repo.path / ".git").resolve(), "right")):
        with pytest.raises(purge.PurgeError, match=r"refusing to rewrite.*your clone is untouched"):
            purge_run._check_is_mirror(target, repo.path, mark)
