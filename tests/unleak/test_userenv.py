"""unleak's own XDG lookup gives platformdirs' answers (it exists only to keep platformdirs off the hook path)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from remediate.vault.local import user_data_dir
from unleak import userenv


@pytest.mark.parametrize("state,config", [(None, None), ("/tmp/xs", "/tmp/xc"), ("  ", ""), ("/a b/s", "/c d/c")])
def test_dirs_match_platformdirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, state: str | None,
                                 config: str | None) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for var, val in (("XDG_STATE_HOME", state), ("XDG_CONFIG_HOME", config), ("XDG_DATA_HOME", state)):
        if val is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, val)
    assert userenv.state_dir() == Path(platformdirs.user_state_dir("unleak", appauthor=False))
    assert userenv.config_dir() == Path(platformdirs.user_config_dir("unleak", appauthor=False))
    assert userenv.data_dir() == Path(platformdirs.user_data_dir("unleak", appauthor=False)) == user_data_dir()


def test_the_audit_record_of_a_scan_imports_neither_policy_nor_platformdirs(tmp_path: Path) -> None:
    code = ("import sys; from unleak.audit import record; record('scan', result='0 findings'); "
            "print(sorted(m for m in ('unleak.agent.policy', 'platformdirs', 'click') if m in sys.modules))")
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "XDG_STATE_HOME": str(tmp_path / "state")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"
    assert (tmp_path / "state" / "unleak" / "audit.jsonl").is_file()
