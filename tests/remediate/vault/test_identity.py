"""A repository's local-vault namespace: the registry outside every repository, with real git repositories and a
real vault in the test's own data directory (XDG_DATA_HOME, set by conftest)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from remediate.vault import default_namespace, open_vault, repository_namespace
from remediate.vault.identity import registered_repositories
from remediate.vault.local import user_data_dir
from scanner.errors import VaultError
from tests.conftest import GitRepo, make_repo, run_cli
from tests.fakes import github_pat


def test_two_repositories_with_the_same_name_get_their_own_namespaces(tmp_path: Path) -> None:
    x, y = make_repo(tmp_path / "x" / "app"), make_repo(tmp_path / "y" / "app")
    rx = open_vault(repo_path=x.path).put("TOKEN", github_pat())
    ry = open_vault(repo_path=y.path).put("TOKEN", github_pat())
    nx, ny = default_namespace(x.path), default_namespace(y.path)
    assert nx != ny and nx.startswith("app-") and ny.startswith("app-")
    assert rx == f"unleak://{nx}/TOKEN" and ry == f"unleak://{ny}/TOKEN"
    assert [e.reference for e in open_vault(repo_path=x.path).names()] == [rx]
    assert [e.reference for e in open_vault(repo_path=y.path).names()] == [ry]
    records = registered_repositories()
    assert {r["namespace"]: r["path"] for r in records.values()} == {nx: str(x.path.resolve()),
                                                                     ny: str(y.path.resolve())}
    assert set(records) == {str((x.path / ".git").resolve()), str((y.path / ".git").resolve())}


def test_the_registry_is_private_and_only_written_by_a_vault_write(repo: GitRepo) -> None:
    registry = user_data_dir() / "repositories.json"
    ns = default_namespace(repo.path)
    open_vault(repo_path=repo.path).names()  # reading registers nothing
    assert repository_namespace(repo.path).source == "new" and not registry.exists()
    open_vault(repo_path=repo.path).put("TOKEN", github_pat())
    assert stat.S_IMODE(os.stat(registry).st_mode) == 0o600
    choice = repository_namespace(repo.path)
    assert (choice.namespace, choice.source, choice.registered) == (ns, "registered", True)
    assert choice.describe() == f"registered for {repo.path.resolve()}"


def test_a_worktree_shares_the_checkouts_namespace(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("init", {"README": "x\n"})
    ref = open_vault(repo_path=repo.path).put("TOKEN", github_pat())
    wt = tmp_path / "elsewhere" / "feature-branch"
    repo.git("worktree", "add", "-q", "-b", "feature", str(wt))
    assert default_namespace(wt) == default_namespace(repo.path)
    assert [e.reference for e in open_vault(repo_path=wt).names()] == [ref]
    assert repository_namespace(wt).source == "registered"


def test_a_clone_adopts_the_namespace_its_committed_references_use(tmp_path: Path) -> None:
    # Written on another machine (no vault file here yet): the clone agrees with what it commits.
    origin = make_repo(tmp_path / "origin" / "app")
    origin.commit("refs", {".env.unleak": "TOKEN=unleak://app-1a2b3c/TOKEN\n"})
    clone = tmp_path / "work" / "my-checkout"
    origin.git("clone", "-q", str(origin.path), str(clone))
    choice = repository_namespace(clone)
    assert (choice.namespace, choice.source) == ("app-1a2b3c", "references")
    assert open_vault(repo_path=clone).put("TOKEN", github_pat()) == "unleak://app-1a2b3c/TOKEN"
    assert repository_namespace(clone).source == "registered"
    # Older checkouts keep their references in .env: read too.
    old = make_repo(tmp_path / "old")
    old.write(".env", "A=unleak://shop-4d5e6f/A\nB='unleak://shop-4d5e6f/B'\n")
    assert default_namespace(old.path) == "shop-4d5e6f"


def test_a_moved_repository_keeps_its_namespace_through_its_references(tmp_path: Path) -> None:
    x = make_repo(tmp_path / "a" / "app")
    ref = open_vault(repo_path=x.path).put("TOKEN", github_pat())
    x.commit("refs", {".env.unleak": f"TOKEN={ref}\n"})
    ns = default_namespace(x.path)
    moved = tmp_path / "b" / "renamed"
    moved.parent.mkdir()
    shutil.move(x.path, moved)
    # A check (what an agent's run sees) does not take over the old record on its own...
    assert default_namespace(moved) != ns
    # ...the human's next write does, and the entries are there.
    vault = open_vault(repo_path=moved)
    assert vault.namespace == ns
    vault.put("OTHER", github_pat())
    assert default_namespace(moved) == ns
    assert [e.name for e in vault.names()] == ["OTHER", "TOKEN"]
    assert next(iter(registered_repositories().values()))["path"] == str(moved.resolve())


def test_a_vault_made_before_the_registry_keeps_working(tmp_path: Path) -> None:
    from remediate.vault.local import LocalVault

    ref = LocalVault("app").put("TOKEN", github_pat())  # what the directory-name rule stored
    x = make_repo(tmp_path / "x" / "app")
    choice = repository_namespace(x.path)
    assert (choice.namespace, choice.source) == ("app", "legacy")
    assert open_vault(repo_path=x.path).put("NEW", github_pat()) == "unleak://app/NEW"
    assert repository_namespace(x.path).source == "registered"
    # Once it is registered, another directory of the same name is not it.
    y = make_repo(tmp_path / "y" / "app")
    y.write(".env.unleak", f"TOKEN={ref}\n")
    assert default_namespace(y.path) != "app"


def test_only_a_takeover_records_a_vault_named_after_the_directory(tmp_path: Path) -> None:
    from remediate.vault.local import LocalVault

    LocalVault("app").put("TOKEN", github_pat())
    x = make_repo(tmp_path / "x" / "app")
    choice = repository_namespace(x.path, register=True, takeover=False)  # as an agent's fix registers
    assert (choice.namespace, choice.source, choice.registered) == ("app", "legacy", False)
    assert registered_repositories() == {}
    assert repository_namespace(x.path, register=True).registered  # as a human's command does


def test_an_explicit_namespace_wins_and_registers_nothing(repo: GitRepo) -> None:
    assert open_vault(namespace="team-shared", repo_path=repo.path).put("K", github_pat()) == \
        "unleak://team-shared/K"
    assert registered_repositories() == {}


def test_a_write_refuses_when_the_repository_has_another_namespace(repo: GitRepo) -> None:
    open_vault(repo_path=repo.path).put("K", github_pat())
    with pytest.raises(VaultError, match="has the vault namespace"):
        open_vault(namespace="elsewhere", repo_path=repo.path, register=True).put("K", github_pat())


def test_a_damaged_registry_is_an_error_not_a_guess(repo: GitRepo) -> None:
    open_vault(repo_path=repo.path).put("K", github_pat())
    registry = user_data_dir() / "repositories.json"
    doc = json.loads(registry.read_text())
    doc["repositories"] = ["not", "a", "mapping"]
    registry.write_text(json.dumps(doc))
    with pytest.raises(VaultError, match=r"repository registry .* is damaged"):
        default_namespace(repo.path)
    registry.write_text("{")
    with pytest.raises(VaultError, match="not valid JSON"):
        default_namespace(repo.path)


def test_a_fifo_as_reference_file_does_not_hang(repo: GitRepo) -> None:
    os.mkfifo(repo.path / ".env.unleak")
    assert default_namespace(repo.path).startswith("repo-")


def test_secrets_list_shows_where_the_namespace_comes_from(tmp_path: Path) -> None:
    origin = make_repo(tmp_path / "proj")
    origin.commit("refs", {".env.unleak": "TOKEN=unleak://proj-0a0b0c/TOKEN\n"})
    listed = run_cli("secrets", "list", cwd=origin.path)
    assert listed.returncode == 0
    assert ("no secrets in namespace 'proj-0a0b0c' (unleak; adopted from the references in .env.unleak / .env; "
            "registered at the first write)") in listed.stderr
    fresh = make_repo(tmp_path / "fresh")
    out = json.loads(run_cli("secrets", "list", "--json", cwd=fresh.path).stdout)
    assert out["namespace_source"] == "new" and out["namespace"].startswith("fresh-")
    over = json.loads(run_cli("secrets", "list", "--json", "--namespace", "x1", cwd=fresh.path).stdout)
    assert (over["namespace"], over["namespace_source"]) == ("x1", "option")
    assert registered_repositories() == {}


def test_a_directory_fixed_before_git_init_keeps_its_namespace(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    ref = open_vault(repo_path=plain).put("K", github_pat())
    ns = default_namespace(plain)
    assert ref == f"unleak://{ns}/K" and set(registered_repositories()) == {str(plain.resolve())}
    GitRepo(plain).git("init", "-q")
    assert default_namespace(plain) == ns and repository_namespace(plain).source == "registered"


def test_fix_apply_registers_the_repository(repo: GitRepo) -> None:
    repo.commit("leak", {"a.py": f'DEPLOY_TOKEN = "{github_pat()}"\n'})
    planned = json.loads(run_cli("fix", "--json", cwd=repo.path).stdout)
    assert registered_repositories() == {}  # planning writes nothing
    applied = run_cli("fix", "--apply", cwd=repo.path)
    assert applied.returncode == 0, applied.stderr
    ns = default_namespace(repo.path)
    assert planned["plan"]["namespace"] == ns  # the plan named the namespace the fix then registered
    assert {r["namespace"]: r["path"] for r in registered_repositories().values()} == {ns: str(repo.path.resolve())}


def test_secrets_set_into_another_repositorys_namespace_says_whose_it_is(tmp_path: Path) -> None:
    """A namespace any directory registered first (an agent's repository with references to a name the human
    uses later with --namespace, say) is shown as that repository's before a value goes into it."""
    a, b = make_repo(tmp_path / "a"), make_repo(tmp_path / "b")
    a_ns = open_vault(repo_path=a.path).put("K", github_pat()).split("/")[2]
    other = run_cli("secrets", "set", "X", "--namespace", a_ns, cwd=b.path, input=github_pat())
    assert other.returncode == 0 and f"namespace {a_ns} is registered for the repository {a.path.resolve()}" \
        in other.stderr
    own = run_cli("secrets", "set", "Y", "--namespace", a_ns, cwd=a.path, input=github_pat())
    assert own.returncode == 0 and "registered for" not in own.stderr
    free = run_cli("secrets", "set", "Z", "--namespace", "team-shared", cwd=b.path, input=github_pat())
    assert free.returncode == 0 and "registered for" not in free.stderr


def test_fix_into_another_repositorys_namespace_says_whose_it_is(tmp_path: Path) -> None:
    a, b = make_repo(tmp_path / "a"), make_repo(tmp_path / "b")
    a_ns = open_vault(repo_path=a.path).put("K", github_pat()).split("/")[2]
    b.commit("leak", {"t.py": f'DEPLOY_TOKEN = "{github_pat()}"\n'})
    other = run_cli("fix", "--namespace", a_ns, cwd=b.path)
    assert other.returncode == 1 and f"namespace {a_ns} is registered for the repository {a.path.resolve()}" \
        in other.stderr
    own = run_cli("fix", cwd=b.path)
    assert own.returncode == 1 and "registered for" not in own.stderr


def test_a_repository_path_that_is_not_utf8_is_registered(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9"
    os.mkdir(raw)
    path = Path(os.fsdecode(raw))
    GitRepo(path).git("init", "-q")
    ref = open_vault(repo_path=path).put("K", github_pat())
    assert ref == f"unleak://{default_namespace(path)}/K" and repository_namespace(path).source == "registered"
