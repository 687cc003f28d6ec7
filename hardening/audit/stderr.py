"""The ``stderr`` log form: each entry is the server's ``log_line_prefix``, a severity, two
spaces and the message; a message over several lines continues on lines that start with a
tab (the server adds one after every line break), so a line without one starts an entry.

The prefix is read with a regular expression built from its escapes (``%m``, ``%p``, ``%u``,
``%d``, ``%a``, ``%r``, ``%h``, ``%c``... with optional padding such as ``%-10u``); what
follows ``%q`` is optional, as the server leaves it out for processes without a session.
Fields that may hold spaces (user, database, application) are matched as short as the rest
of the line allows: a prefix whose text values can contain the literal that follows them
(an application name holding `` client=``) is ambiguous in this form, which csvlog and
jsonlog are not. The kit's actor encoding never holds a space.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from hardening.audit.record import LogEntry, MalformedRecord, client_address, iso_time
from hardening.audit.source import Line, Problem
from hardening.errors import LogFormatError

# PostgreSQL's default log_line_prefix (10 and later)
DEFAULT_PREFIX = "%m [%p] "
UNKNOWN = "[unknown]"
CUT_START = "continues an entry whose start is not in the input (cut by log rotation?)"

_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [^\s\[\]]+)?"
# escape -> (group name or None, pattern); names repeat once at most per prefix
_ESCAPES: dict[str, tuple[str | None, str]] = {
    "a": ("application_name", r".*?"),
    "u": ("user", r".*?"),
    "d": ("database", r".*?"),
    "r": ("remote", r"\S*?"),
    "h": ("host", r"\S*?"),
    "b": (None, r".*?"),
    "p": ("pid", r"\d+"),
    "P": (None, r"\d*"),
    "t": ("time", _TIME),
    "m": ("time", _TIME),
    "n": ("epoch", r"\d+(?:\.\d+)?"),
    "i": (None, r".*?"),
    "e": (None, r"[0-9A-Z]{5}"),
    "c": ("session_id", r"[0-9a-f]+\.[0-9a-f]+"),
    "l": (None, r"\d+"),
    "s": (None, _TIME),
    "v": (None, r"\S*?"),
    "x": (None, r"\d*"),
    "Q": (None, r"-?\d*"),
}
_ESCAPE = re.compile(r"%(-?\d*)(.)")
_REMOTE = re.compile(r"(?P<host>.*?)\((?P<port>\d+)\)")


@dataclass(frozen=True)
class Prefix:
    """A compiled ``log_line_prefix``.

    Args:
        text: the server's ``log_line_prefix`` setting (``SHOW log_line_prefix``).

    Example::

        prefix = Prefix.compile("%m [%p] %q%u@%d app=%a ")
        entry = prefix.entry(["2024-05-01 12:00:00.123 UTC [42] app@shop app=web LOG:  hi"])
    """

    text: str
    regex: re.Pattern[str]

    @classmethod
    def compile(cls, text: str) -> Prefix:
        """The prefix ``text`` as a pattern; LogFormatError for an escape it does not know."""
        parts: list[str] = []
        optional_from: int | None = None
        seen: set[str] = set()
        pos = 0
        for found in _ESCAPE.finditer(text):
            parts.append(re.escape(text[pos : found.start()]))
            pos = found.end()
            padding, letter = found[1], found[2]
            if letter == "%":
                parts.append("%")
                continue
            if letter == "q":
                optional_from = optional_from if optional_from is not None else len(parts)
                continue
            if letter not in _ESCAPES:
                raise LogFormatError(
                    f"log_line_prefix {text!r} has the escape %{letter}, which the reader does "
                    "not know; give the prefix the server uses (SHOW log_line_prefix)"
                )
            name, pattern = _ESCAPES[letter]
            group = f"(?P<{name}>{pattern})" if name and name not in seen else f"(?:{pattern})"
            if name:
                seen.add(name)
            parts.append(rf" *{group} *" if padding else group)
        parts.append(re.escape(text[pos:]))
        if optional_from is not None:
            parts = [*parts[:optional_from], "(?:", *parts[optional_from:], ")?"]
        body = "".join(parts)
        regex = re.compile(rf"{body}(?P<severity>[A-Z][A-Z0-9]*):  (?P<message>.*)", re.DOTALL)
        return cls(text, regex)

    def entry(self, lines: list[str], file: str = "-", line: int = 0) -> LogEntry:
        """The entry made of a first line and its continuation lines (tab removed);
        MalformedRecord when the first line does not start with this prefix."""
        found = self.regex.fullmatch(lines[0])
        if found is None:
            raise MalformedRecord("the line does not start with the log_line_prefix")
        message = "\n".join([found["message"], *(more[1:] for more in lines[1:])])
        groups = found.groupdict()
        return LogEntry(
            message=message,
            time=iso_time(groups.get("time")) or _epoch(groups.get("epoch")),
            user=_known(groups.get("user")),
            database=_known(groups.get("database")),
            application_name=_known(groups.get("application_name")),
            client=_client(groups.get("remote"), groups.get("host")),
            pid=int(groups["pid"]) if groups.get("pid") else None,
            session_id=groups.get("session_id") or None,
            file=file,
            line=line,
        )


def _known(value: str | None) -> str | None:
    """A %u, %d or %a value; the server writes ``[unknown]`` for one it does not have."""
    return None if value in (None, "", UNKNOWN) else value


def _client(remote: str | None, host: str | None) -> str | None:
    if remote:
        found = _REMOTE.fullmatch(remote)
        return client_address(found["host"], found["port"]) if found else remote
    return host or None


def _epoch(text: str | None) -> str | None:
    if not text:
        return None
    moment = dt.datetime.fromtimestamp(float(text), dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StderrForm:
    """Entries out of stderr-form lines: a line without a leading tab starts one, the tab
    lines after it continue it. An entry is complete when the next one starts, at the end of
    a file, or (following) when no line came for a while.

    Args:
        prefix: the server's ``log_line_prefix`` (default PostgreSQL's ``%m [%p] ``).

    Example::

        form = StderrForm("%m [%p] %q%u@%d ")
        found = [*form.feed(Line("pg.log", 1, text)), *form.file_end()]
    """

    name = "stderr"

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = Prefix.compile(prefix)
        self._lines: list[Line] = []
        self._orphans: Problem | None = None

    def feed(self, line: Line) -> list[LogEntry | Problem]:
        if line.text.startswith("\t"):
            if self._lines:
                self._lines.append(line)
                return []
            if self._orphans is not None and self._orphans.file == line.file:
                self._orphans.lines += 1
                return []
            self._orphans = Problem(line.file, line.number, CUT_START)
            return [self._orphans]
        self._orphans = None
        done = self._flush()
        self._lines = [line]
        return done

    def pause(self) -> list[LogEntry | Problem]:
        return self._flush()

    def file_end(self) -> list[LogEntry | Problem]:
        self._orphans = None
        return self._flush()

    def _flush(self) -> list[LogEntry | Problem]:
        if not self._lines:
            return []
        first, texts = self._lines[0], [line.text for line in self._lines]
        self._lines = []
        try:
            return [self.prefix.entry(texts, first.file, first.number)]
        except MalformedRecord as exc:
            return [Problem(first.file, first.number, str(exc), len(texts))]
