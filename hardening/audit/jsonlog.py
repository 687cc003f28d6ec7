"""The ``jsonlog`` form (PostgreSQL 15 and later): one JSON object per line, line breaks of
the message escaped, keys left out when empty (``user``, ``dbname``, ``remote_host``,
``remote_port``, ``application_name``...). A line that is not a JSON object (cut by rotation
or truncation, or another program's output) is a problem.
"""

from __future__ import annotations

import json
from typing import Any

from hardening.audit.record import LogEntry, client_address, iso_time
from hardening.audit.source import Line, Problem

NOT_JSON = "not a jsonlog entry (a JSON object with a message); cut by log rotation?"


class JsonlogForm:
    """Entries out of jsonlog lines.

    Example::

        form = JsonlogForm()
        found = form.feed(Line("pg.json", 1, text))
    """

    name = "jsonlog"

    def feed(self, line: Line) -> list[LogEntry | Problem]:
        if not line.text.strip():
            return []
        try:
            entry: Any = json.loads(line.text)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or not isinstance(entry.get("message"), str):
            return [Problem(line.file, line.number, NOT_JSON)]
        pid = entry.get("pid")
        return [
            LogEntry(
                message=entry["message"],
                time=iso_time(_text(entry.get("timestamp"))),
                user=_text(entry.get("user")),
                database=_text(entry.get("dbname")),
                application_name=_text(entry.get("application_name")),
                client=client_address(_text(entry.get("remote_host")), entry.get("remote_port")),
                pid=pid if isinstance(pid, int) else None,
                session_id=_text(entry.get("session_id")),
                file=line.file,
                line=line.number,
            )
        ]

    def pause(self) -> list[LogEntry | Problem]:
        return []

    def file_end(self) -> list[LogEntry | Problem]:
        return []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
