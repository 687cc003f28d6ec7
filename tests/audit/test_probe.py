"""``hardening verify --probe`` sends one statement over 16 KB and says whether its audit
record arrives whole: through the server log (collector) and as NOTICEs, cut or dropped as a
log pipeline can, and not at all when DDL is not audited."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from hardening import cli
from hardening.settings import libpq_dsn
from hardening.testing.plugin import PgDatabase
from hardening.verify import Status, run
from hardening.verify.controls import get
from hardening.verify.model import Result
from hardening.verify.probe import LONG_STATEMENT, _long_record

PROBE = "probe_long_record_whole"


def _probe(url: URL) -> Result:
    report = run(url, only=["probe_ddl_audited", PROBE])
    return report.result(PROBE)


def test_the_long_record_arrives_whole_in_the_server_log(audited_database: URL) -> None:
    result = _probe(audited_database)
    assert result.status is Status.PASS, result.detail
    assert result.detail.startswith("the record of a 16.6 KB statement arrived whole in server log")
    assert result.detail.endswith("-head to check it there")
    assert "search the log pipeline downstream for " in result.detail
    assert result.evidence[0]["bytes"] > 16 * 1024


def test_the_long_record_arrives_whole_as_notices_and_the_cli_says_so(
    hardened_database: PgDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    """The test image logs to stderr without the collector: the probe reads NOTICEs."""
    url = hardened_database.url.render_as_string(hide_password=False)
    code = cli.main(["verify", "--url", url, "--only", PROBE, "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"status": "pass"' in out
    assert "arrived whole in NOTICEs on this connection" in out


def test_a_cut_or_dropped_record_fails_and_unaudited_ddl_skips(audited_database: URL) -> None:
    """The judgment applied to the real record as a pipeline would pass it on: cut at 16 KB,
    or lost while the short DDL canary's record came through."""
    control = get(PROBE)
    with psycopg.connect(libpq_dsn(audited_database), autocommit=True) as conn:
        conn.execute("SET pgaudit.log_client = on")
        conn.execute("SET pgaudit.log_level = notice")
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute("CREATE TABLE c (a int)")
        tag = "hardening-probe-test"
        text = f"{tag}-head {'x' * LONG_STATEMENT} {tag}-tail"
        conn.execute(sql.SQL("COMMENT ON TABLE c IS {}").format(sql.Literal(text)))
    record = next(n for n in notices if f"{tag}-head" in n)

    def judge(lines: list[str], ddl: bool = True) -> Result:
        return _long_record(control, lines, tag, 17000, ddl, {}, "a pipeline")

    assert judge([record]).status is Status.PASS
    cut = judge([record.encode()[:16384].decode(errors="ignore")])
    assert (cut.status, cut.detail) == (
        Status.FAIL,
        "the record of a 16.6 KB statement arrived cut to 16384 bytes in a pipeline",
    )
    dropped = judge(["AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,public.c,..."])
    assert dropped.status is Status.FAIL
    assert "never arrived in a pipeline, though the short DDL canary's did" in dropped.detail
    assert judge([], ddl=False).status is Status.SKIP


def test_without_the_ddl_class_the_probe_cannot_show_it(audited_database: URL) -> None:
    with psycopg.connect(libpq_dsn(audited_database), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET pgaudit.log = 'write'").format(
                sql.Identifier(str(audited_database.database))
            )
        )
    result = _probe(audited_database)
    assert (result.status, result.detail) == (
        Status.SKIP,
        "cannot show it: the canary DDL was not audited",
    )
