"""``hardening rotate``: re-encrypt a column's values under the active key, in batches."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from hardening import settings
from hardening.keys import EncryptionError, default_keyring
from hardening.rotation import RotationError, rotate


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "rotate",
        help="re-encrypt every value of an encrypted column not under the active key",
        description=(
            "Keys come from HARDENING_KEYS (or HARDENING_KEYS_FILE); the first one is the "
            "target. Safe to interrupt and run again: rows already under it are skipped."
        ),
    )
    parser.add_argument("--url", help="database URL (default: DATABASE_URL)")
    parser.add_argument("--table", required=True)
    parser.add_argument("--column", required=True)
    parser.add_argument("--schema", default=None)
    parser.add_argument("--blind-index", default=None, help="blind-index column to recompute")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--context", default=None, help="the column's context if set in the model (table.column)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        url = settings.database_url({"url": args.url} if args.url else None)
    except settings.SettingsError as exc:
        print(f"hardening rotate: {exc}", file=sys.stderr)
        return 2
    if url is None:
        print("hardening rotate: give --url or set DATABASE_URL", file=sys.stderr)
        return 2
    default_keyring()  # a missing or malformed key is reported before any connection
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(f"{args.table}.{args.column}", total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            report = rotate(
                url,
                args.table,
                args.column,
                schema=args.schema,
                blind_index_column=args.blind_index,
                batch_size=args.batch_size,
                context=args.context,
                progress=show,
            )
        except (EncryptionError, RotationError) as exc:
            print(f"hardening rotate: {exc}", file=sys.stderr)
            return 1
    print(
        f"{report.table}.{report.column}: {report.rotated} values moved to key "
        f"{report.key_id!r} in {report.passes} pass(es); {report.remaining} left"
    )
    return 0 if report.remaining == 0 else 1
