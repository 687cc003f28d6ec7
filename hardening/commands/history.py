"""``hardening history``: the kit's revisions, newest first, each with its one-line title
(what it changes: docs/migrations.md has the table). Reads no database.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add ``history [--verbose]`` to the ``hardening`` parser.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        args = hardening.cli.build_parser("history").parse_args(["history"])
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "history", help="list the kit's revisions, newest first", description=__doc__
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="the revisions in full")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the kit's revisions as ``alembic history`` does.

    Args:
        args: the parsed ``history`` arguments: ``verbose``.

    Returns:
        0.

    Example::

        hardening.cli.main(["history"])
        # h008_server_profile -> h009_existing_objects (head), pg-hardening: ...
    """
    from hardening import migrate

    migrate.run_command("history", migrate.config(), verbose=args.verbose)
    return 0
