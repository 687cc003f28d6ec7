"""``hardening sql upgrade|downgrade [REVISION]``: the SQL a run would execute, for review,
with the settings given as ``-x name=value`` (alembic's ``--sql`` mode: nothing connects; a
URL, if given, only chooses the dialect). ``upgrade`` renders from base to REVISION (default
head), ``downgrade`` from head down to REVISION (default base); ``FROM:TO`` sets both ends.

Exit status: 0 with the SQL on stdout, 2 when it could not be rendered (one line on stderr,
nothing on stdout).
"""

from __future__ import annotations

import argparse
import io
from typing import Any

from hardening.commands import add_target_options, migration_config


def register(sub: Any) -> None:
    """Add ``sql {upgrade,downgrade} [-x NAME=VALUE ...] [REVISION]`` to the ``hardening``
    parser.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        args = hardening.cli.build_parser("sql").parse_args(["sql", "downgrade", "base"])
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "sql",
        help="print the SQL of an upgrade or downgrade, for review",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("direction", choices=("upgrade", "downgrade"))
    parser.add_argument(
        "revision", nargs="?", help="target (upgrade: head, downgrade: base), or FROM:TO"
    )
    add_target_options(parser)
    parser.set_defaults(func=run)


def revision_range(direction: str, revision: str | None) -> str:
    """The ``FROM:TO`` range alembic's ``--sql`` mode renders for ``direction`` to ``revision``.

    Args:
        direction: ``upgrade`` or ``downgrade``.
        revision: the target, ``FROM:TO``, or None for the default (head, base).

    Example::

        revision_range("downgrade", "h004_least_privilege")  # 'head:h004_least_privilege'
    """
    if revision is not None and ":" in revision:
        return revision
    if direction == "upgrade":
        return revision or "head"  # alembic renders an upgrade from base
    return f"head:{revision or 'base'}"


def run(args: argparse.Namespace) -> int:
    """Print the SQL of the upgrade or downgrade on stdout.

    Args:
        args: the parsed ``sql`` arguments: ``direction``, ``revision``, ``url`` (optional:
            the dialect only) and ``x`` (the settings the SQL is rendered with).

    Returns:
        0.

    Example::

        hardening.cli.main(["sql", "upgrade", "-x", "audit_role=rds_pgaudit"])
        # BEGIN; CREATE TABLE hardening_version (...); ...
    """
    from hardening import migrate

    cfg = migration_config(args, connects=False)
    cfg.output_buffer = io.StringIO()  # printed whole once rendered: never half a script
    target = revision_range(args.direction, args.revision)
    migrate.run_command(args.direction, cfg, target, sql=True)
    print(cfg.output_buffer.getvalue(), end="")
    return 0
