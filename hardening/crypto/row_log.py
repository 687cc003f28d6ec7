"""SQLAlchemy's row log shows the kit's columns as ``[REDACTED]``.

With ``create_engine(..., echo="debug")`` (or the ``sqlalchemy.engine`` logger at DEBUG),
SQLAlchemy logs every fetched row, ``Row (1, '123-45-6789')``, after the result processors
ran: the decrypted values of both families. On an engine that uses the kit's types, the
engine hooks (``hardening.crypto.hooks``) wrap the engine's logger before each statement, so
a logged row shows ``'[REDACTED]'`` in place of every value of a column of the kit's types
(``Row (1, '[REDACTED]')``); the other columns, the SQL and the parameters (ciphertext for
AEAD columns, ``[REDACTED]`` for pgcrypto ones) are logged as before. Only the engine's own
logger object changes, never SQLAlchemy's classes or the ``logging`` tree.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import Engine
from sqlalchemy.log import InstanceLogger
from sqlalchemy.sql.util import _repr_row

from hardening.crypto.base import EncryptedBase

__all__ = ["RedactingLogger", "redact_rows"]

REDACTED = "'[REDACTED]'"


def redact_rows(engine: Engine) -> None:
    """Wrap ``engine``'s logger in a ``RedactingLogger`` unless it is one already (SQLAlchemy
    makes a new logger when ``engine.echo`` is set, so this is checked per statement).

    Args:
        engine: the engine a statement runs on.

    Example::

        redact_rows(connection.engine)
    """
    logger = engine.logger
    if not isinstance(logger, RedactingLogger):
        engine.logger = cast(InstanceLogger, RedactingLogger(logger))


class RedactingLogger:
    """An engine's logger whose logged rows show the kit's columns as ``'[REDACTED]'``;
    everything else is the wrapped logger's.

    Args:
        logger: the engine's logger (SQLAlchemy's ``InstanceLogger`` or a ``logging.Logger``).

    Example::

        engine.logger = RedactingLogger(engine.logger)
    """

    def __init__(self, logger: Any) -> None:
        self.wrapped = logger

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        """Log at DEBUG, a row (``Row %r``) with the kit's columns redacted."""
        if args and isinstance(args[0], _repr_row) and not isinstance(args[0], _RedactedRow):
            args = (_RedactedRow(args[0].row, args[0].max_chars), *args[1:])
        self.wrapped.debug(msg, *args, **kwargs)


class _RedactedRow(_repr_row):
    """A row's text for the log, the kit's columns shown as ``'[REDACTED]'``."""

    __slots__ = ()

    def __repr__(self) -> str:
        row = self.row
        hidden = _kit_positions(row)
        values = [
            REDACTED if v is not None and (hidden is None or i in hidden) else self.trunc(v)
            for i, v in enumerate(row)
        ]
        return f"({', '.join(values)}{',' if len(values) == 1 else ''})"


def _kit_positions(row: Any) -> set[int] | None:
    """The positions in ``row`` of columns of the kit's types, from its result metadata; None
    (every value is then redacted) when the metadata is not as SQLAlchemy 2 lays it out."""
    keymap = getattr(getattr(row, "_parent", None), "_keymap", None)
    if not isinstance(keymap, dict):
        return None
    hidden: set[int] = set()
    try:
        for record in keymap.values():
            index, objects = record[0], record[2]
            if index is not None and any(
                isinstance(getattr(o, "type", None), EncryptedBase) for o in objects or ()
            ):
                hidden.add(index)
    except (IndexError, TypeError):
        return None
    return hidden
