"""Everything that knows detect-secrets: the pinned version, the adapter (the only importer of the library), the
gates derived from its plugins, and the UL95x rules built on it.

This package's own import is light (no detect-secrets, no rules): :mod:`scanner.filters` reads the notebook
constant from here, and the library itself is imported only when a gate opens on a chunk.
"""

from __future__ import annotations

import os
import re

from scanner.lazyre import lazy

# The detect-secrets release the gates' supersets and the plugin anchors were derived from (scanner.detect_secrets
# .gates); with any other installed version the gates stay open, which is slow but exact.
DETECT_SECRETS_VERSION = "1.5.0"

# nbformat splits media into a list of 76-character base64 lines: `"iVBORw0KGgo…\n",`. The adapter does not run
# detect-secrets on them and the notebook-media filter drops entropy hits on them.
NOTEBOOK_B64_LINE = lazy(r'^\s*"[A-Za-z0-9+/=]{60,}(?:\\n)?",?\s*$')


def installed_version() -> str | None:
    """detect-secrets' version without importing it or importlib.metadata (both cost tens of milliseconds on
    the pre-commit path): its ``__version__.py`` holds one assignment."""
    from importlib.util import find_spec

    try:
        spec = find_spec("detect_secrets")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    try:
        with open(os.path.join(os.path.dirname(spec.origin), "__version__.py"), encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return None
    m = re.search(r"""VERSION\s*=\s*['"]([^'"]+)['"]""", text)
    return m.group(1) if m else None
