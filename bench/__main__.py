"""``python -m bench [SUITE] [ARGS]``: run one benchmark suite; ``make bench`` runs them all.

A suite is a module with ``main(argv) -> int``; ``SUITES`` names them. A suite of its own is
added with one line here (and its module beside ``bench/encryption.py``):

    encryption     the encrypted column types against plaintext, and the column rewrites at
                   scale, on PostgreSQL 15 and 17, judged against the kit's targets (default)
    audit          what pgaudit costs at the kit's classes, and what an actor costs, on 15
                   and 17 (``bench/audit.py``)
    verify-scale   ``hardening verify`` on a database of 10,000 tables, 2,000 roles and 500
                   functions against an empty one (``bench/verify_scale.py``)

``python -m bench encryption --help`` lists a suite's arguments; arguments given without a
suite's name go to the default suite.
"""

from __future__ import annotations

import importlib
import sys

SUITES: dict[str, str] = {
    "encryption": "bench.encryption",
    "audit": "bench.audit",
    "verify-scale": "bench.verify_scale",
}
DEFAULT = "encryption"


def main(argv: list[str] | None = None) -> int:
    """Run the suite ``argv`` names (or the default one) with the rest of ``argv``.

    Args:
        argv: the command line after ``python -m bench``; None reads ``sys.argv``.

    Example::

        main(["encryption", "--versions", "15"])
    """
    args = list(sys.argv[1:] if argv is None else argv)
    name = args.pop(0) if args and args[0] in SUITES else DEFAULT
    suite = importlib.import_module(SUITES[name])
    code: int = suite.main(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
