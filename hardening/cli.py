"""The ``hardening`` command. Each subcommand lives in ``hardening.commands.<name>`` (``_`` in
the module's name is ``-`` in the command's) and provides ``register(subparsers)``, which adds
its parser and sets ``func`` (returning the exit code).

Only the module of the command being run is imported (all of them for ``--help``), so a
command pays for its own dependencies only: ``hardening verify`` never loads Alembic.

A usage error (an argument missing or malformed) is one line on stderr naming the argument,
exit 2. Whatever a command does not handle itself, ``main`` turns into one line on stderr and
exit status 2: the kit's own errors (``hardening.errors.HardeningError`` and below: their messages
name the object and the fix, never a secret) and driver errors, of which only the server's or
libpq's primary message is shown, because SQLAlchemy's full text carries the statement's
parameters (keys, plaintexts)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

import hardening.commands
from hardening import __version__
from hardening.errors import HardeningError


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error printed as one line like the commands' own errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def command_names() -> list[str]:
    """The names of the ``hardening`` subcommands: the modules of ``hardening.commands``, with
    ``-`` for ``_`` (the module ``testing_image`` is the command ``testing-image``).

    Example::

        command_names()   # ['keygen', 'passwd', 'rotate', 'settings', 'testing-image', 'verify']
    """
    modules = pkgutil.iter_modules(hardening.commands.__path__)
    return sorted(m.name.replace("_", "-") for m in modules)


def command_module(name: str) -> str:
    """The module that implements the ``hardening`` subcommand ``name``.

    Args:
        name: a command's name, as ``command_names`` lists it.

    Example::

        command_module("testing-image")   # 'hardening.commands.testing_image'
    """
    return f"hardening.commands.{name.replace('-', '_')}"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or with ``only`` that one (imports just its module).

    Args:
        only: the name of the one command to add (see ``command_names``); None adds them all,
            which imports every command module (what ``hardening --help`` needs).

    Returns:
        The ``hardening`` parser; a parsed command's namespace carries ``func``, its runner.

    Example::

        args = build_parser("verify").parse_args(["verify", "--scope", "kit"])
        exit_code = args.func(args)
    """
    parser = _Parser(
        prog="hardening", description="PostgreSQL hardening kit: migrations, encryption, verify."
    )
    parser.add_argument("--version", action="version", version=f"pg-hardening {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in [only] if only else command_names():
        importlib.import_module(command_module(name)).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hardening`` command line (the ``hardening`` console script calls this).

    Args:
        argv: the arguments after the program name; None reads ``sys.argv[1:]``.

    Returns:
        The exit status: the command's own (0 done, 1 when its check found something, e.g. a
        control failed), 2 for a usage error or an error the kit reports as one line on
        stderr, 130 when interrupted. A bug is raised with its traceback.

    Example::

        status = main(["verify", "--scope", "kit", "--url", "postgresql://admin@db/app"])
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(first if first in command_names() else None)
    args = parser.parse_args(args_list)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return func(args)
    except KeyboardInterrupt:
        print(f"hardening {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = user_message(exc)
        if message is None:
            raise
        print(f"hardening {args.command}: {message}", file=sys.stderr)
        return 2


def user_message(exc: BaseException) -> str | None:
    """The one line to show for ``exc``, or None for a bug (which keeps its traceback).

    Args:
        exc: what a command raised. The kit's errors (``HardeningError``) give their message;
            a driver error (SQLAlchemy's ``DBAPIError``, ``psycopg.Error``) gives only the
            server's or libpq's primary message, never the statement or its parameters.

    Returns:
        The line without the ``hardening <command>:`` prefix, or None.

    Example::

        user_message(KeyConfigError("HARDENING_KEYS is not set"))   # 'HARDENING_KEYS is not set'
        user_message(ValueError("bug"))                              # None: keep the traceback
    """
    if isinstance(exc, HardeningError):
        return str(exc)
    sa_exc = sys.modules.get("sqlalchemy.exc")
    psycopg = sys.modules.get("psycopg")
    orig: BaseException | None = None
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError):
        orig = exc.orig
    elif psycopg is not None and isinstance(exc, psycopg.Error):
        orig = exc
    if orig is None:
        return None
    primary = getattr(getattr(orig, "diag", None), "message_primary", None)
    text = " ".join((primary or str(orig)).split()) or type(orig).__name__
    return f"database error: {text}"


if __name__ == "__main__":
    raise SystemExit(main())
