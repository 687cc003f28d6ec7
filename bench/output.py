"""Where every suite of ``python -m bench`` prints its tables."""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["WIDTH", "report_console"]

WIDTH = 160  # columns when not a terminal: every suite's widest table fits, none is cut


def report_console() -> Console:
    """A console as wide as the terminal, or ``WIDTH`` columns when the output is piped or
    redirected (``make bench > bench.txt``, CI), where rich would otherwise assume 80 and cut
    the tables' labels and per-round figures.

    Example::

        report_console().print(table)
    """
    return Console(width=None if sys.stdout.isatty() else WIDTH)
