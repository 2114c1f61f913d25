"""Integrations with other packages, each imported only when its package is installed."""
