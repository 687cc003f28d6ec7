"""``hardening current``: the kit's revision a database is at (``base`` when no step is
applied), read under the migrations' advisory lock, changing nothing.

Exit status: 0, 2 when the database cannot be read (one line on stderr).
"""

from __future__ import annotations

import argparse
import io
from typing import Any

from hardening.commands import add_target_options, migration_config


def register(sub: Any) -> None:
    """Add ``current [--url URL] [--verbose]`` to the ``hardening`` parser.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        args = hardening.cli.build_parser("current").parse_args(["current", "--url", url])
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "current", help="print the kit's revision the database is at", description=__doc__
    )
    add_target_options(parser)
    parser.add_argument("--verbose", "-v", action="store_true", help="also each revision's text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the revision of the kit the target database is at.

    Args:
        args: the parsed ``current`` arguments: ``url`` (None reads DATABASE_URL), ``x`` and
            ``verbose``.

    Returns:
        0.

    Example::

        hardening.cli.main(["current", "--url", "postgresql://admin:pw@db/app"])
        # h009_existing_objects (head)
    """
    from hardening import migrate

    cfg = migration_config(args)
    cfg.stdout = io.StringIO()  # alembic prints nothing at base
    migrate.run_command("current", cfg, verbose=args.verbose)
    print(cfg.stdout.getvalue().rstrip("\n") or "base (no step of the kit is applied)")
    return 0
