"""Benchmarks against the peers (``make bench``)."""
