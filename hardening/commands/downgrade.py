"""``hardening downgrade REVISION``: undo the kit's steps above ``REVISION`` (``base``: all of
them), putting back exactly what each found, from an installed kit: the same env.py, advisory
lock and single transaction as ``alembic downgrade`` in a checkout.

Exit status: 0 done (each step undone is printed on stdout), 2 when the run could not be done
(one line on stderr; nothing changed). The server's NOTICEs (``server NOTICE: pg-hardening:
kept role ...`` with what to run once nothing needs the role) are said on stderr.
"""

from __future__ import annotations

import argparse
from typing import Any

from hardening.commands import add_target_options, run_migration


def register(sub: Any) -> None:
    """Add ``downgrade [--url URL] [-x NAME=VALUE ...] REVISION`` to the ``hardening`` parser.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        args = hardening.cli.build_parser("downgrade").parse_args(["downgrade", "base"])
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "downgrade",
        help="undo the kit's steps above REVISION (base: all of them)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("revision", help="target revision: base, a revision id, or e.g. -1")
    add_target_options(parser)
    parser.set_defaults(func=run_migration)
