"""The ``hardening`` command. Each subcommand lives in ``hardening.commands.<name>`` and provides
``register(subparsers)``, which adds its parser and sets ``func`` (returning the exit code)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence

import hardening.commands
from hardening import __version__


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
    return func(args)


if __name__ == "__main__":
    raise SystemExit(main())
