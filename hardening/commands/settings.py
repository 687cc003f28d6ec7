"""``hardening settings``: list every setting, its -x name, env var, default, meaning and the
kit step that reads it (from the declarations of ``hardening.steps``, which load no Alembic)."""

from __future__ import annotations

import argparse
from typing import Any

from hardening import settings, steps


def register(sub: Any) -> None:
    """Add ``settings`` to the ``hardening`` parser.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        args = hardening.cli.build_parser("settings").parse_args(["settings"])
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "settings", help="list the kit's settings (-x name=value or HARDENING_<NAME>)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print every setting of the kit: its name, environment variable, default and meaning.

    Args:
        args: the parsed ``settings`` arguments (it takes none).

    Returns:
        0.

    Example::

        hardening.cli.main(["settings"])
        # audit_log  (HARDENING_AUDIT_LOG, default 'ddl, role, write') ...
    """
    for setting in sorted(settings.registry().values(), key=lambda s: s.name):
        where = f"{setting.env} only, never -x" if setting.env_only else setting.env
        step = steps.reading(setting.name)
        read_by = f"; read by step {step.id}" if step else ""
        print(f"{setting.name}  ({where}, default {setting.default!r}{read_by})\n    {setting.doc}")
    return 0
