"""The ``hardening`` command. Each subcommand lives in ``hardening.commands.<name>`` and provides
``register(subparsers)``, which adds its parser and sets ``func`` (returning the exit code).

Whatever a command does not handle itself, ``main`` turns into one line on stderr and exit
status 2: the kit's own errors (their messages name the object and the fix, never a secret)
and driver errors, of which only the server's or libpq's primary message is shown, because
SQLAlchemy's full text carries the statement's parameters (keys, plaintexts)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence

import psycopg
from sqlalchemy.exc import DBAPIError

import hardening.commands
from hardening import __version__
from hardening.envelope import EnvelopeError
from hardening.keys import EncryptionError
from hardening.ops import HardeningError
from hardening.rotation import RotationError
from hardening.settings import SettingsError
from hardening.verify import VerifyError

# The kit's errors: their messages are written for the user and hold no secret.
KIT_ERRORS: tuple[type[Exception], ...] = (
    EncryptionError,
    EnvelopeError,
    HardeningError,
    RotationError,
    SettingsError,
    VerifyError,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hardening", description="PostgreSQL hardening kit: migrations, encryption, verify."
    )
    parser.add_argument("--version", action="version", version=f"pg-hardening {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(hardening.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"hardening.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return func(args)
    except KeyboardInterrupt:
        print(f"hardening {args.command}: interrupted", file=sys.stderr)
        return 130
    except KIT_ERRORS as exc:
        print(f"hardening {args.command}: {exc}", file=sys.stderr)
        return 2
    except (DBAPIError, psycopg.Error) as exc:
        print(f"hardening {args.command}: database error: {driver_message(exc)}", file=sys.stderr)
        return 2


def driver_message(exc: BaseException) -> str:
    """The primary message of a driver error, on one line, without statement or parameters."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None)
    text = primary or str(orig)
    return " ".join(text.split()) or type(orig).__name__


if __name__ == "__main__":
    raise SystemExit(main())
