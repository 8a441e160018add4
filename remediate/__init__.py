"""unleak remediation: the only package that changes files or vaults."""
