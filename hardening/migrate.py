"""Run the kit's own migrations from Python: the same env.py and versions the CLI uses."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL

import hardening


def config(url: URL | str | None = None, **x_args: str) -> Config:
    """An Alembic Config for the kit's migrations against ``url``, with ``-x`` settings."""
    location = str(Path(hardening.migrations_location()).parent)
    cfg = Config()
    cfg.set_main_option("script_location", location)
    args = [f"{name}={value}" for name, value in x_args.items()]
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        args.append(f"url={rendered}")
    cfg.cmd_opts = _XArgs(args)  # type: ignore[assignment]
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: URL | str, target: str = "head", **x_args: str) -> None:
    command.upgrade(config(url, **x_args), target)


def downgrade(url: URL | str, target: str = "base", **x_args: str) -> None:
    command.downgrade(config(url, **x_args), target)


class _XArgs:
    """The part of alembic's parsed command line that ``context.get_x_argument`` reads."""

    def __init__(self, x: list[str]) -> None:
        self.x = x
