"""One module per command family; :mod:`unleak.cli` loads them on demand (the CLI layer: only it imports click)."""
