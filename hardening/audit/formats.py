"""How ``hardening audit`` writes records: ``jsonl`` (one JSON object a line, the schema in
``record.schema.json``) or ``text`` (one line a record, for people)."""

from __future__ import annotations

import json
from collections.abc import Callable

from hardening.audit.record import AuditRecord

FORMATS = ("jsonl", "text")
TEXT_STATEMENT = 120  # characters of the statement a text line shows


def jsonl(record: AuditRecord) -> str:
    """The record as one line of JSON (no line break inside: a statement's are escaped).

    Args:
        record: a record from :func:`hardening.audit.read_log`.

    Example::

        sys.stdout.write(jsonl(record) + "\\n")
    """
    return json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":"))


def text(record: AuditRecord) -> str:
    """The record as one line for people: time, actor, role@database, class, command,
    object, and the start of the statement.

    Args:
        record: a record from :func:`hardening.audit.read_log`.

    Example::

        2024-05-01T12:00:00.123Z user:42 app@shop WRITE INSERT public.orders: INSERT INTO ...
    """
    statement = " ".join((record.statement or "<not logged>").split())
    if len(statement) > TEXT_STATEMENT:
        statement = statement[: TEXT_STATEMENT - 3] + "..."
    who = f"{_word(record.user or '?')}@{_word(record.database or '?')}"
    obj = f" {_word(record.object_name)}" if record.object_name else ""
    return (
        f"{record.time or '-'} {_word(record.actor or '-')} {who} {record.audit_class} "
        f"{record.command}{obj}: {statement}"
    )


def _word(value: str) -> str:
    """``value`` as one word of the line: JSON-quoted when it holds a space, a quote, a
    control character or a non-ASCII character, so no value can make a line look like two
    records or a field like another."""
    if value.isascii() and value.isprintable() and not any(c in value for c in ' "\\'):
        return value
    return json.dumps(value)


WRITERS: dict[str, Callable[[AuditRecord], str]] = {"jsonl": jsonl, "text": text}
