"""Read pgaudit records out of server logs: ``read_log(paths)`` is an iterable of
:class:`~hardening.audit.record.AuditRecord` that counts, and keeps, what it could not parse.

The log form is ``stderr`` (with the server's ``log_line_prefix``), ``csvlog`` or
``jsonlog``, or ``auto``: a ``.csv`` file is csvlog, a ``.json`` file jsonlog, otherwise
the first line decides. Entries that are not pgaudit records (checkpoints, connections,
errors) are counted as ``other``; lines that are not entries of the form, and pgaudit
payloads that are not what pgaudit writes, are problems: counted, kept (the first
``MAX_KEPT``), never dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Protocol

from hardening.audit import csvlog
from hardening.audit.csvlog import CsvlogForm
from hardening.audit.jsonlog import JsonlogForm
from hardening.audit.record import AuditRecord, LogEntry, MalformedRecord, audit_record, is_audit
from hardening.audit.source import FileEnd, Item, Line, Pause, Problem, read_lines
from hardening.audit.stderr import DEFAULT_PREFIX, StderrForm
from hardening.errors import LogFormatError

FORMS = ("auto", "stderr", "csvlog", "jsonlog")
MAX_KEPT = 100


class Form(Protocol):
    """A log form's reader: lines in, entries (and problems) out, as soon as each is whole."""

    name: str

    def feed(self, line: Line) -> list[LogEntry | Problem]:
        """The entries ``line`` completes (often none: an entry may continue)."""
        ...

    def pause(self) -> list[LogEntry | Problem]:
        """Following, nothing arrived for a while: entries that may be whole by now."""
        ...

    def file_end(self) -> list[LogEntry | Problem]:
        """The file ended: what was pending, whole or reported as cut."""
        ...


@dataclass
class AuditLog:
    """The audit records of server log files, in order, as they are iterated.

    After (or during) iteration: ``records`` audit records read, ``other`` log entries that
    are not audit records, ``problem_count`` and ``problems`` (the first ``MAX_KEPT``) for
    what could not be parsed, ``form`` the log form read.

    Args:
        sources: paths of the log files, in the order they were written (``-``: stdin).
        log_format: ``auto``, ``stderr``, ``csvlog`` or ``jsonlog``.
        log_line_prefix: the server's ``log_line_prefix``, for the stderr form.
        follow: keep reading the last source as it grows, until the caller stops.
        on_problem: called with each problem as it is found (e.g. to report it at once).

    Example::

        log = AuditLog(["pg-1.csv", "pg-2.csv"])
        writes = [r for r in log if r.audit_class == "WRITE"]
        if log.problem_count:
            print(f"{log.problem_count} lines not parsed, first: {log.problems[0]}")
    """

    sources: list[str | Path]
    log_format: str = "auto"
    log_line_prefix: str | None = None
    follow: bool = False
    on_problem: Callable[[Problem], None] | None = None
    records: int = 0
    other: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    form: str | None = None

    def __post_init__(self) -> None:
        if self.log_format not in FORMS:
            raise LogFormatError(
                f"unknown log form {self.log_format!r}: choose one of {', '.join(FORMS)}"
            )
        if self.follow and len(self.sources) != 1:
            raise LogFormatError("--follow reads one log file (or -): give exactly one")
        if not self.sources:
            raise LogFormatError("no log file given: name one, or - for standard input")
        if self.log_line_prefix is not None and self.log_format not in ("auto", "stderr"):
            raise LogFormatError(
                f"a log_line_prefix applies to the stderr form, not {self.log_format}"
            )

    def __iter__(self) -> Iterator[AuditRecord]:
        items = read_lines(self.sources, self.follow)
        first, items = _peek_line(items)
        form = self._form(first)
        self.form = form.name
        for item in items:
            if isinstance(item, Line):
                found = form.feed(item)
            elif isinstance(item, Pause):
                found = form.pause()
            else:
                found = form.file_end()
            for thing in found:
                record = self._record(thing)
                if record is not None:
                    yield record

    def _record(self, thing: LogEntry | Problem) -> AuditRecord | None:
        if isinstance(thing, Problem):
            self._problem(thing)
            return None
        if not is_audit(thing.message):
            self.other += 1
            return None
        try:
            record = audit_record(thing)
        except MalformedRecord as exc:
            self._problem(Problem(thing.file, thing.line, str(exc)))
            return None
        self.records += 1
        return record

    def _problem(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_KEPT:
            self.problems.append(problem)
        if self.on_problem is not None:
            self.on_problem(problem)

    def _form(self, first: Line | None) -> Form:
        chosen = self.log_format
        if chosen == "auto":
            chosen = detect(str(self.sources[0]), first.text if first else "")
        if chosen == "csvlog":
            return CsvlogForm()
        if chosen == "jsonlog":
            return JsonlogForm()
        return StderrForm(self.log_line_prefix or DEFAULT_PREFIX)

    def summary(self) -> str:
        """One line: what was read and what was not.

        Example::

            '120 audit records (csvlog), 3 other entries, 0 not parsed'
        """
        text = (
            f"{self.records} audit records ({self.form or self.log_format}), "
            f"{self.other} other entries, {self.problem_count} not parsed"
        )
        if self.problems:
            shown = "; ".join(str(p) for p in self.problems[:3])
            more = f"; and {self.problem_count - 3} more" if self.problem_count > 3 else ""
            text += f": {shown}{more}"
            if self.form == "stderr" and any("log_line_prefix" in p.reason for p in self.problems):
                text += (
                    f" (the log_line_prefix read was {self.log_line_prefix or DEFAULT_PREFIX!r}:"
                    " give the server's with --log-line-prefix, or --url to read it)"
                )
        return text


def read_log(
    sources: str | Path | Iterable[str | Path],
    *,
    log_format: str = "auto",
    log_line_prefix: str | None = None,
    follow: bool = False,
) -> AuditLog:
    """The audit records of one or more server log files (see :class:`AuditLog`).

    Args:
        sources: a path, or paths in the order the server wrote them; ``-`` is stdin.
        log_format: ``auto`` (default), ``stderr``, ``csvlog`` or ``jsonlog``.
        log_line_prefix: the server's ``log_line_prefix`` (stderr form; default ``%m [%p] ``).
        follow: keep reading the one source as it grows.

    Example::

        log = read_log("/var/log/postgresql/postgresql.json")
        for record in log:
            print(record.to_dict())
        print(log.summary())
    """
    paths = [sources] if isinstance(sources, str | Path) else list(sources)
    return AuditLog(paths, log_format, log_line_prefix, follow)


_JSON_START = re.compile(r"\s*\{")


def detect(name: str, first_line: str) -> str:
    """The log form of a file named ``name`` whose first line is ``first_line``.

    Args:
        name: the file's path (``-`` for stdin).
        first_line: its first non-empty line ("" when unknown).

    Example::

        >>> detect("postgresql.log", "2024-05-01 12:00:00.123 UTC,,,42,...")
        'csvlog'
    """
    if name.endswith(".csv"):
        return "csvlog"
    if name.endswith(".json"):
        return "jsonlog"
    if _JSON_START.match(first_line):
        return "jsonlog"
    if csvlog.looks_like_start(first_line):
        return "csvlog"
    return "stderr"


def _peek_line(items: Iterator[Item]) -> tuple[Line | None, Iterator[Item]]:
    """The first non-empty line (reading only until it), and every item still to come."""
    seen: list[Item] = []
    for item in items:
        seen.append(item)
        if isinstance(item, Line) and item.text.strip():
            return item, chain(seen, items)
        if isinstance(item, FileEnd | Pause):
            break
    return None, chain(seen, items)
