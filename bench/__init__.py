"""Benchmarks that print figures beside a raw PostgreSQL baseline (``make bench``)."""
