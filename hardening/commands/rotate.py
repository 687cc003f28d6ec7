"""``hardening rotate``: re-encrypt a column's values under the active key, in batches."""

from __future__ import annotations

import argparse
import sys
from types import TracebackType
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn

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
    with _Bar(f"{args.table}.{args.column}") as show:
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
            show.close()
            print(f"hardening rotate: {exc}", file=sys.stderr)
            return 1
    print(
        f"{report.table}.{report.column}: {report.rotated} values moved to key "
        f"{report.key_id!r} in {report.passes} pass(es); {report.remaining} left"
    )
    return 0 if report.remaining == 0 else 1


class _Bar:
    """The progress bar, drawn at its first report: ``rotate`` reports only once the table and
    columns are checked, so a refusal is not preceded by an empty bar."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None or self.task is None:
            self.bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __enter__(self) -> _Bar:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
