"""``hardening audit``: pgaudit records of server logs as JSON lines (or text), each with the
end user who acted (the actor ``hardening.audit.instrument`` carries), see docs/audit.md.

Exit status: 0 when every line was read; 1 when some lines could not be parsed (the records
that could are written all the same; a summary on stderr says which lines and why); 2 when
it could not run (a file that cannot be read, an unknown log form or prefix escape, a
server that cannot be asked its log_line_prefix); 130 when interrupted (``--follow``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from hardening import settings, sqlfiles
from hardening.audit.formats import FORMATS, WRITERS
from hardening.audit.reader import FORMS, AuditLog
from hardening.audit.source import Problem
from hardening.errors import AuditError


def register(sub: Any) -> None:
    """Add ``audit [LOGFILE ...] [--follow] [--format] [--log-format] [--log-line-prefix]
    [--url]`` to the ``hardening`` parser.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        args = hardening.cli.build_parser("audit").parse_args(["audit", "postgresql.csv"])
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "audit",
        help="read pgaudit records out of server logs as JSON lines, with the actor",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "logfiles",
        nargs="*",
        default=["-"],
        metavar="LOGFILE",
        help="server log files in the order written, - for stdin (default -)",
    )
    parser.add_argument("--follow", "-f", action="store_true", help="keep reading as it grows")
    parser.add_argument(
        "--format", choices=FORMATS, default="jsonl", help="output format (default jsonl)"
    )
    parser.add_argument(
        "--log-format",
        choices=FORMS,
        default="auto",
        help="the log's form (default auto: .csv csvlog, .json jsonlog, else the first line)",
    )
    parser.add_argument(
        "--log-line-prefix",
        default=None,
        help="the server's log_line_prefix, for the stderr form (default '%%m [%%p] ')",
    )
    parser.add_argument(
        "--url", help="read log_line_prefix from this server (any role may read it)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the audit records of ``args.logfiles`` to stdout, the summary to stderr.

    Args:
        args: the parsed ``audit`` arguments: ``logfiles``, ``follow``, ``format``,
            ``log_format``, ``log_line_prefix`` and ``url`` (see ``register``).

    Returns:
        0 when every line was read, 1 when some could not be parsed, 130 when interrupted;
        errors (a file that cannot be read, a server that cannot be asked) are raised as
        ``AuditError``, which ``hardening.cli`` prints as one line, exit 2.

    Example::

        hardening.cli.main(["audit", "--format", "text", "postgresql.json"])
    """
    prefix = args.log_line_prefix
    if prefix is None and args.url:
        prefix = server_log_line_prefix(args.url)
    write = WRITERS[args.format]
    log = AuditLog(
        list(args.logfiles),
        args.log_format,
        prefix,
        args.follow,
        on_problem=_report if args.follow else None,
    )
    out = sys.stdout
    try:
        for record in log:
            out.write(write(record) + "\n")
            if args.follow:
                out.flush()
        out.flush()
    except KeyboardInterrupt:
        print(f"hardening audit: interrupted; {log.summary()}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output stopped (| head): so do we
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more is written
        return 0
    print(f"hardening audit: {log.summary()}", file=sys.stderr)
    return 1 if log.problem_count else 0


def _report(problem: Problem) -> None:
    print(f"hardening audit: not parsed: {problem}", file=sys.stderr, flush=True)


def server_log_line_prefix(raw_url: str) -> str:
    """The ``log_line_prefix`` of the server at ``raw_url`` (any role may read it); an
    AuditError, one line without the password, when the server cannot be asked.

    Args:
        raw_url: the server's URL as given to ``--url`` (``postgresql://...``).

    Example::

        server_log_line_prefix("postgresql://auditor@db/shop")  # '%m [%p] %q%u@%d '
    """
    import psycopg

    url = settings.database_url({"url": raw_url})
    assert url is not None
    try:
        with psycopg.connect(settings.libpq_dsn(url), connect_timeout=10) as conn:
            row = conn.execute(sqlfiles.load("audit/log_settings.sql")).fetchone()
    except psycopg.Error as exc:
        reason = " ".join((exc.diag.message_primary or str(exc)).split())
        for secret in settings.url_secrets(url):
            reason = reason.replace(secret, "***")
        raise AuditError(
            f"cannot read log_line_prefix from {settings.display_url(url)}: {reason}; "
            "give it with --log-line-prefix instead"
        ) from None
    assert row is not None
    return str(row[0])
