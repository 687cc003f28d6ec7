"""Audit events from pgaudit, and the end user who acted.

- :func:`read_log` reads pgaudit records out of server logs (stderr, csvlog, jsonlog) as
  :class:`AuditRecord` objects; ``hardening audit`` writes them as JSON lines.
- :func:`actor` and :func:`instrument` put the end user who acted into every audit record
  of the statements run under it (through the connection's ``application_name``).

Importing this package changes nothing: ``instrument(engine)`` installs its one listener on
the engine it is given. See docs/audit.md.

Example::

    engine = hardening.audit.instrument(create_engine(url))
    with hardening.audit.actor("user:42"), engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET active = false WHERE id = :id"), {"id": 7})
    for record in hardening.audit.read_log("postgresql.csv"):
        print(record.actor, record.command, record.object_name)
"""

from hardening.audit.actor import actor, current_actor
from hardening.audit.instrument import instrument, uninstrument
from hardening.audit.reader import AuditLog, read_log
from hardening.audit.record import AuditRecord
from hardening.audit.source import Problem
from hardening.errors import ActorError, AuditError, LogFormatError

__all__ = [
    "ActorError",
    "AuditError",
    "AuditLog",
    "AuditRecord",
    "LogFormatError",
    "Problem",
    "actor",
    "current_actor",
    "instrument",
    "read_log",
    "uninstrument",
]
