"""Archives are read member by member (``scanner.archives``): zip and its kin (jar, war, whl), tar (plain, gzip,
bzip2, xz), one compressed file, nested; within limits a hostile archive cannot break; reported against the archive
in every format; left alone by ``fix``; never a value in any output."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import secrets
import string
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from scanner import archives
from scanner.api import ScanRequest, scan
from tests.conftest import GitRepo, run_cli
from tests.fakes import aws_access_key_id, github_pat, password, stripe_live_key


def _zip(members: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes | str], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def _scan(root: Path, **kw: object) -> tuple[list[tuple[str, int, str]], dict[str, int]]:
    r = scan(ScanRequest(root=root, modes=("files",), **kw))  # type: ignore[arg-type]
    return sorted((f.path, f.line, f.rule_id) for f in r.findings), r.stats.to_dict()


def test_every_format_is_read_member_by_member(tmp_path: Path) -> None:
    token = f'GITHUB_TOKEN = "{github_pat()}"\n'
    (tmp_path / "app.jar").write_bytes(_zip({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n",
                                            "com/acme/App.class": b"\xca\xfe\xba\xbe\0\0\0\x34",
                                            "config/app.py": "x = 1\n" + token}))
    (tmp_path / "src.tar.gz").write_bytes(_tar({"pkg/settings.py": token}))
    (tmp_path / "src.tar").write_bytes(_tar({"pkg/settings.py": token}, "w"))
    (tmp_path / "src.tar.bz2").write_bytes(_tar({"pkg/settings.py": token}, "w:bz2"))
    (tmp_path / "src.tar.xz").write_bytes(_tar({"pkg/settings.py": token}, "w:xz"))
    (tmp_path / "notes.txt.bz2").write_bytes(bz2.compress(token.encode()))
    (tmp_path / "notes.txt.xz").write_bytes(lzma.compress(token.encode()))
    (tmp_path / "tool-1.0-py3-none-any.whl").write_bytes(_zip({"tool/conf.py": token}))
    found, stats = _scan(tmp_path)
    assert found == [("app.jar!/config/app.py", 2, "UL001"), ("notes.txt.bz2!/notes.txt", 1, "UL001"),
                     ("notes.txt.xz!/notes.txt", 1, "UL001"), ("src.tar!/pkg/settings.py", 1, "UL001"),
                     ("src.tar.bz2!/pkg/settings.py", 1, "UL001"), ("src.tar.gz!/pkg/settings.py", 1, "UL001"),
                     ("src.tar.xz!/pkg/settings.py", 1, "UL001"),
                     ("tool-1.0-py3-none-any.whl!/tool/conf.py", 1, "UL001")]
    # the class file is binary: not a member scanned, and not a skipped file either (a jar is mostly them)
    assert stats["files"] == 8 and stats["archive_members"] == 9 and stats["binary_skipped"] == 0


def test_archives_are_known_by_their_first_bytes_not_their_names(tmp_path: Path) -> None:
    token = f"GH={github_pat()}\n"
    (tmp_path / "blob.bin").write_bytes(_zip({"a.env": token}))
    (tmp_path / "fake.zip").write_text(token, encoding="utf-8")
    assert [p for p, _, _ in _scan(tmp_path)[0]] == ["blob.bin!/a.env", "fake.zip"]


def test_the_limits_are_those_the_readme_states() -> None:
    assert (archives.DEFAULT_DEPTH, archives.MAX_MEMBERS, archives.MAX_TOTAL, archives.MAX_SECONDS) == (
        3, 20_000, 512 * 1024 * 1024, 30.0)


def test_a_staged_archive_is_read_from_the_index(repo: GitRepo, canary: str) -> None:
    """The pre-commit case: the staged blob is read (not the work tree's file), and the hook blocks the commit."""
    repo.commit("init", {"a.py": "x = 1\n"})
    (repo.path / "drop.zip").write_bytes(_zip({"creds.env": f"GH={canary}\n"}))
    repo.git("add", "drop.zip")
    (repo.path / "drop.zip").write_bytes(_zip({"creds.env": "GH=nothing\n"}))  # unstaged: not what is committed
    staged = scan(ScanRequest(root=repo.path, modes=("staged",)))
    assert [(f.path, f.line, f.source) for f in staged.findings] == [("drop.zip!/creds.env", 1, "archive")]
    assert staged.stats.archive_members == 1 and staged.stats.binary_skipped == 0
    hook = run_cli("scan", "--staged", cwd=repo.path)
    assert hook.returncode == 1 and "drop.zip!/creds.env" in hook.stdout
    assert canary not in hook.stdout + hook.stderr
    shallow = run_cli("scan", "--staged", "--max-archive-depth", "0", cwd=repo.path)
    assert shallow.returncode == 0 and "1 binary" in shallow.stdout
    repo.git("reset", "-q")
    (repo.path / "drop.bin").write_bytes(_zip({"creds.env": f"GH={canary}\n"}))
    repo.git("add", "drop.bin")  # staged, an archive is known by its name: a .bin blob is not read whole
    assert run_cli("scan", "--staged", cwd=repo.path).returncode == 0


def test_a_staged_archive_whose_name_git_quotes_is_read_too(repo: GitRepo) -> None:
    """git C-quotes a name holding a tab, a double quote or a backslash in its diff headers; the staged blob is
    found under the real name all the same (and a text file's path is the real one)."""
    repo.commit("init", {"a.py": "x = 1\n"})
    names = ["a\tb.zip", 'q"uote.zip', "back\\slash.zip", "sp ace.zip", "ünï.zip"]
    for name in names:
        (repo.path / name).write_bytes(_zip({"creds.env": f"GH={github_pat()}\n"}))
    (repo.path / "t\tab.py").write_text(f"TOKEN = '{github_pat()}'\n", encoding="utf-8")
    repo.git("add", "-A")
    staged = scan(ScanRequest(root=repo.path, modes=("staged",)))
    assert sorted(f.path for f in staged.findings) == sorted([n + "!/creds.env" for n in names] + ["t\tab.py"])
    assert staged.stats.binary_skipped == 0
    repo.git("commit", "-q", "-m", "x")
    history = scan(ScanRequest(root=repo.path, modes=("history",)))
    assert sorted(f.path for f in history.findings) == sorted(f.path for f in staged.findings)


def _history(root: Path, **kw: object) -> list[tuple[str, str, str, str, int]]:
    r = scan(ScanRequest(root=root, modes=("history",), **kw))  # type: ignore[arg-type]
    return [(f.path, f.rule_id, f.fingerprint, f.commit.sha if f.commit else "", f.line) for f in r.findings]


def test_history_reads_an_archive_each_commit_adds_or_changes(repo: GitRepo) -> None:
    """git shows an archive's change as binary; history and range scans read the archive's blob member by member,
    as a tree scan of that commit reads the file (same path, rule and fingerprint): the worker path as the plain
    reference, and a rescan from the cache alike."""
    repo.commit("init", {"a.py": "x = 1\n"})
    (repo.path / "drop.zip").write_bytes(_zip({"conf/creds.env": f"PORT=1\nGH={github_pat()}\n",
                                               "logo.png": b"\x89PNG\r\n\x00\x00"}))
    zipped = repo.commit("zip")
    tree = scan(ScanRequest(root=repo.path, modes=("files",))).findings
    (repo.path / "drop.zip").write_bytes(_zip({"conf/creds.env": f"PORT=2\nGH={github_pat()}\n"}))
    again = repo.commit("zip again")
    want = _history(repo.path, cache=False)
    assert [(p, r, sha, line) for p, r, _, sha, line in want] == [("drop.zip!/conf/creds.env", "UL001", again, 2),
                                                                ("drop.zip!/conf/creds.env", "UL001", zipped, 2)]
    assert [(f.path, f.rule_id, f.fingerprint) for f in tree] == [want[1][:3]]
    assert _history(repo.path, plain=True) == want
    assert _history(repo.path) == want and _history(repo.path) == want  # fills the cache, then reads it
    ranged = scan(ScanRequest(root=repo.path, modes=("range",), range=f"{zipped}..{again}", cache=False))
    assert [f.fingerprint for f in ranged.findings] == [want[0][2]]
    # Depth 0 treats archives as binary files, and exclude globs reach inside, as in a tree scan.
    off = scan(ScanRequest(root=repo.path, modes=("history",), archive_depth=0, cache=False))
    assert off.findings == [] and off.stats.binary_skipped == 2
    assert _history(repo.path, exclude=("drop.zip!/conf/*",), cache=False) == []
    # An archive over max-file-size is counted too large, as in a tree scan, and never read whole.
    big = scan(ScanRequest(root=repo.path, modes=("history",), max_file_size=64, cache=False))
    assert big.findings == [] and big.stats.too_large == 2


def test_member_names_keep_path_rules_working(tmp_path: Path) -> None:
    """A rule that looks at the file's name (``.pgpass``, ``*.sql``) sees the member's own name: a compressed
    dump is named without its compression suffix."""
    pgpass = f"db.internal:5432:*:app:{password()}\n"
    salted = "".join(secrets.choice(string.ascii_letters + string.digits + "./") for _ in range(53))
    dump = f"INSERT INTO users VALUES (1,'a','$2b$12${salted}');\n"  # a bcrypt hash's shape, drawn here
    (tmp_path / "home.zip").write_bytes(_zip({"home/app/.pgpass": pgpass}))
    (tmp_path / "dump.sql.gz").write_bytes(_gzip(dump.encode()))
    found, _ = _scan(tmp_path)
    assert ("home.zip!/home/app/.pgpass", 1, "UL201") in found
    assert ("dump.sql.gz!/dump.sql", 1, "UL213") in found


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data)


def test_nesting_follows_the_depth(tmp_path: Path) -> None:
    token = f"token: {github_pat()}\n"
    inner = _zip({"BOOT-INF/classes/application.yml": token})
    war = _zip({"WEB-INF/lib/app.jar": inner, "top.yml": token})
    (tmp_path / "release.tar.gz").write_bytes(_tar({"dist/app.war": war}))
    deep = "release.tar.gz!/dist/app.war!/WEB-INF/lib/app.jar!/BOOT-INF/classes/application.yml"
    shallow = "release.tar.gz!/dist/app.war!/top.yml"
    paths = [p for p, _, _ in _scan(tmp_path)[0]]
    assert paths == [deep, shallow]  # the default depth (3) reaches the innermost
    assert [p for p, _, _ in _scan(tmp_path, archive_depth=2)[0]] == [shallow]
    assert _scan(tmp_path, archive_depth=1)[0] == []  # the war is a binary member at depth 1
    none, stats = _scan(tmp_path, archive_depth=0)
    assert none == [] and stats["binary_skipped"] == 1 and stats["archive_members"] == 0


def test_a_bomb_is_cut_at_the_file_size_limit_and_the_rest_is_scanned(tmp_path: Path) -> None:
    """A member that inflates past the limit is counted too large without being inflated further (the header's
    size is not trusted: it is read to one byte over the limit), and its neighbours are still scanned."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("zeros.txt", "w", force_zip64=True) as member:  # 64 MiB of "0", ~65 KiB compressed
            for _ in range(64):
                member.write(b"0" * (1024 * 1024))
        zf.writestr("app.env", f"STRIPE_KEY={stripe_live_key()}\n")
    (tmp_path / "bomb.zip").write_bytes(buf.getvalue())
    assert (tmp_path / "bomb.zip").stat().st_size < 1024 * 1024
    found, stats = _scan(tmp_path, max_file_size=1024 * 1024)
    assert [p for p, _, _ in found] == ["bomb.zip!/app.env"]
    assert stats["too_large"] == 1 and stats["archive_members"] == 1


def test_a_header_that_lies_about_the_size_is_caught(tmp_path: Path) -> None:
    """A member whose stored sizes claim 4 bytes while it holds 20 KiB: zipfile stops at the claimed size and its
    check fails; the member is counted unreadable, never read past the limit, and the next one is scanned."""
    body = b"A" * 20_000
    data = bytearray(_zip({"big.txt": body, "app.env": f"GH={github_pat()}\n"}))
    size = len(body).to_bytes(4, "little")
    assert data.count(size) == 2  # the local header and the central directory entry of big.txt
    data = data.replace(size, (4).to_bytes(4, "little"))
    (tmp_path / "liar.zip").write_bytes(bytes(data))
    found, stats = _scan(tmp_path)
    assert [p for p, _, _ in found] == ["liar.zip!/app.env"]
    assert stats["unreadable"] == 1


def test_encrypted_corrupt_and_truncated_archives_are_counted_not_fatal(tmp_path: Path) -> None:
    token = f"GH={github_pat()}\n"
    locked = bytearray(_zip({"secret.env": token, "open.env": token}))
    # mark the first member encrypted (general-purpose flag bit 0) in its local header and central directory entry
    local, central = locked.find(b"PK\x03\x04"), locked.find(b"PK\x01\x02")
    locked[local + 6] |= 1
    locked[central + 8] |= 1
    (tmp_path / "locked.zip").write_bytes(bytes(locked))
    whole = _zip({"a.env": token})
    (tmp_path / "cut.zip").write_bytes(whole[: len(whole) // 2])  # no central directory
    (tmp_path / "bad.tar.gz").write_bytes(_tar({"a.env": token})[:40])  # a gzip stream that ends early
    found, stats = _scan(tmp_path)
    assert [p for p, _, _ in found] == ["locked.zip!/open.env"]
    assert stats["unreadable"] == 3
    proc = run_cli("scan", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "3 unreadable" in proc.stdout


def test_member_and_archive_budgets(tmp_path: Path) -> None:
    """The per-archive budgets (members, bytes) stop a million-member archive; what is over is counted."""
    (tmp_path / "many.zip").write_bytes(_zip({f"m{i}.txt": f"line {i}\n" for i in range(50)}))
    counts = archives.Counts(budget_members=10)
    head = (tmp_path / "many.zip").read_bytes()[:512]
    got = list(archives.members(tmp_path / "many.zip", "many.zip", head, 1024, 3, counts))
    assert len(got) == 10 and counts.too_large == 40
    counts = archives.Counts(budget_bytes=50)
    got = list(archives.members(tmp_path / "many.zip", "many.zip", head, 1024, 3, counts))
    assert sum(len(d) for _, d in got) <= 50 and counts.too_large == 50 - len(got)


def test_a_tar_stream_is_not_read_past_its_budget(tmp_path: Path) -> None:
    """Skipping a tar member decompresses it, so a member over the file-size limit still costs its size in time:
    reading stops where the stream budget ends, and what is beyond is counted, not read."""
    zeros = b"0" * (4 * 1024 * 1024)
    (tmp_path / "big.tar.gz").write_bytes(_tar({"zeros.txt": zeros, "after.env": f"GH={github_pat()}\n"}))
    head = (tmp_path / "big.tar.gz").read_bytes()[:512]
    counts = archives.Counts(budget_stream=1024 * 1024)
    assert list(archives.members(tmp_path / "big.tar.gz", "big.tar.gz", head, 64 * 1024, 3, counts)) == []
    assert counts.too_large == 1
    counts = archives.Counts()
    got = list(archives.members(tmp_path / "big.tar.gz", "big.tar.gz", head, 64 * 1024, 3, counts))
    assert [m for m, _ in got] == ["after.env"] and counts.too_large == 1  # zeros.txt: over the file-size limit


def _raw_tar_member(name: str, typ: bytes, body: bytes, fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = typ
    info.size = len(body)
    return info.tobuf(fmt, "utf-8", "surrogateescape") + body + b"\0" * (-len(body) % 512)


def test_hostile_headers_are_refused_before_tarfile_parses_them(tmp_path: Path) -> None:
    """Headers Python's tarfile would read whole into memory or parse in quadratic time (a pax header of digits,
    CVE-2024-6232; a long name claiming gigabytes) and sparse members (a truncated one raised IndexError) end that
    tar, counted unreadable, in well under a second; the archive next to them is still scanned."""
    token = f"GH={github_pat()}\n".encode()
    ok = _raw_tar_member("a.env", tarfile.REGTYPE, token)
    (tmp_path / "pax.tar.gz").write_bytes(gzip.compress(_raw_tar_member("p", tarfile.XHDTYPE, b"1" * 200_000) + ok))
    (tmp_path / "long.tar").write_bytes(_raw_tar_member("././@LongLink", tarfile.GNUTYPE_LONGNAME, b"A" * 100_000,
                                                        tarfile.GNU_FORMAT) + ok)
    sparse = bytearray(_raw_tar_member("s.txt", tarfile.GNUTYPE_SPARSE, b"", tarfile.GNU_FORMAT)[:512])
    sparse[482] = 1  # "an extended sparse block follows", and the stream ends
    sparse[148:156] = b" " * 8
    sparse[148:156] = b"%06o\0 " % sum(sparse)
    (tmp_path / "sparse.tar").write_bytes(bytes(sparse))
    (tmp_path / "fine.tar").write_bytes(ok + b"\0" * 1024)
    started = time.monotonic()
    found, stats = _scan(tmp_path)
    assert time.monotonic() - started < 10
    assert [p for p, _, _ in found] == ["fine.tar!/a.env"] and stats["unreadable"] == 3


def test_a_bzip2_or_lzma_zip_member_is_not_inflated(tmp_path: Path) -> None:
    """Python's zipfile inflates a bzip2 or lzma member's read in one call, whatever it grows to (a 2 KB member of
    3 GB of zeros whose header says 10 bytes took 6 GB): such members are counted unreadable, not read."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.env", f"GH={github_pat()}\n", compress_type=zipfile.ZIP_BZIP2)
        zf.writestr("b.env", f"GH={github_pat()}\n", compress_type=zipfile.ZIP_LZMA)
        zf.writestr("c.env", f"GH={github_pat()}\n", compress_type=zipfile.ZIP_DEFLATED)
    (tmp_path / "m.zip").write_bytes(buf.getvalue())
    found, stats = _scan(tmp_path)
    assert [p for p, _, _ in found] == ["m.zip!/c.env"] and stats["unreadable"] == 2


def test_nested_tar_streams_share_one_budget_and_an_archive_has_a_deadline(tmp_path: Path) -> None:
    inner = _tar({"a.env": f"GH={github_pat()}\n", "pad.txt": b"x" * 4096}, "w:bz2")
    (tmp_path / "many.zip").write_bytes(_zip({f"t{i}.tar.bz2": inner for i in range(5)}))
    head = (tmp_path / "many.zip").read_bytes()[:512]
    whole = list(archives.members(tmp_path / "many.zip", "many.zip", head, 1 << 20, 3, archives.Counts()))
    assert len([m for m, _ in whole if m.endswith("a.env")]) == 5
    counts = archives.Counts(budget_stream=3 * 6 * 1024)  # a few of the five tars' streams, not all
    got = list(archives.members(tmp_path / "many.zip", "many.zip", head, 1 << 20, 3, counts))
    assert 1 <= len([m for m, _ in got if m.endswith("a.env")]) < 5 and counts.too_large >= 1
    late = archives.Counts(deadline=time.monotonic() - 1)
    assert list(archives.members(tmp_path / "many.zip", "many.zip", head, 1 << 20, 3, late)) == []
    assert late.too_large >= 1


def test_member_names_are_plain_relative_paths(tmp_path: Path) -> None:
    """Names are only names (nothing is extracted), cleaned: no leading slash, no ``..`` climbing, no
    backslashes."""
    token = f"GH={github_pat()}\n"
    (tmp_path / "odd.zip").write_bytes(_zip({"../../etc/evil.env": token, "/abs/x.env": token,
                                             "win\\dir\\y.env": token}))
    found, _ = _scan(tmp_path)
    assert [p for p, _, _ in found] == ["odd.zip!/abs/x.env", "odd.zip!/etc/evil.env", "odd.zip!/win/dir/y.env"]
    assert not (tmp_path.parent / "etc").exists()


def test_a_member_name_cannot_inject_lines_or_escapes_into_a_report(repo: GitRepo) -> None:
    """A name with a line break and a workflow command, or a terminal escape, reaches no report as such."""
    evil = "a\n::error file=README.md,line=1::owned\x1b[31m.env"
    (repo.path / "evil.zip").write_bytes(_zip({evil: f"T={github_pat()}\n"}))
    repo.commit("x")
    for fmt in ("text", "github", "json", "sarif"):
        out = run_cli("scan", "--format", fmt, cwd=repo.path).stdout
        assert "\x1b" not in out and "\n::error file=README.md" not in out, fmt
    assert "evil.zip!/a?::error file=README.md,line=1::owned?[31m.env" in run_cli("scan", cwd=repo.path).stdout


def test_exclude_globs_reach_inside_archives(tmp_path: Path) -> None:
    token = f"GH={github_pat()}\n"
    (tmp_path / "bundle.zip").write_bytes(_zip({"tests/fixture.env": token, "prod.env": token}))
    found, _ = _scan(tmp_path, exclude=("bundle.zip!/tests/*",))
    assert [p for p, _, _ in found] == ["bundle.zip!/prod.env"]


def test_reports_point_at_the_archive_and_never_carry_the_value(repo: GitRepo, canary: str) -> None:
    repo.write("dist/app.zip", "")
    (repo.path / "dist" / "app.zip").write_bytes(_zip({"conf/app.env": f"X=1\nGITHUB_TOKEN={canary}\n"}))
    repo.commit("release")
    outputs = {}
    for fmt in ("text", "json", "sarif", "github"):
        proc = run_cli("scan", "--format", fmt, cwd=repo.path)
        assert proc.returncode == 1, proc.stderr
        assert canary not in proc.stdout + proc.stderr
        outputs[fmt] = proc.stdout
    assert "dist/app.zip!/conf/app.env" in outputs["text"] and "1 archive member" in outputs["text"]
    (found,) = json.loads(outputs["json"])["findings"]
    assert (found["path"], found["line"], found["source"]) == ("dist/app.zip!/conf/app.env", 2, "archive")
    (res,) = json.loads(outputs["sarif"])["runs"][0]["results"]
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "dist/app.zip" and loc["region"] == {"startLine": 1}
    assert res["properties"]["archiveMember"]["path"] == "conf/app.env"
    assert res["properties"]["archiveMember"]["line"] == 2
    line = next(x for x in outputs["github"].splitlines() if x.startswith("::"))
    assert line.startswith("::error file=dist/app.zip,line=1,") and "archive member conf/app.env line 2" in line


def test_fix_leaves_the_archive_alone_and_says_what_to_do(repo: GitRepo, canary: str) -> None:
    data = _zip({"conf/app.env": f"GITHUB_TOKEN={canary}\n"})
    (repo.path / "app.zip").write_bytes(data)
    repo.write("settings.py", f'AWS_KEY_ID = "{aws_access_key_id()}"\n')
    repo.commit("add")
    review = run_cli("fix", "--json", cwd=repo.path)
    assert canary not in review.stdout + review.stderr
    manual = [m for m in json.loads(review.stdout)["plan"]["manual"] if m["path"].startswith("app.zip!/")]
    assert len(manual) == 1 and "inside the archive app.zip" in manual[0]["reason"]
    applied = run_cli("fix", "--apply", cwd=repo.path)
    assert canary not in applied.stdout + applied.stderr
    assert (repo.path / "app.zip").read_bytes() == data


def test_changes_mode_reads_a_new_archive(repo: GitRepo) -> None:
    repo.commit("init", {"a.py": "x = 1\n"})
    (repo.path / "drop.zip").write_bytes(_zip({"creds.env": f"GH={github_pat()}\n"}))
    found = scan(ScanRequest(root=repo.path, modes=("changes",))).findings
    assert [(f.path, f.source) for f in found] == [("drop.zip!/creds.env", "archive")]


@pytest.mark.parametrize("value, message", [("-1", "0 or more"), ("'3'", "0 or more"), ("true", "0 or more")])
def test_config_depth_is_checked(repo: GitRepo, value: str, message: str) -> None:
    repo.write(".unleak.toml", f"max-archive-depth = {value}\n")
    proc = run_cli("scan", cwd=repo.path)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_config_and_flag_set_the_depth(repo: GitRepo) -> None:
    (repo.path / "a.zip").write_bytes(_zip({"b.env": f"GH={github_pat()}\n"}))
    repo.write(".unleak.toml", "max-archive-depth = 0\n")
    assert run_cli("scan", cwd=repo.path).returncode == 0  # config: archives are binary
    assert run_cli("scan", "--max-archive-depth", "1", cwd=repo.path).returncode == 1  # the flag wins
    bad = run_cli("scan", "--max-archive-depth", "-2", cwd=repo.path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
