"""Rule patterns read back from the store of compiled patterns (scanner.recache) are the patterns re.compile
gives, whether compiled now or read back; a damaged store costs only the time to compile again."""

from __future__ import annotations

import marshal
import re
import stat

from scanner import recache
from scanner.engine import Engine, EngineOptions
from scanner.rules import all_rules
from scanner.rules import base as rules_base


def _keys() -> list[tuple[str, int]]:
    keys = [(r.pattern, r.flags) for r in all_rules().values() if r.pattern]
    keys += [(r.path_pattern, 0) for r in all_rules().values() if r.path_pattern]
    return keys


def _same(a: re.Pattern[str], b: re.Pattern[str]) -> bool:
    # Pattern equality compares the pattern, the flags and the compiled code.
    return a == b and a.groupindex == b.groupindex and a.groups == b.groups and a.flags == b.flags


def test_every_rule_pattern_is_what_re_compile_gives_compiled_now_and_read_back() -> None:
    keys = _keys()
    assert len(keys) > 500
    first = recache.compile_many(keys)
    assert recache._store_path().is_file()
    second = recache.compile_many(keys)
    for key in keys:
        want = re.compile(*key)
        assert _same(first[key], want) and _same(second[key], want), key
    # It matches as re.compile's does, on text that exercises named groups.
    rx = second[next(k for k in keys if "(?P<secret>" in k[0])]
    assert rx.groupindex.get("secret") is not None


def test_a_damaged_store_is_compiled_again_and_rewritten() -> None:
    keys = _keys()[:40]
    recache.compile_many(keys)
    path = recache._store_path()
    for damage in (b"", b"not marshal at all", marshal.dumps(["a list"])):
        path.write_bytes(damage)
        got = recache.compile_many(keys)
        assert all(_same(got[k], re.compile(*k)) for k in keys)
        assert set(marshal.loads(path.read_bytes())) == set(keys)
    # Code _sre refuses (an opcode out of range) is not used: the pattern is compiled the ordinary way.
    entries = marshal.loads(path.read_bytes())
    flags, code, groups, groupindex, indexgroup = entries[keys[0]]
    entries[keys[0]] = (flags, [999999, *code], groups, groupindex, indexgroup)
    path.write_bytes(marshal.dumps(entries))
    assert _same(recache.compile_many(keys)[keys[0]], re.compile(*keys[0]))
    # The store is the user's alone, as the hyperscan databases beside it.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_pattern_that_does_not_compile_is_left_to_its_user() -> None:
    assert recache.compile_many([("(unclosed", 0), ("ok", 0)]).keys() == {("ok", 0)}


def test_warm_compiles_every_rule_before_workers_fork() -> None:
    engine = Engine(EngineOptions())
    engine.warm()
    for rule in engine.rules.values():
        if rule.pattern:
            assert (rule.id, rule.pattern, rule.flags) in rules_base._COMPILED, rule.id
            assert _same(rule.regex, re.compile(rule.pattern, rule.flags))
