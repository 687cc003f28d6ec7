"""Subcommands of the ``hardening`` command: one module each, each with ``register(subparsers)``.

A module here is found by ``hardening.cli`` on its own; adding a command means adding a module
with two functions:

- ``register(sub)`` adds the command's parser to ``sub``, the subparsers action of the
  ``hardening`` parser, and sets the parser's default ``func`` to ``run``;
- ``run(args)`` does the work for the parsed ``argparse.Namespace`` and returns the exit
  status: 0 done, 1 when the command's check found something (a control failed, rows remain),
  2 when it could not run. What it raises, ``hardening.cli.main`` prints as one line (exit 2).

Example (a command ``hello``, in ``hardening/commands/hello.py``)::

    def register(sub: Any) -> None:
        parser = sub.add_parser("hello", help="greet")
        parser.add_argument("--name", default="world")
        parser.set_defaults(func=run)

    def run(args: argparse.Namespace) -> int:
        print(f"hello, {args.name}")
        return 0
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the migration commands import Alembic when they run, not at import
    from alembic.config import Config

# What the migration commands (upgrade, downgrade, current, history, sql) share: the target
# database and the kit's settings, given as alembic takes them, and the report of a run.


def _x_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--url`` and ``-x NAME=VALUE`` (repeatable), as ``alembic -x`` takes the kit's
    settings, to a migration command's parser.

    Args:
        parser: the command's parser.

    Example::

        parser = sub.add_parser("upgrade")
        add_target_options(parser)  # hardening upgrade --url ... -x audit_log=all head
    """
    parser.add_argument("--url", help="database URL (default: DATABASE_URL)")
    parser.add_argument(
        "-x",
        dest="x",
        action="append",
        default=[],
        type=_x_value,
        metavar="NAME=VALUE",
        help="a kit setting, as alembic's -x takes it (`hardening settings` lists them)",
    )


def migration_config(args: argparse.Namespace, *, connects: bool = True) -> Config:
    """The Alembic config of the kit's migrations for a parsed migration command: its ``-x``
    settings checked (an unknown name, or a secret on the command line, is refused before
    anything connects), and the target from ``--url``, else ``-x url=...``, else DATABASE_URL.

    Args:
        args: the parsed arguments, with ``url`` and ``x`` from ``add_target_options``.
        connects: False for a command that only renders SQL (the URL then is optional).

    Returns:
        ``hardening.migrate.config`` for that target and those settings.

    Example::

        cfg = migration_config(args)
        hardening.migrate.run_command("upgrade", cfg, "head")
    """
    from hardening import migrate, settings
    from hardening.errors import SettingsError

    x_args = dict(args.x)
    settings.check_x_args(x_args)
    raw = args.url or x_args.pop("url", None) or os.environ.get("DATABASE_URL")
    if not raw:
        if connects:
            raise SettingsError(
                "no target database: pass --url postgresql://user:password@host/database "
                "or set DATABASE_URL; nothing was changed"
            )
        return migrate.config(**x_args)
    return migrate.config(settings.database_url({"url": raw}), **x_args)


class _Steps(logging.Handler):
    """Keeps the steps alembic runs (its ``Running <step>`` log records)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg != "Running %s" or not isinstance(record.args, tuple):
            return
        step: Any = record.args[0]  # alembic's MigrationStep
        before = ", ".join(step.from_revisions_no_deps) or "base"
        after = ", ".join(step.to_revisions_no_deps) or "base"
        self.steps.append(f"{step.name} {before} -> {after}, {step.doc}")


@contextmanager
def reporting_steps(target: str) -> Iterator[None]:
    """Once the run in the block has committed, print each step it ran on stdout (``upgrade
    h003_password_policy -> h004_least_privilege, <title>``), or that there was nothing to do.
    A run that fails prints nothing there: it changed nothing.

    Args:
        target: the revision the run goes to, named when nothing was to be done.

    Example::

        with reporting_steps("head"):
            hardening.migrate.run_command("upgrade", cfg, "head")
    """
    logger = logging.getLogger("alembic.runtime.migration")
    handler, level = _Steps(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    for step in handler.steps:
        print(step)
    if not handler.steps:
        print(f"nothing to do: the database is at {target} already")


def run_migration(args: argparse.Namespace) -> int:
    """Run ``hardening upgrade`` or ``hardening downgrade`` (the command's name is alembic's):
    the target database to ``args.revision``, each step printed once the run has committed.

    Args:
        args: the parsed arguments: ``command`` (``upgrade`` or ``downgrade``), ``revision``,
            ``url`` (None reads DATABASE_URL) and ``x`` (the ``-x`` settings).

    Returns:
        0; what stops the run is raised, and ``hardening.cli.main`` prints it as one line
        (exit 2).

    Example::

        hardening.cli.main(["upgrade", "--url", "postgresql://admin:pw@db/app"])
        # upgrade h000_base -> h001_state, pg-hardening: the hardening schema: ...
    """
    from hardening import migrate

    cfg = migration_config(args)
    with reporting_steps(args.revision):
        migrate.run_command(args.command, cfg, args.revision)
    return 0


__all__ = ["add_target_options", "migration_config", "reporting_steps", "run_migration"]
