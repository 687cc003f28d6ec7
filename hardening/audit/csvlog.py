"""The ``csvlog`` form: one CSV record per entry, a field holding line breaks quoted, so an
entry spans lines until its quotes balance. The message field holds pgaudit's payload, with
its own CSV quoting inside.

Columns (PostgreSQL 14 to 17; 13 lacks the last two, which are not read):
log_time, user_name, database_name, process_id, connection_from, session_id,
session_line_num, command_tag, session_start_time, virtual_transaction_id, transaction_id,
error_severity, sql_state_code, message, detail, hint, internal_query, internal_query_pos,
context, query, query_pos, location, application_name, backend_type, leader_pid, query_id.

Quotes are balanced only at the end of a record: a logged text cannot forge one (the server
doubles its quotes). Lines that do not make a record (a file that ends inside one, cut by
rotation or truncation; a stray line with a quote) give one problem up to the next line that
starts like a record, and reading resumes there: corrupt input costs its own lines only. A
file whose first lines continue a record from elsewhere gives one problem for them.
"""

from __future__ import annotations

import csv
import re

from hardening.audit.record import LogEntry, client_address, iso_time
from hardening.audit.source import Line, Problem

COLUMNS = 23  # up to application_name
_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [^\s,]+)?,")
CUT_END = "an entry whose quotes do not close before the end of the file (cut by rotation?)"
CUT_START = "continues an entry whose start is not in the input (cut by log rotation?)"


def looks_like_start(text: str) -> bool:
    """Whether a line starts like a csvlog record (its log_time, then a comma)."""
    return _START.match(text) is not None


class CsvlogForm:
    """Entries out of csvlog lines.

    Example::

        form = CsvlogForm()
        found = [*form.feed(Line("pg.csv", 1, text)), *form.file_end()]
    """

    name = "csvlog"

    def __init__(self) -> None:
        self._lines: list[Line] = []
        self._quotes = 0
        self._orphans: Problem | None = None

    def feed(self, line: Line) -> list[LogEntry | Problem]:
        if self._orphans is not None:
            if not looks_like_start(line.text):
                self._orphans.lines += 1
                return []
            self._orphans = None
        elif line.first and not self._lines and not looks_like_start(line.text):
            self._orphans = Problem(line.file, line.number, CUT_START)
            return [self._orphans]
        self._lines.append(line)
        self._quotes += line.text.count('"')
        if self._quotes % 2:
            return []
        return self._record()

    def pause(self) -> list[LogEntry | Problem]:
        return []  # an open quote means more lines are coming

    def file_end(self) -> list[LogEntry | Problem]:
        """Report an entry the file ends inside; the lines after its first are read again."""
        self._orphans = None
        pending, self._lines, self._quotes = self._lines, [], 0
        return self._recover(pending, CUT_END) if pending else []

    def _recover(self, lines: list[Line], reason: str) -> list[LogEntry | Problem]:
        """A problem for ``lines`` up to the next one that starts like a record, and what
        the lines from there on make, read again: corrupt input costs its own lines only."""
        rest = next(
            (i for i, line in enumerate(lines[1:], 1) if looks_like_start(line.text)), len(lines)
        )
        found: list[LogEntry | Problem] = [Problem(lines[0].file, lines[0].number, reason, rest)]
        for line in lines[rest:]:
            found.extend(self.feed(line))
        return found

    def _record(self) -> list[LogEntry | Problem]:
        lines, self._lines, self._quotes = self._lines, [], 0
        first = lines[0]
        try:
            rows = list(csv.reader(["\n".join(line.text for line in lines)], strict=True))
        except csv.Error as exc:
            return self._recover(lines, f"not a csvlog record ({exc})")
        if len(rows) != 1 or len(rows[0]) < COLUMNS:
            columns = len(rows[0]) if len(rows) == 1 else 0
            reason = f"a csvlog record has at least {COLUMNS} columns, this one {columns}"
            return self._recover(lines, reason)
        row = rows[0]
        host, _, port = row[4].rpartition(":") if row[4] != "[local]" else (row[4], "", "")
        return [
            LogEntry(
                message=row[13],
                time=iso_time(row[0]),
                user=row[1] or None,
                database=row[2] or None,
                application_name=row[22],
                client=client_address(host or row[4], port or None),
                pid=int(row[3]) if row[3].isdigit() else None,
                session_id=row[5] or None,
                file=first.file,
                line=first.number,
            )
        ]
