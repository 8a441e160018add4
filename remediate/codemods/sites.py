"""What the Python codemods report about a file before anything is rewritten."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Site:
    """One place in a file where a secret sits (or where an environment read needs a change).

    ``raw`` is the secret as it is written in the source, ``value`` what the program gets at runtime (they differ
    when the literal has escape sequences). Both stay out of ``repr``.

    kind: assign | keyword | dict | call-arg | partial | comment | other | manual (cannot be rewritten, see
    ``manual``) | env-default (a literal default of an environment read) | dotenv-read (``dotenv_values()[KEY]``)
    | override (``load_dotenv(override=True)``, ``read_env(overwrite=True)``).
    """

    line: int
    kind: str
    raw: str = field(default="", repr=False)
    value: str = field(default="", repr=False)
    hint: str | None = None  # what the code calls it: variable, keyword, dict key
    scope: str | None = None  # where: class, callee, outer dict or variable
    env_key: str | None = None  # the environment variable the code reads (env-default, dotenv-read)
    manual: str | None = None  # why it cannot be rewritten automatically

