from __future__ import annotations

from unleak.fastpath import main

main()
