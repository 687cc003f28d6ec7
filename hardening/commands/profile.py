"""``hardening profile``: print the server settings the kit wants (the server profile of steps
h008 and h011, ``shared_preload_libraries`` with pgaudit) in a platform's own form, for the
servers where the kit cannot set them itself: managed services (ALTER SYSTEM is refused
there), servers configured by files, and every standby (ALTER SYSTEM does not replicate).

Formats: ``conf`` (postgresql.conf lines), ``sql`` (ALTER SYSTEM statements), ``rds`` (the JSON
``aws rds modify-db-parameter-group --parameters file://...`` takes), ``cloudsql`` (the value
of ``gcloud sql instances patch --database-flags``), ``azure`` (``az postgres flexible-server
parameter set`` commands) and ``terraform`` (an ``aws_db_parameter_group`` resource).
Parameters a platform manages itself or names differently are mapped, or left out with the
reason (docs/migrations.md, *The server profile on every platform*, names the vendor page
each mapping comes from).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hardening import settings
from hardening.errors import SettingsError
from hardening.profile import render, wanted


def register(sub: Any) -> None:
    """Add ``profile --format FORMAT [-x name=value ...] [--pg-version N]`` to the
    ``hardening`` parser.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        args = hardening.cli.build_parser("profile").parse_args(["profile", "--format", "rds"])
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "profile",
        help="print the server settings the kit wants, as a platform takes them",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--format", choices=render.FORMATS, default="conf", help="default conf")
    parser.add_argument(
        "-x",
        dest="x",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a kit setting (server_log_statement, server_ssl_min_protocol_version, ...), as "
        "alembic -x takes it",
    )
    parser.add_argument(
        "--pg-version",
        type=int,
        default=17,
        help="PostgreSQL major version, for terraform's parameter group family (default 17)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the profile in ``args.format`` on stdout; notes that the format cannot hold as
    comments (what does not apply there and why, what needs a restart) go to stderr.

    Args:
        args: the parsed ``profile`` arguments: ``format`` (conf, sql, rds, cloudsql, azure or
            terraform), ``x`` (``name=value`` kit settings) and ``pg_version``.

    Returns:
        0. A setting that is not one, or a value the profile refuses, raises
        ``SettingsError`` (one line on stderr, exit 2).

    Example::

        hardening.cli.main(["profile", "--format", "rds", "-x", "server_log_statement=mod"])
    """
    x_args = {}
    for item in args.x:
        name, sep, value = item.partition("=")
        if not sep:
            raise SettingsError(f"-x {item!r} is not name=value")
        x_args[name.strip()] = value
    settings.check_x_args(x_args)
    values = wanted.check(lambda name: settings.get(name, x_args))
    text, notes = render.render(args.format, values, args.pg_version)
    sys.stdout.write(text)
    for note in notes:
        print(f"hardening profile: {note}", file=sys.stderr)
    return 0
