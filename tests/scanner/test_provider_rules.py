"""Table tests for the declarative provider rules (UL300–UL899): every token shape of every rule gets generated
positives in several file formats and generated near misses, and every rule carries the metadata `fix`, `exposure`
and `unleak rules` rely on. Values are drawn at test time from the documented shapes (tests/fakes.py), so nothing in
the repository looks like a live credential."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from remediate.vault.refs import NAME_RE
from scanner.chunk import Chunk
from scanner.engine import Engine
from scanner.rules import Rule, all_rules, by_category, category_of, providers_of
from tests import fakes as f
from tests.conftest import run_cli

PROVIDER_RULES = sorted(r.id for r in all_rules().values() if r.shapes)
SHAPES = [(r.id, i) for r in all_rules().values() if r.shapes for i in range(len(r.shapes))]
_ENGINE = Engine()


def _found(path: str, text: str) -> set[str]:
    return {x.rule_id for x in _ENGINE.scan_chunk(Chunk(path, text + "\n"))}


def _rule(rid: str) -> Rule:
    return all_rules()[rid]


def _positives(rule: Rule, value: str) -> list[tuple[str, str]]:
    if rule.anchors:
        name = f.provider_name(rule.anchors)
        lower = name.lower()
        return [(".env", f"{name}={value}"), ("settings.py", f'{name} = "{value}"'),
                ("config.yaml", f"{lower}: '{value}'"), ("app.json", f'{{"{lower}": "{value}"}}')]
    return [("settings.py", f'setting = "{value}"'), ("config.yaml", f"setting: {value}"),
            ("app.json", f'{{"setting": "{value}"}}'), ("run.sh", f"export SETTING='{value}'")]


@pytest.mark.parametrize(("rule_id", "shape"), SHAPES)
def test_generated_positives_are_found(rule_id: str, shape: int) -> None:
    rule = _rule(rule_id)
    for _ in range(3):
        value = f.from_shape(rule.shapes[shape])
        for path, text in _positives(rule, value):
            assert rule_id in _found(path, text), (path, rule.shapes[shape])


@pytest.mark.parametrize(("rule_id", "shape"), SHAPES)
def test_generated_near_misses_are_silent(rule_id: str, shape: int) -> None:
    rule = _rule(rule_id)
    value = f.from_shape(rule.shapes[shape])
    short = f.from_shape(rule.shapes[shape], shorten_last=True)
    near: list[tuple[str, str]] = []
    if rule.anchors:
        name = f.provider_name(rule.anchors)
        near += [(".env", f"{name}={short}"),  # one character short of the shape
                 (".env", f"UNRELATED_API_KEY={value}"),  # the right shape, but not this service's name
                 (".env", f"{name}=${{{name}}}")]  # a template, not a value
        if not re.search(r"(?i)key|token|secret|pass|pwd|auth|credential|dsn|license|pat", rule.anchors[0]):
            near.append((".env", f"{rule.anchors[0].upper()}_REGION={value}"))  # the service, but no secret word
    else:
        lead = rule.shapes[shape].split("{")[0]
        near += [("settings.py", f'setting = "{short}"'),
                 ("settings.py", f'setting = "{value[:len(lead) + 6]}..."'),  # elided in documentation
                 ("notes.md", f"see {lead}<your token> in the docs")]
        if rule.validate is not None:  # the random part is a word-like lower-case run: not random
            near.append(("settings.py", f'setting = "{re.sub("[0-9A-Z]", "q", value)}"'))
        if re.match(r"[A-Za-z0-9]", value):
            near.append(("settings.py", f'setting = "z9{value}"'))  # glued to a longer token: not a token start
    for path, text in near:
        assert rule_id not in _found(path, text), (path, text.replace(value, "<value>"))


@pytest.mark.parametrize("rule_id", PROVIDER_RULES)
def test_provider_rule_metadata(rule_id: str) -> None:
    rule = _rule(rule_id)
    assert 300 <= int(rule.id[2:]) <= 899
    assert rule.provider and rule.category and rule.title and rule.description
    assert NAME_RE.fullmatch(rule.env_name) and rule.env_name == rule.env_name.upper(), rule.env_name
    assert rule.doc.startswith("https://"), rule.doc
    assert rule.revoke
    assert rule.keywords and all(k == k.lower() and len(k) >= 3 for k in rule.keywords)
    # Distinctive prefixes are high confidence; a context-anchored rule is at most medium.
    if rule.anchors:
        assert rule.confidence.value == "medium"


@pytest.mark.parametrize(("rule_id", "shape"), SHAPES)
def test_every_match_contains_a_prefilter_keyword(rule_id: str, shape: int) -> None:
    """The prefilter only runs a rule where one of its keywords occurs: a match without one would be lost."""
    rule = _rule(rule_id)
    for _ in range(3):
        value = f.from_shape(rule.shapes[shape])
        for _path, text in _positives(rule, value):
            for m in rule.regex.finditer(text):
                assert any(k in m.group(0).lower() for k in rule.keywords), rule.keywords


@pytest.mark.parametrize("rule_id", [r for r in PROVIDER_RULES if _rule(r).preview_prefix])
def test_preview_is_the_public_prefix(rule_id: str) -> None:
    rule = _rule(rule_id)
    for shape in rule.shapes:
        value = f.from_shape(shape)
        found = [x for x in _ENGINE.scan_chunk(Chunk("settings.py", _positives(rule, value)[1][1] + "\n"))
                 if x.rule_id == rule_id]
        assert found and found[0].preview.startswith(rule.preview_prefix.split("*")[0])
        assert value not in found[0].preview and value.startswith(rule.preview_prefix.split("*")[0])


def test_provider_breadth() -> None:
    """README: "over 400 services in twelve categories"."""
    rules = all_rules().values()
    providers = {p.lower() for r in rules for p in providers_of(r)}
    assert len(providers) >= 400, len(providers)
    cats = {category_of(r) for r in rules if providers_of(r)}
    assert cats == {"ai", "cloud", "ci-cd", "payment", "messaging", "email", "observability", "package-registry",
                    "database", "identity", "source-hosting", "saas"}


def test_rules_command_groups_by_category_with_service_counts(tmp_path: Path) -> None:
    proc = run_cli("rules", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    heads = [ln for ln in proc.stdout.splitlines() if not ln.startswith(" ")]
    groups = by_category()
    assert [h.split(" — ")[0] for h in heads] == list(groups)
    ai = next(h for h in heads if h.startswith("ai — "))
    n_ai = len({p.lower() for r in groups["ai"] for p in providers_of(r)})
    assert ai == f"ai — {len(groups['ai'])} rules, {n_ai} services"
    assert "UL300  high    OpenRouter API key" in proc.stdout
    one = run_cli("rules", "--category", "email", "--json", cwd=tmp_path)
    doc = json.loads(one.stdout)
    assert {d["category"] for d in doc} == {"email"}
    assert next(d for d in doc if d["id"] == "UL505")["env_name"] == "MJ_APIKEY_PRIVATE"
    bad = run_cli("rules", "--category", "nope", cwd=tmp_path)
    assert bad.returncode == 2 and "known: ai" in bad.stderr


def test_ids_are_unique_and_shapes_parse() -> None:
    from scanner.rules._provider import parse_shape

    for rule in all_rules().values():
        for shape in rule.shapes:
            assert any(not isinstance(p, str) for p in parse_shape(shape)), (rule.id, shape)


def test_an_assigned_value_is_taken_whole_not_cut_at_base64_characters() -> None:
    """A context-anchored rule takes the value assigned to the name whole: 32 base62 characters followed by ``+``,
    ``/`` or ``=`` are the start of a longer base64 value (a random draw of UL471's 86-character shape begins so about
    once in a hundred), not a 32-character key."""
    head = f._rand(f.ALNUM, 32)
    for sep in "+/=":
        text = f"COINBASE_API_SECRET={head}{sep}{f._rand(f.ALNUM, 40)}=="
        assert "UL471" not in _found(".env", text), sep
    assert "UL471" in _found(".env", f"COINBASE_API_SECRET={head}")
