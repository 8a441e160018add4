"""GitHub Actions workflows: a secret under ``env:``, ``with:`` or ``credentials:`` -> ``${{ secrets.NAME }}``.

A workflow gets its secrets from the repository's Actions secrets, not from ``unleak run``, so the value is not
replaced by an environment read but by the expression GitHub resolves at run time, and the plan tells the user to
create the secret with ``gh secret set NAME`` (which reads the value from a prompt or stdin, never from argv).

The file is parsed with PyYAML only to find each value's place (key path, line, column); the edit replaces the
characters of that value in the text, so comments, quoting and layout stay as they were. The result is parsed again
and every edited value must read as before with the secret replaced by the expression, else the rewrite is refused.
A secret anywhere else (a ``run:`` script, a step name, a key) is a manual step that says what to write.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from remediate.codemods.sites import Site

if TYPE_CHECKING:
    from yaml import Node, ScalarNode

# Mapping keys whose scalar values GitHub evaluates expressions in, and that hand the value to a step or service.
_EXPRESSION_KEYS = {"env", "with", "credentials", "secrets"}
_WORKFLOW = re.compile(r"(?:^|/)\.github/workflows/[^/]+\.ya?ml$")


def handles(path: str) -> bool:
    return bool(_WORKFLOW.search(path.replace("\\", "/")))


def secret_name(name: str) -> str:
    """The Actions secret for vault name ``name``: GitHub reserves the ``GITHUB_`` prefix, so ``GITHUB_TOKEN``
    becomes ``GH_TOKEN`` (the vault keeps its own name)."""
    return "GH_" + name[len("GITHUB_"):] if name.upper().startswith("GITHUB_") else name


def expression(name: str) -> str:
    return "${{ secrets." + secret_name(name) + " }}"


def gh_step(name: str, paths: Collection[str]) -> str:
    """The instruction that creates the Actions secret the rewritten workflows read (no value in it)."""
    sname = secret_name(name)
    where = ", ".join(sorted(paths))
    return (f"{where} now read{'s' if len(paths) == 1 else ''} ${{{{ secrets.{sname} }}}}: create that repository "
            f"secret before the next run with `gh secret set {sname}` (it prompts for the value), or from the vault "
            f"without showing it: unleak run -- sh -c 'printf %s \"${name}\" | gh secret set {sname}'")


def _scalars(node: Node, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], ScalarNode, Node | None]]:
    """Every scalar value with its key path and the mapping that holds it (keys are not yielded)."""
    from yaml import MappingNode, ScalarNode, SequenceNode

    if isinstance(node, ScalarNode):
        yield path, node, None
    elif isinstance(node, MappingNode):
        for k, v in node.value:
            key = k.value if isinstance(k, ScalarNode) else "?"
            if isinstance(v, ScalarNode):
                yield (*path, key), v, node
            else:
                yield from _scalars(v, (*path, key))
    elif isinstance(node, SequenceNode):
        for i, v in enumerate(node.value):
            yield from _scalars(v, (*path, i))


def _keys(node: Node) -> Iterator[ScalarNode]:
    from yaml import MappingNode, ScalarNode, SequenceNode

    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode):
                yield k
            yield from _keys(v)
    elif isinstance(node, SequenceNode):
        for v in node.value:
            yield from _keys(v)


def _compose(text: str) -> Node | str | None:
    import yaml

    try:
        node: Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return "not valid YAML; fix it by hand"
    return node


def _uses_scope(holder: Node | None) -> str | None:
    """``docker/login-action@v3`` -> ``docker`` (``actions/checkout`` -> ``checkout``): what a ``with:`` input
    belongs to, for names like DOCKER_PASSWORD."""
    from yaml import MappingNode, ScalarNode

    if not isinstance(holder, MappingNode):
        return None
    for k, v in holder.value:
        if isinstance(k, ScalarNode) and k.value == "uses" and isinstance(v, ScalarNode):
            ref = str(v.value).split("@", 1)[0]
            owner, _, repo = ref.partition("/")
            if owner in ("actions", "github") and repo:
                return str(repo.split("/", 1)[0])
            return re.sub(r"-actions?$", "", owner) or None
    return None


def _holder_of(root: Node, path: tuple[Any, ...]) -> Node | None:
    """The mapping at ``path`` (the step that holds a ``with:``)."""
    from yaml import MappingNode, ScalarNode, SequenceNode

    node: Node | None = root
    for part in path:
        if isinstance(node, MappingNode):
            node = next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == part), None)
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return None
    return node


def analyze(text: str, raws: Collection[str]) -> list[Site]:
    """Where each secret sits in the workflow and what it is called there."""
    root = _compose(text)
    if isinstance(root, str) or root is None:
        why = root if isinstance(root, str) else "an empty workflow"
        return [Site(line=n, kind="manual", raw=r, value=r, manual=why)
                for r in raws for n, line in enumerate(text.splitlines(), 1) if r in line]
    sites: list[Site] = []
    for path, node, _holder in _scalars(root):
        hits = [r for r in raws if r and r in node.value]
        if not hits:
            continue
        line = node.start_mark.line + 1
        key = str(path[-1]) if path else None
        if path and isinstance(path[-1], int):  # a list item: name the key that holds the list
            key = f"{path[-2]}[{path[-1]}]" if len(path) >= 2 else f"[{path[-1]}]"
        parent_key = path[-2] if len(path) >= 2 else None
        src = text[node.start_mark.index:node.end_mark.index]
        for r in hits:
            if parent_key not in _EXPRESSION_KEYS or not isinstance(key, str):
                sites.append(Site(line=line, kind="manual", raw=r, value=r, manual=(
                    f"in `{key}:`, where a secret expression is not passed on safely: add `env: {{NAME}}: "
                    "${{ secrets.{NAME} }}` to the step, use \"${NAME}\" there, and create the secret with "
                    "`gh secret set {NAME}`" if key == "run" else
                    f"in `{key}:`, not an env/with value: replace it by hand with ${{{{ secrets.{{NAME}} }}}} "
                    "and create the secret with `gh secret set {NAME}`")))
                continue
            if r not in src or src.count(r) != node.value.count(r):
                sites.append(Site(line=line, kind="manual", raw=r, value=r, manual=(
                    "written with escapes or line folding: replace it by hand with ${{ secrets.{NAME} }}")))
                continue
            scope = _uses_scope(_holder_of(root, path[:-2])) if parent_key == "with" else None
            env_key = key if parent_key == "env" else None
            sites.append(Site(line=line, kind="workflow", raw=r, value=r, hint=key, scope=scope, env_key=env_key))
    for k in _keys(root):
        for r in raws:
            if r and r in k.value:
                sites.append(Site(line=k.start_mark.line + 1, kind="manual", raw=r, value=r,
                                  manual="in a mapping key: remove it by hand"))
    covered = {s.raw for s in sites}
    for r in raws:
        if r in covered:
            continue
        sites += [Site(line=n, kind="manual", raw=r, value=r, manual="in a YAML comment: remove it by hand")
                  for n, line in enumerate(text.splitlines(), 1) if r in line]
    return sites


def rewrite(text: str, names: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(new text, None) with each secret under env/with/credentials replaced by its ``${{ secrets.NAME }}``
    expression, or (None, why) when the result would not read as intended."""
    root = _compose(text)
    if isinstance(root, str) or root is None:
        return None, root if isinstance(root, str) else "an empty workflow"
    edits: list[tuple[int, int, str]] = []
    expected: dict[tuple[Any, ...], str] = {}
    for path, node, holder in _scalars(root):
        if len(path) < 2 or path[-2] not in _EXPRESSION_KEYS:
            continue
        hits = sorted((r for r in names if r and r in node.value), key=len, reverse=True)
        if not hits:
            continue
        start, end = node.start_mark.index, node.end_mark.index
        src, value = text[start:end], node.value
        for r in hits:
            src = src.replace(r, expression(names[r]))
            value = value.replace(r, expression(names[r]))
        if node.style is None and getattr(holder, "flow_style", False):
            # `env: {T: value}`: braces end a plain scalar in a flow mapping, so the expression is quoted there.
            src = "'" + src.replace("'", "''") + "'"
        edits.append((start, end, src))
        expected[path] = value
    out = text
    for start, end, new in sorted(edits, reverse=True):
        out = out[:start] + new + out[end:]
    if out == text:
        return text, None
    check = _compose(out)
    if isinstance(check, str) or check is None:
        return None, "the rewritten workflow would not parse; fix it by hand"
    got = {path: node.value for path, node, _ in _scalars(check) if path in expected}
    if got != expected:
        return None, "the rewritten workflow would not read the expression as intended; fix it by hand"
    return out, None
