"""Benchmarks (``python -m bench``): the encrypted column types, and what pgaudit and the actor
cost (``bench.audit``)."""
