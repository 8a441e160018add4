"""Every git call unleak makes, in one package: nothing else starts git or imports GitPython.

``proc`` starts git processes (one clean environment: no repository-local variable of the caller reaches git),
``repo`` is the repository model (discovery, refs, remotes, shallow state, clones), ``history`` streams history at
scanning speed (``git log -p``, ``cat-file --batch``), ``parse`` turns patch text into data. Callers use this
facade (``from scanner import git``; ``git.run``, ``git.toplevel``…).
"""

from __future__ import annotations

from scanner.errors import GitError
from scanner.finding import Skipped
from scanner.git.history import (
    LOG_FORMAT,
    ZERO_OID,
    CatFile,
    RawChange,
    RawCommit,
    all_object_ids,
    blob_at,
    commit_added_texts,
    count_commits,
    diff_lines,
    log_patch_lines,
    raw_history,
    rev_list,
    unreadable_objects,
)
from scanner.git.parse import (
    AddedText,
    FilePatch,
    parse_patch,
)
from scanner.git.proc import (
    COMMIT_MARK,
    LOCAL_ENV_VARS,
    clean_env,
    git_available,
    run,
)
from scanner.git.repo import (
    caller_index,
    clone_mirror,
    clone_or_update,
    common_git_dir,
    current_branch,
    designated_repository,
    dirty_tracked,
    fetch,
    has_head,
    has_staged_changes,
    head_sha,
    history_root,
    is_bare,
    is_shallow,
    ls_files,
    merge_base,
    move_refs,
    ref_targets,
    ref_tips,
    remote_names,
    require_repo,
    shallow_boundary,
    split_credentials,
    toplevel,
    verify_commit,
)

__all__ = [
    "COMMIT_MARK", "LOCAL_ENV_VARS", "LOG_FORMAT", "ZERO_OID", "AddedText", "CatFile", "FilePatch", "GitError",
    "RawChange", "RawCommit", "Skipped", "all_object_ids", "blob_at", "caller_index", "clean_env", "clone_mirror",
    "clone_or_update", "commit_added_texts", "common_git_dir", "count_commits", "current_branch",
    "designated_repository", "diff_lines",
    "dirty_tracked", "fetch", "git_available", "has_head", "has_staged_changes", "head_sha", "history_root",
    "is_bare", "is_shallow", "log_patch_lines", "ls_files", "merge_base", "move_refs", "parse_patch", "raw_history",
    "ref_targets", "ref_tips", "remote_names", "require_repo", "rev_list", "run", "shallow_boundary",
    "split_credentials", "toplevel", "unreadable_objects", "verify_commit",
]
