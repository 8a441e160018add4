"""Where the ``import os`` a rewrite needs goes: the standard-library group, isort's order (before/after strings).

Each "after" is what isort (profile black) leaves unchanged, so a fixed file passes the project's import check.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from remediate.codemods import rewrite
from tests.remediate.test_codemods import _secret, fill

# (id, before, after); the secret is always named KEY
CASES = [
    ("after-future-before-third-party",
     'from __future__ import annotations\n\nimport requests\n\nKEY = "S1_PLACE"\n',
     'from __future__ import annotations\n\nimport os\n\nimport requests\n\nKEY = os.environ["KEY"]\n'),
    ("among-stdlib-alphabetical",
     'import json\nimport sys\n\nimport requests\nfrom app import x\n\nKEY = "S1_PLACE"\n',
     'import json\nimport os\nimport sys\n\nimport requests\nfrom app import x\n\nKEY = os.environ["KEY"]\n'),
    ("after-last-stdlib",
     'import json\n\nimport requests\n\nKEY = "S1_PLACE"\n',
     'import json\nimport os\n\nimport requests\n\nKEY = os.environ["KEY"]\n'),
    ("first-of-stdlib-group-takes-its-blank-line",
     '"""Doc."""\n\nfrom __future__ import annotations\n\nimport sys\n\nimport flask\n\nKEY = "S1_PLACE"\n',
     '"""Doc."""\n\nfrom __future__ import annotations\n\nimport os\nimport sys\n\nimport flask\n\n'
     'KEY = os.environ["KEY"]\n'),
    ("plain-imports-before-from-imports",
     'from pathlib import Path\n\nKEY = "S1_PLACE"\n',
     'import os\nfrom pathlib import Path\n\nKEY = os.environ["KEY"]\n'),
    ("plain-imports-first-then-from-imports",
     'import abc\nfrom collections import OrderedDict\nfrom typing import Any\n\nKEY = "S1_PLACE"\n',
     'import abc\nimport os\nfrom collections import OrderedDict\nfrom typing import Any\n\nKEY = os.environ["KEY"]\n'),
    ("force-sort-within-sections-style-kept",
     'from collections import OrderedDict\nimport sys\n\nKEY = "S1_PLACE"\n',
     'from collections import OrderedDict\nimport os\nimport sys\n\nKEY = os.environ["KEY"]\n'),
    ("only-third-party-own-group-first",
     'import requests\nfrom flask import Flask\n\nKEY = "S1_PLACE"\n',
     'import os\n\nimport requests\nfrom flask import Flask\n\nKEY = os.environ["KEY"]\n'),
    ("only-local-imports",
     'from . import models\n\nKEY = "S1_PLACE"\n',
     'import os\n\nfrom . import models\n\nKEY = os.environ["KEY"]\n'),
    ("section-comment-stays-with-its-group",
     '"""Doc."""\n\n# third party\nimport requests\n\nKEY = "S1_PLACE"\n',
     '"""Doc."""\n\nimport os\n\n# third party\nimport requests\n\nKEY = os.environ["KEY"]\n'),
    ("no-imports-after-docstring-keeps-blank-line",
     '"""Doc."""\n\nKEY = "S1_PLACE"\n',
     '"""Doc."""\n\nimport os\n\nKEY = os.environ["KEY"]\n'),
    ("no-imports-after-future",
     'from __future__ import annotations\n\nKEY = "S1_PLACE"\n',
     'from __future__ import annotations\n\nimport os\n\nKEY = os.environ["KEY"]\n'),
    ("header-comments-stay-on-top",
     '#!/usr/bin/env python\n# Copyright\n\nimport requests\n\nKEY = "S1_PLACE"\n',
     '#!/usr/bin/env python\n# Copyright\n\nimport os\n\nimport requests\n\nKEY = os.environ["KEY"]\n'),
    ("import-os-path-already-binds-os",
     'import os.path\n\nKEY = "S1_PLACE"\n',
     'import os.path\n\nKEY = os.environ["KEY"]\n'),
    ("shadowed-alias-next-to-import-os",
     'import os\n\nimport requests\n\n\ndef build(os):\n    return {"token": "S1_PLACE"}\n',
     'import os\nimport os as _os\n\nimport requests\n\n\ndef build(os):\n    return {"token": _os.environ["KEY"]}\n'),
]


@pytest.mark.parametrize(("before", "after"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_import_os_goes_into_the_stdlib_group(before: str, after: str) -> None:
    s1 = _secret()
    out = rewrite(fill(before, s1, ""), [s1], names={s1: "KEY"})
    assert out.ok, out.error
    assert out.code == fill(after, s1, "")


@pytest.mark.parametrize("after", [c[2] for c in CASES], ids=[c[0] for c in CASES])
def test_every_after_passes_the_import_order_check(after: str) -> None:
    """The "after" column is what isort accepts (ruff's implementation of it; the one case written in isort's
    force_sort_within_sections style is checked with that setting)."""
    style = ["--config", "lint.isort.force-sort-within-sections=true"] if after.startswith("from collections") else []
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", *style, "--select", "I", "--stdin-filename", "m.py", "-"],
        input=after.replace("S1_PLACE", "x"), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
