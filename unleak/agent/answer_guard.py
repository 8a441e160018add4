"""The last check on every MCP answer and audit record: a text that holds a vault value (or a value the run injected)
is withheld whole."""


from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scanner.errors import UnleakError

#: The one answer an agent gets when the guard finds a value form in what a tool produced. It is the same whatever
#: value, name, namespace or tool was involved: anything it varied with would be a channel for the value.
WITHHELD = "the answer was withheld because it contained a secret value"


#: Values shorter than this are not looked for in answers. Withholding is itself a yes/no answer about the text the
#: agent chose; for a short value the agent could plant every candidate and bisect. Long random values cannot be
#: guessed whole, and no partial match is ever reported.
GUARD_MIN_LENGTH = 12


def vault_values(repo: Path | None = None) -> dict[str, str]:
    """Every value in every namespace of the local vault, keyed by ``namespace/NAME``. Only the guard uses
    this; the values never leave this process except into a child's environment."""
    from remediate.vault import open_vault
    from unleak.userenv import data_dir

    out: dict[str, str] = {}
    vaults = data_dir() / "vaults"
    if not vaults.is_dir():
        return out
    for f in sorted(vaults.glob("*.vault")):
        with contextlib.suppress(UnleakError, OSError, ValueError):
            vault = open_vault(namespace=f.stem, repo_path=Path(tempfile.gettempdir()))
            for entry in vault.names():
                with contextlib.suppress(UnleakError, OSError, ValueError):
                    out[f"{f.stem}/{entry.name}"] = vault.get(entry.reference)
    return out


class AnswerGuard:
    """Defence in depth with a constant outcome: says whether any whole form (raw, base64, hex, url, JSON) of any
    known value occurs in a text. It never rewrites the text: a masked or marked *part* of an answer would tell
    the agent which of the strings it planted resembles a value (a prefix, a window), and that is an oracle."""

    def __init__(self, values: Mapping[str, str], *, min_length: int = GUARD_MIN_LENGTH) -> None:
        from unleak.masking import encoded_forms

        forms: set[str] = set()
        for value in values.values():
            if len(value) >= min_length:
                forms.update(f for f in encoded_forms(value) if len(f) >= min_length)
        self._automaton: Any = None
        if forms:
            import ahocorasick

            automaton = ahocorasick.Automaton()
            for form in forms:
                automaton.add_word(form, len(form))
            automaton.make_automaton()
            self._automaton = automaton

    def __repr__(self) -> str:  # never show values
        return "AnswerGuard()"

    def leaks(self, s: str) -> bool:
        """True when any form of any value occurs in ``s``."""
        if self._automaton is None or not s:
            return False
        text = s.encode("utf-8", errors="surrogatepass").decode("latin-1")
        return next(iter(self._automaton.iter(text)), None) is not None

    def text(self, s: str) -> str:
        """``s``, or the fixed withheld text when it holds a value (for the audit log, field by field)."""
        return WITHHELD if self.leaks(s) else s

    def answer_leaks(self, data: Any) -> bool:
        """Whether an answer leaks in any of the serialisations a client may show (text content, structured)."""
        return any(self.leaks(json.dumps(data, ensure_ascii=a, indent=i)) for a in (True, False) for i in (None, 1))


def guard_for_audit(values: Mapping[str, str]) -> AnswerGuard:
    """The audit log is not an answer: there every value the masker would mask (4+ characters) is looked for,
    and a field holding one is replaced whole."""
    from unleak.masking import MIN_MASK_LENGTH

    return AnswerGuard(values, min_length=MIN_MASK_LENGTH)
