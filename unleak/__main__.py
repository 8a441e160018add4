from __future__ import annotations

from unleak.cli import main

main()
