"""Benchmarks of the encrypted column types (``python -m bench``)."""
