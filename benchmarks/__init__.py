"""Benchmarks against the peers (``make bench``) and the multi-process proof's server kit."""
