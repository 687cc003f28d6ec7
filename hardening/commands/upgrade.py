"""``hardening upgrade [REVISION]``: apply the kit's migrations to a database, from an
installed kit (no alembic.ini needed): the same env.py as ``alembic upgrade`` in a checkout, so
the same advisory lock, one transaction for the whole run, and settings given as ``-x
name=value`` (checked before anything connects).

Exit status: 0 done (each step applied is printed on stdout), 2 when the run could not be done:
one line on stderr naming the problem and its fix, and nothing changed. The server's NOTICEs
and WARNINGs (``server NOTICE: ...``) and a ``-x`` value that took no effect are said on stderr.
"""

from __future__ import annotations

import argparse
from typing import Any

from hardening.commands import add_target_options, run_migration


def register(sub: Any) -> None:
    """Add ``upgrade [--url URL] [-x NAME=VALUE ...] [REVISION]`` to the ``hardening`` parser.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        args = hardening.cli.build_parser("upgrade").parse_args(["upgrade", "-x", "audit_log=all"])
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "upgrade",
        help="apply the kit's migrations (default: up to head)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "revision", nargs="?", default="head", help="target revision (default head, or e.g. +1)"
    )
    add_target_options(parser)
    parser.set_defaults(func=run_migration)
