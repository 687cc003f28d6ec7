"""``hardening settings``: list every setting, its -x name, env var, default and meaning."""

from __future__ import annotations

import argparse
from typing import Any

from hardening import settings


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "settings", help="list the kit's settings (-x name=value or HARDENING_<NAME>)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for setting in sorted(settings.registry().values(), key=lambda s: s.name):
        where = f"{setting.env} only, never -x" if setting.env_only else setting.env
        print(f"{setting.name}  ({where}, default {setting.default!r})\n    {setting.doc}")
    return 0
