"""Lines of server log files or of a stream, in order, for the form readers; with ``follow``,
new lines as they are written, across a file being replaced (rotation) or truncated.

Lines are split on ``\\n`` only (a ``\\r`` inside a logged statement stays in its line) and
decoded as UTF-8, an invalid byte read as U+FFFD. Between files, and wherever a followed
file was replaced, a ``FileEnd`` marker lets a form reader report an entry cut there; while
following, a ``Pause`` marker says no line came for a while, so an entry whose end cannot
be seen (stderr form) can be written out.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hardening.errors import LogFormatError

POLL_SECONDS = 0.2
PAUSE_SECONDS = 0.5


@dataclass(frozen=True)
class Line:
    """One line of a log (without its line break), where it came from, and whether it is
    the first of its file."""

    file: str
    number: int
    text: str
    first: bool = False


@dataclass(frozen=True)
class FileEnd:
    """The end of a file (or of a followed file that was replaced): nothing continues it."""

    file: str


@dataclass(frozen=True)
class Pause:
    """While following: no new line arrived for ``PAUSE_SECONDS``."""


@dataclass
class Problem:
    """Lines the reader could not parse: where they start, how many, and why (never their
    text, which may hold what the log should not show)."""

    file: str
    line: int
    reason: str
    lines: int = 1

    def __str__(self) -> str:
        span = f"{self.line}-{self.line + self.lines - 1}" if self.lines > 1 else str(self.line)
        return f"{self.file}:{span}: {self.reason}"


Item = Line | FileEnd | Pause


def read_lines(sources: Iterable[str | Path], follow: bool = False) -> Iterator[Item]:
    """Every line of each source in turn (``-`` is standard input), a ``FileEnd`` after each;
    with ``follow``, the last source is then followed until the caller stops.

    Args:
        sources: file paths, or ``-`` for standard input.
        follow: keep reading the last source as it grows (``tail -F``).

    Example::

        for item in read_lines(["postgresql-Mon.csv", "postgresql-Tue.csv"]):
            ...
    """
    names = [str(s) for s in sources]
    for index, name in enumerate(names):
        last = index == len(names) - 1
        if name == "-":
            yield from _stream_lines("-", _stdin(), follow and last)
            continue
        try:
            handle = open(name, "rb")  # noqa: SIM115 - closed below or by the follower
        except OSError as exc:
            raise LogFormatError(f"cannot read {name}: {exc.strerror or exc}") from None
        if follow and last:
            yield from _follow_file(name, handle)
        else:
            with handle:
                yield from _stream_lines(name, handle, False)


def _stdin() -> BinaryIO:
    import sys

    return sys.stdin.buffer


def _split(name: str, chunks: Iterable[bytes | None], start: int = 0) -> Iterator[Item]:
    """Lines out of byte chunks (None: a pause, or, at the end, flush the partial line)."""
    number = start
    pending = b""
    for chunk in chunks:
        if chunk is None:
            yield Pause()
            continue
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            number += 1
            yield Line(name, number, raw.decode("utf-8", "replace"), number == 1)
    if pending:
        number += 1
        yield Line(name, number, pending.decode("utf-8", "replace"), number == 1)
    yield FileEnd(name)


def _stream_lines(name: str, stream: BinaryIO, follow: bool) -> Iterator[Item]:
    if not follow:
        yield from _split(name, iter(lambda: stream.read(65536), b""))
        return

    def chunks() -> Iterator[bytes | None]:
        fd = stream.fileno()
        quiet = 0.0
        while True:
            ready, _, _ = select.select([fd], [], [], POLL_SECONDS)
            if not ready:
                quiet += POLL_SECONDS
                if quiet >= PAUSE_SECONDS:
                    quiet = float("-inf")  # one pause per quiet spell
                    yield None
                continue
            data = os.read(fd, 65536)
            if not data:
                return
            quiet = 0.0
            yield data

    yield from _split(name, chunks())


def _follow_file(name: str, handle: BinaryIO) -> Iterator[Item]:
    """``tail -F``: read what is there, then wait for more; a file replaced by another of
    the same name (rotation) or truncated is read again from its start."""
    while True:
        try:
            yield from _split(name, _grow(name, handle))
        finally:
            handle.close()
        handle = _reopen(name)


def _grow(name: str, handle: BinaryIO) -> Iterator[bytes | None]:
    """What is appended to ``handle``, a pause when a quiet spell starts; ends when the file
    at ``name`` was replaced or truncated."""
    quiet = 0.0
    while True:
        data = handle.read(65536)
        if data:
            quiet = 0.0
            yield data
        elif _was_replaced(name, handle):
            return
        else:
            time.sleep(POLL_SECONDS)
            quiet += POLL_SECONDS
            if quiet >= PAUSE_SECONDS:
                quiet = float("-inf")  # one pause per quiet spell
                yield None


def _was_replaced(name: str, handle: BinaryIO) -> bool:
    try:
        now = os.stat(name)
    except FileNotFoundError:
        return False  # between a rename and the new file: keep waiting
    mine = os.fstat(handle.fileno())
    return (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev) or now.st_size < handle.tell()


def _reopen(name: str) -> BinaryIO:
    deadline = time.monotonic() + 5
    while True:
        try:
            return open(name, "rb")
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise LogFormatError(f"{name} was rotated away and not created again") from None
            time.sleep(POLL_SECONDS)
