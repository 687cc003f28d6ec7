"""``hardening verify``: evaluate the hardening controls against a database and say why.

Exit status: 0 when no selected control fails, 1 when one does, 2 when verify could not run
(bad URL, no connection, unknown control id, no control selected, an output file that
cannot be written); the reason is one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from hardening.errors import VerifyError
from hardening.verify import controls, formats, runner
from hardening.verify.model import Report


def register(sub: Any) -> None:
    """Add ``verify [--url] [--format] [--scope] [--only] [--skip] [--probe] [-o] [--list]``
    to the ``hardening`` parser.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        args = hardening.cli.build_parser("verify").parse_args(["verify", "--scope", "kit"])
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "verify",
        help="check a database against the hardening controls (exit 1 when one fails)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help="database URL (default: DATABASE_URL)")
    parser.add_argument(
        "--format", choices=formats.FORMATS, default="text", help="output format (default text)"
    )
    parser.add_argument(
        "--scope",
        choices=("all", "kit", "server"),
        default="all",
        help="kit: what `hardening upgrade` fixes; server: server configuration (default all)",
    )
    parser.add_argument("--only", default="", help="comma-separated control ids to run")
    parser.add_argument("--skip", default="", help="comma-separated control ids to leave out")
    parser.add_argument(
        "--probe",
        action="store_true",
        help="also prove pgaudit logs a canary DDL, role change and write (scratch schema)",
    )
    parser.add_argument("--output", "-o", help="write the report to this file instead of stdout")
    parser.add_argument("--list", action="store_true", help="list the controls and exit")
    parser.set_defaults(func=run)


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def run(args: argparse.Namespace) -> int:
    """Run the selected controls with ``hardening.verify.runner.run`` and write the report.

    Args:
        args: the parsed ``verify`` arguments: ``url`` (None reads ``DATABASE_URL``),
            ``format`` (text, json, junit or sarif), ``scope`` (all, kit or server), ``only``
            and ``skip`` (comma-separated control ids), ``probe`` (also prove pgaudit logs a
            canary DDL, role change and write), ``output`` (a file instead of stdout) and
            ``list`` (print the catalog and stop).

    Returns:
        0 when no selected control fails, 1 when one does, 2 when verify could not run (the
        reason as one line on stderr).

    Example::

        hardening.cli.main(["verify", "--scope", "kit", "--format", "sarif",
                            "-o", "hardening.sarif", "--url", "postgresql://admin@db/app"])
    """
    if args.list:
        for c in controls.CONTROLS + controls.PROBES:
            print(f"{c.id:36} {c.scope:6} {c.severity:8} {c.title}")
        return 0
    try:
        if args.output:
            _check_writable(args.output)
        report = runner.run(
            args.url,
            only=_ids(args.only),
            skip=_ids(args.skip),
            scope=args.scope,
            probe=args.probe,
        )
        _write(report, args.format, args.output)
    except VerifyError as exc:
        print(f"hardening verify: {exc}", file=sys.stderr)
        return 2
    return report.exit_code


def _check_writable(path: str) -> None:
    """VerifyError, before anything runs, when the report could not be written to ``path``."""
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        problem = "it is a directory"
    elif not folder.is_dir():
        problem = (
            f"no such directory {folder}" if not folder.exists() else f"{folder} is not a directory"
        )
    elif not os.access(target if target.exists() else folder, os.W_OK):
        problem = "permission denied"
    else:
        return
    raise VerifyError(f"cannot write the report to {path}: {problem}")


def _write(report: Report, fmt: str, path: str | None) -> None:
    """The report in ``fmt`` to ``path`` (stdout when None)."""
    try:
        if fmt == "text":
            if path:
                with open(path, "w", encoding="utf-8") as out:
                    formats.render_text(report, Console(file=out, width=160, no_color=True))
            else:
                formats.render_text(report, Console())
            return
        text = formats.render(report, fmt)
        if path:
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
        else:
            sys.stdout.write(text)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise VerifyError(f"cannot write the report to {path or 'stdout'}: {reason}") from None
