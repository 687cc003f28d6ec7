"""Benchmarks (``python -m bench [SUITE]``): the encrypted column types and the column
rewrites (``bench.encryption``), what pgaudit and the actor cost (``bench.audit``), and
``hardening verify`` at scale (``bench.verify_scale``)."""
