"""One audit event: a server log entry (whatever its form) and the pgaudit payload inside it.

pgaudit writes ``AUDIT: <type>,<statement id>,<substatement id>,<class>,<command>,<object
type>,<object name>,<statement>,<parameter>[,<rows>]`` as the message of a log entry; each
text field is quoted CSV-style when it holds a comma, a quote or a line break (pgaudit's
``append_valid_csv``), and the parameter field, when ``pgaudit.log_parameter`` is on, is
itself a CSV list of the values. ``<not logged>``, ``<previously logged>`` and ``<none>``
are markers, not text; ``<REDACTED>`` stands inside a statement for a password pgaudit hid.
The JSON of a record is specified by ``hardening/audit/record.schema.json``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from typing import Any

from hardening.audit.actor import split_application_name
from hardening.errors import AuditError

AUDIT_PREFIX = "AUDIT: "
NOT_LOGGED = "<not logged>"
PREVIOUSLY_LOGGED = "<previously logged>"
NO_PARAMETERS = "<none>"
AUDIT_TYPES = ("SESSION", "OBJECT")
_CLASS = re.compile(r"[A-Z_]+")
# log_error_verbosity = verbose puts the SQLSTATE before the message: "00000: AUDIT: ..."
_VERBOSE = re.compile(r"[0-9A-Z]{5}: (?=AUDIT: )")


class MalformedRecord(AuditError):
    """An entry whose text is not what its log form or pgaudit writes (internal: the reader
    counts it as a line it could not parse)."""


@dataclass(frozen=True)
class LogEntry:
    """A server log entry, in the fields every form (stderr with a prefix, csvlog, jsonlog)
    may carry; None where the form or the prefix does not record it."""

    message: str
    time: str | None = None
    user: str | None = None
    database: str | None = None
    application_name: str | None = None
    client: str | None = None
    pid: int | None = None
    session_id: str | None = None
    file: str = "-"
    line: int = 0


@dataclass(frozen=True)
class AuditRecord:
    """One pgaudit record, with the server log entry's context and the actor.

    ``statement`` is None when pgaudit did not log it (``pgaudit.log_statement = off``, or
    ``log_statement_once`` after the first record of a statement); ``parameter`` is None when
    not logged, ``[]`` for ``<none>``, else the values (SQL NULL and '' both read as '').
    ``time`` is ISO 8601 when the server logs in UTC or a numeric offset, else as logged.

    Example::

        for record in hardening.audit.read_log("postgresql.csv"):
            print(record.actor, record.audit_class, record.command, record.object_name)
    """

    time: str | None
    user: str | None
    database: str | None
    application: str | None
    actor: str | None
    client: str | None
    pid: int | None
    session_id: str | None
    audit_type: str
    statement_id: int
    substatement_id: int
    audit_class: str
    command: str
    object_type: str | None
    object_name: str | None
    statement: str | None
    parameter: list[str] | None
    rows: int | None
    log_file: str
    log_line: int

    def to_dict(self) -> dict[str, Any]:
        """The record as the JSON object ``hardening audit`` writes (record.schema.json)."""
        return {
            "time": self.time,
            "user": self.user,
            "database": self.database,
            "application": self.application,
            "actor": self.actor,
            "client": self.client,
            "pid": self.pid,
            "session_id": self.session_id,
            "audit_type": self.audit_type,
            "statement_id": self.statement_id,
            "substatement_id": self.substatement_id,
            "class": self.audit_class,
            "command": self.command,
            "object_type": self.object_type,
            "object_name": self.object_name,
            "statement": self.statement,
            "parameter": self.parameter,
            "rows": self.rows,
            "log_file": self.log_file,
            "log_line": self.log_line,
        }


def is_audit(message: str) -> bool:
    """Whether a log message is a pgaudit record."""
    return message.startswith(AUDIT_PREFIX) or _VERBOSE.match(message) is not None


def audit_record(entry: LogEntry) -> AuditRecord:
    """The pgaudit record in ``entry`` (whose message ``is_audit``); MalformedRecord when the
    payload is not what pgaudit writes (a record cut short, a field count that is off)."""
    payload = _VERBOSE.sub("", entry.message, count=1)[len(AUDIT_PREFIX) :]
    fields = _csv_fields(payload)
    if len(fields) not in (9, 10):
        raise MalformedRecord(f"the pgaudit payload has {len(fields)} fields, not 9 or 10")
    kind, statement_id, substatement_id, klass, command, otype, oname, stmt, param = fields[:9]
    if kind not in AUDIT_TYPES or not _CLASS.fullmatch(klass) or not command:
        raise MalformedRecord("the pgaudit payload does not start with type, ids, class, command")
    application, actor = split_application_name(entry.application_name)
    return AuditRecord(
        time=entry.time,
        user=entry.user,
        database=entry.database,
        application=application,
        actor=actor,
        client=entry.client,
        pid=entry.pid,
        session_id=entry.session_id,
        audit_type=kind,
        statement_id=_integer(statement_id, "statement id"),
        substatement_id=_integer(substatement_id, "substatement id"),
        audit_class=klass,
        command=command,
        object_type=otype or None,
        object_name=oname or None,
        statement=None if stmt in (NOT_LOGGED, PREVIOUSLY_LOGGED) else stmt,
        parameter=_parameters(param),
        rows=_integer(fields[9], "rows") if len(fields) == 10 else None,
        log_file=entry.file,
        log_line=entry.line,
    )


def _csv_fields(text: str) -> list[str]:
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error as exc:
        raise MalformedRecord(f"the pgaudit payload is not valid CSV ({exc})") from None
    if len(rows) != 1:
        raise MalformedRecord("the pgaudit payload is not one CSV record")
    return rows[0]


def _parameters(field: str) -> list[str] | None:
    if field in (NOT_LOGGED, PREVIOUSLY_LOGGED):
        return None
    if field == NO_PARAMETERS:
        return []
    return _csv_fields(field)


def _integer(text: str, what: str) -> int:
    if not text.isdigit():
        raise MalformedRecord(f"the pgaudit {what} is not a number")
    return int(text)


_UTC_TIME = re.compile(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) (?:UTC|GMT)")
_OFFSET_TIME = re.compile(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) ([+-]\d\d)(\d\d)?")


def iso_time(logged: str | None) -> str | None:
    """A logged time as ISO 8601 when its zone is UTC or a numeric offset, else unchanged.

    Args:
        logged: the time as PostgreSQL writes it (``%m``, ``%t``, csvlog, jsonlog).

    Example::

        >>> iso_time("2024-05-01 12:00:00.123 UTC")
        '2024-05-01T12:00:00.123Z'
    """
    if not logged:
        return None
    if found := _UTC_TIME.fullmatch(logged):
        return f"{found[1]}T{found[2]}Z"
    if found := _OFFSET_TIME.fullmatch(logged):
        return f"{found[1]}T{found[2]}{found[3]}:{found[4] or '00'}"
    return logged


def client_address(host: str | None, port: str | int | None = None) -> str | None:
    """``host:port`` (``[v6]:port`` for IPv6), or the host alone, or None.

    Args:
        host: the client's address or name, ``[local]`` for a Unix socket.
        port: the client's port, when the form records it.

    Example::

        >>> client_address("10.0.0.7", 51234)
        '10.0.0.7:51234'
    """
    if not host:
        return None
    if port in (None, ""):
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
