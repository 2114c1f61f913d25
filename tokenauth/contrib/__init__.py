"""Optional integrations; each subpackage imports its third-party library, nothing else does."""
