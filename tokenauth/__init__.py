"""tokenauth: JWT access tokens and rotating refresh-token families for DRF."""

__version__ = "0.1.0"
