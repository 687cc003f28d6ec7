"""``hardening rotate``: re-encrypt a column's values under the active key, in batches."""

from __future__ import annotations

import argparse
import importlib
from types import TracebackType
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn
from sqlalchemy.types import TypeEngine

from hardening import settings, types
from hardening.crypto.keys import default_keyring
from hardening.crypto.rotation import at_least_one, rotate
from hardening.errors import RotationError

# The kit's column types by name (--type EncryptedText).
TYPES: dict[str, type[types.EncryptedBase[Any]]] = {
    name: value
    for name, value in vars(types).items()
    if isinstance(value, type)
    and issubclass(value, types.EncryptedBase)
    and value not in (types.EncryptedBase, types.EncryptedType, types.PGPType)
}

EXIT_STATUS = (
    "Exit status: 0 when every value is under the active key; 1 when rows remain under an "
    "older key (another writer kept writing them during every pass: run it again once every "
    "instance has the new key); 2 when it could not run or a row stopped it, with the reason "
    "as one line on stderr (batches committed before that row stay rotated; run it again "
    "after the fix)."
)


def register(sub: Any) -> None:
    """Add ``rotate --table T --column C [--url] [--schema] [--blind-index] [--batch-size]
    [--context] [--type]`` to the ``hardening`` parser.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        argv = ["rotate", "--table", "users", "--column", "ssn", "--blind-index", "ssn_bidx",
                "--type", "EncryptedText"]
        args = hardening.cli.build_parser("rotate").parse_args(argv)
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "rotate",
        help="re-encrypt every value of an encrypted column not under the active key",
        description=(
            "Keys come from HARDENING_KEYS (or HARDENING_KEYS_FILE); the first one is the "
            "target. Safe to interrupt and run again: rows already under it are skipped."
        ),
        epilog=EXIT_STATUS,
    )
    parser.add_argument("--url", help="database URL (default: DATABASE_URL)")
    parser.add_argument("--table", required=True)
    parser.add_argument("--column", required=True)
    parser.add_argument("--schema", default=None)
    parser.add_argument(
        "--blind-index",
        default=None,
        help="the column's blind-index column, recomputed (its values are checked first)",
    )
    parser.add_argument(
        "--batch-size", type=_batch_size, default=500, help="rows per transaction (default 500)"
    )
    parser.add_argument(
        "--context",
        default=None,
        help="the column's context if set in the model ([schema.]table.column)",
    )
    parser.add_argument(
        "--type",
        default=None,
        dest="column_type",
        metavar="TYPE",
        help=(
            "the column's type as the model declares it: module:Model.attribute (e.g. "
            "myapp.models:User.ssn), or a type of hardening.types (e.g. EncryptedText); every "
            "value moves to its form (fixed width, padding, bind_row), and it is needed with "
            "--blind-index for an AEAD column (the index hashes the value's canonical form); "
            "without it each value keeps its form"
        ),
    )
    parser.set_defaults(func=run)


def _batch_size(text: str) -> int:
    try:
        return at_least_one("--batch-size", int(text))
    except ValueError:
        pass  # raised below, outside the block
    raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")


def run(args: argparse.Namespace) -> int:
    """Move every value of the column to the active key with ``hardening.rotation.rotate``,
    with a progress bar, and print what moved.

    Errors (no URL, bad keys, a table or column that cannot be rotated, a row that stops
    the run, the database) are raised: ``hardening.cli`` prints them as one line, exit 2;
    see ``EXIT_STATUS``.

    Args:
        args: the parsed ``rotate`` arguments: ``url`` (None reads ``DATABASE_URL``);
            ``table``, ``column`` and ``schema`` (None: the connection's default schema)
            name the column; ``blind_index`` its blind-index column to recompute (None:
            none); ``batch_size`` the rows per transaction; ``context`` the column's
            ``context=`` if the model sets one (``[schema.]table.column``); ``column_type``
            the column's type (``module:Model.attribute`` or a ``hardening.types`` name),
            whose form every value is moved to (None: each value keeps its form; refused with
            a blind index of an AEAD column).

    Returns:
        0 when every value is under the active key, 1 when rows remain under an older key.

    Example::

        hardening.cli.main(["rotate", "--table", "users", "--column", "ssn",
                            "--blind-index", "ssn_bidx", "--type", "EncryptedText",
                            "--url", "postgresql://admin@db/app"])
    """
    url = settings.database_url({"url": args.url} if args.url else None)
    if url is None:
        raise RotationError("no target database: give --url or set DATABASE_URL")
    default_keyring()  # a missing or malformed key is reported before any connection
    with _Bar(f"{args.table}.{args.column}") as show:
        report = rotate(
            url,
            args.table,
            args.column,
            schema=args.schema,
            blind_index_column=args.blind_index,
            batch_size=args.batch_size,
            context=args.context,
            progress=show,
            column_type=column_type(args.column_type) if args.column_type else None,
        )
    print(
        f"{report.table}.{report.column}: {report.rotated} values moved to key "
        f"{report.key_id!r} in {report.passes} pass(es); {report.remaining} left"
    )
    return 0 if report.remaining == 0 else 1


def column_type(spec: str) -> TypeEngine[Any]:
    """The column type ``--type`` names: ``module:Model.attribute`` (an ORM attribute, a
    ``Column`` or a type instance, imported from the application) or the name of a type of
    ``hardening.types``; ``RotationError`` naming the spec otherwise.

    Args:
        spec: what ``--type`` was given.

    Example::

        column_type("myapp.models:User.ssn")    # EncryptedText(bind_row=True) as declared
    """
    module, colon, path = spec.partition(":")
    if not colon:
        if spec not in TYPES:
            raise RotationError(
                f"--type {spec!r} is not a column type of hardening.types ("
                + ", ".join(sorted(TYPES))
                + "); give one of them, or module:Model.attribute"
            )
        return TYPES[spec]()
    try:
        found: Any = importlib.import_module(module)
        for name in path.split("."):
            found = getattr(found, name)
    except (ImportError, AttributeError) as exc:
        raise RotationError(
            f"--type {spec!r} names nothing importable ({type(exc).__name__}); give "
            "module:Model.attribute or a type of hardening.types such as EncryptedInteger"
        ) from None
    if isinstance(found, type) and issubclass(found, TypeEngine):
        found = found()
    found = getattr(found, "type", found)  # an ORM attribute or a Column: its type
    if not isinstance(found, TypeEngine):
        raise RotationError(f"--type {spec!r} is a {type(found).__name__}, not a column type")
    return found


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

    def __enter__(self) -> _Bar:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.stop()  # before hardening.cli prints the error, if there is one
