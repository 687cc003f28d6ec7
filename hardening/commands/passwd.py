"""``hardening passwd ROLE``: set a role's password under the kit's policy, hashed here.

The password is read without echo (twice), checked against ``hardening.password_policy``,
hashed with SCRAM-SHA-256 on this machine and sent as a verifier: the server, its logs and
pgaudit never see the plaintext. ``--password-stdin`` reads one line instead, for scripts.
Warnings (no HARDENING_PASSWORD_PEPPER to key the reuse history) print as one line on stderr.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import warnings
from typing import Any

import psycopg

from hardening import settings
from hardening.errors import HardeningError, PasswordError
from hardening.passwords import set_password


def register(sub: Any) -> None:
    """Add ``passwd ROLE [--url URL] [--password-stdin]`` to the ``hardening`` parser.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        args = hardening.cli.build_parser("passwd").parse_args(["passwd", "app_user"])
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "passwd", help="set a role's password: policy checked and SCRAM-hashed on the client"
    )
    parser.add_argument("role", metavar="ROLE", help="the role whose password to set")
    parser.add_argument("--url", help="database URL (default: DATABASE_URL)")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (one line)"
    )
    parser.set_defaults(func=run)


def _read_password(role: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"New password for {role}: ")
    if getpass.getpass("Repeat it: ") != first:
        raise PasswordError("the two passwords differ; nothing was changed")
    return first


def run(args: argparse.Namespace) -> int:
    """Read the password, then set it with ``hardening.passwords.set_password``.

    Args:
        args: the parsed ``passwd`` arguments: ``role`` (whose password to set), ``url``
            (the database; None reads ``DATABASE_URL``) and ``password_stdin`` (read one line
            from stdin instead of prompting twice without echo).

    Returns:
        0 when the password is set; 2 when it is not (no URL, the two entries differ, the
        policy refuses it, a privilege is missing, the database failed), with the reason as
        one line on stderr.

    Example::

        hardening.cli.main(["passwd", "app_user", "--url", "postgresql://pwadmin@db/app"])
    """
    try:
        url = settings.database_url({"url": args.url} if args.url else None)
        if url is None:
            raise PasswordError("no target database: set DATABASE_URL or pass --url")
        password = _read_password(args.role, args.password_stdin)
        with (
            psycopg.connect(settings.libpq_dsn(url)) as conn,
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            valid_until = set_password(conn, args.role, password)
        for warning in caught:
            print(f"hardening passwd: warning: {warning.message}", file=sys.stderr)
    except HardeningError as exc:
        print(f"hardening passwd: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        reason = exc.diag.message_primary or str(exc).strip().splitlines()[0]
        print(f"hardening passwd: {reason}", file=sys.stderr)
        return 2
    until = f"; valid until {valid_until:%Y-%m-%d %H:%M %Z}" if valid_until else ""
    print(f"password of role {args.role} set (SCRAM-SHA-256, hashed on this machine){until}")
    return 0
