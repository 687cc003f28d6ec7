"""Logs of a PostgreSQL server that writes all three forms at once (stderr with a prefix
that records every field, csvlog, jsonlog) through the logging collector, and a way to
take what each form gained since a mark into a local file, as a log shipper would."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from hardening import cli
from hardening.testing import PgServer

FORMS = ("stderr", "csvlog", "jsonlog")
PREFIX = "%m [%p] %q%u@%d app=%a client=%r session=%c "
SETTINGS = {
    "logging_collector": "on",
    "log_destination": "stderr,csvlog,jsonlog",
    "log_filename": "audit-test.log",  # csvlog/jsonlog files get .csv/.json instead of .log
    "log_line_prefix": PREFIX,
}
SUFFIX = {"stderr": ".log", "csvlog": ".csv", "jsonlog": ".json"}


@dataclass
class LogMark:
    """Where each form's file ended when the mark was taken."""

    server: PgServer
    offsets: dict[str, tuple[str, int]]

    @classmethod
    def now(cls, server: PgServer) -> LogMark:
        offsets: dict[str, tuple[str, int]] = {}
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            for form in FORMS:
                path = _current(conn, form)
                offsets[form] = (path, _size(conn, path))
        return cls(server, offsets)

    def texts(self, timeout: float = 10.0) -> dict[str, str]:
        """What each form's file gained since the mark, once a fresh marker line arrived in
        all of them (so everything logged before the call is there)."""
        tag = f"audit-test-mark-{uuid.uuid4().hex}"
        with psycopg.connect(self.server.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DO {}").format(sql.Literal(f"BEGIN RAISE LOG '{tag}'; END")))
            deadline = time.monotonic() + timeout
            while True:
                texts = {form: self._read(conn, form) for form in FORMS}
                if all(tag in text for text in texts.values()):
                    return texts
                if time.monotonic() > deadline:
                    missing = [form for form, text in texts.items() if tag not in text]
                    raise AssertionError(f"the mark never reached the {missing} log")
                time.sleep(0.05)

    def files(self, folder: Path, timeout: float = 10.0) -> dict[str, Path]:
        """``texts`` written to ``folder/audit<suffix>``, one file per form."""
        paths = {}
        for form, text in self.texts(timeout).items():
            path = folder / f"audit{SUFFIX[form]}"
            path.write_text(text, encoding="utf-8")
            paths[form] = path
        return paths

    def _read(self, conn: psycopg.Connection[Any], form: str) -> str:
        path, start = self.offsets[form]
        size = _size(conn, path)
        row = conn.execute(
            "SELECT pg_read_file(%s, %s, %s)", [path, start, max(size - start, 0)]
        ).fetchone()
        return str(row[0]) if row else ""


def _current(conn: psycopg.Connection[Any], form: str) -> str:
    row = conn.execute("SELECT pg_current_logfile(%s)", [form]).fetchone()
    assert row is not None
    assert row[0], f"the server writes no {form} log"
    return str(row[0])


def _size(conn: psycopg.Connection[Any], path: str) -> int:
    row = conn.execute("SELECT size FROM pg_stat_file(%s)", [path]).fetchone()
    return int(row[0]) if row else 0


def run_audit(
    capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, list[dict[str, Any]], str]:
    """``hardening audit ARGS`` in process: exit status, the JSON records, stderr."""
    capsys.readouterr()
    code = cli.main(["audit", *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def of_database(records: list[dict[str, Any]], database: str) -> list[dict[str, Any]]:
    return [r for r in records if r["database"] == database]


def without_position(record: dict[str, Any]) -> dict[str, Any]:
    """A record without where it was read (file and line differ between forms)."""
    return {k: v for k, v in record.items() if k not in ("log_file", "log_line")}
