"""auto_explain (issue 12, defect 1): with auto_explain preloaded, logging every plan with
``log_verbose = on``, the plans of the kit's pgcrypto columns carry the column's password and the
plaintext (custom plans fold bind values into constants), and on 16+ a ``Query Parameters:``
line lists every bind value. The kit's auto_explain step sets what the database level can, and
nothing of either reaches the server log after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from psycopg import sql
from sqlalchemy import create_engine, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from hardening import keys, migrate, steps
from hardening.keys import Keyring
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.verify import Result, Status, run
from tests.crypto.models import Base, Person, ring
from tests.migrations.catalog import diff, snapshot
from tests.migrations.helpers import db_settings
from tests.roles import execute, unique_roles

STEP = steps.named("auto_explain")
# auto_explain logs every plan, verbosely, for the whole server (postgresql.conf level): the
# database-level settings of the step must win over it.
AUTO_EXPLAIN = {
    "shared_preload_libraries": "pgaudit,auto_explain",
    "auto_explain.log_min_duration": "0",
    "auto_explain.log_verbose": "on",
}


@pytest.fixture
def explained(pg_server_factory: Callable[[dict[str, str]], PgServer]) -> PgServer:
    return pg_server_factory(AUTO_EXPLAIN)


@pytest.fixture
def keyring() -> Iterator[Keyring]:
    keyring = ring("k1")
    keys.configure_keys(keyring)
    yield keyring
    keys.configure_keys(None)


def secrets_logged(server: PgServer, url: URL, keyring: Keyring) -> dict[str, int]:
    """Writes and reads a row of pgcrypto columns through the kit's types; how many server log
    lines then hold the column's password, the plaintext, and a plan at all."""
    log = server.log_cursor()
    engine = create_engine(url)
    try:
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            session.add(Person(note="NOTE-PLAINTEXT-2", email="EMAIL-PLAINTEXT-3"))
            session.commit()
            assert session.scalars(select(Person.note)).one() == "NOTE-PLAINTEXT-2"
            assert session.scalars(select(Person).where(Person.id == 1)).one().email
    finally:
        Base.metadata.drop_all(engine)
        engine.dispose()
    lines = log.settle().splitlines()
    password = Person.__table__.c.note.type.cipher.pgp_password(keyring.active)  # type: ignore[attr-defined]
    return {
        "password": sum(password in line for line in lines),
        "plaintext": sum("PLAINTEXT" in line for line in lines),
        "plans": sum("Query Text:" in line for line in lines),
    }


def test_auto_explain_prints_no_key_and_no_plaintext_once_the_step_is_applied(
    explained: PgServer, keyring: Keyring
) -> None:
    with explained.database() as url:
        before = snapshot(libpq_dsn(url))
        roles = unique_roles()
        migrate.upgrade(url, STEP.down_revision or "", **roles)
        leaked = secrets_logged(explained, url, keyring)
        assert leaked["password"] > 0, leaked  # what the step is for: the test can fail
        assert leaked["plaintext"] > 0, leaked
        execute(libpq_dsn(url), "CREATE TABLE pgp_values (v bytea)")  # a pgcrypto column
        control = verify_control(url)
        assert control.status is Status.FAIL, control.detail
        assert "auto_explain.log_verbose = on (this session)" in control.detail

        migrate.upgrade(url, STEP.id)
        settings = db_settings(libpq_dsn(url))
        assert settings["auto_explain.log_verbose"] == "off"
        if explained.version >= 16:
            assert settings["auto_explain.log_parameter_max_length"] == "0"
        else:  # 15's auto_explain has no such parameter, and refuses the name once loaded
            assert "auto_explain.log_parameter_max_length" not in settings
        after = secrets_logged(explained, url, keyring)
        assert after["plans"] > 0, after  # auto_explain still logs the plans...
        assert after == {"password": 0, "plaintext": 0, "plans": after["plans"]}  # ...bare
        control = verify_control(url)
        assert control.status is Status.PASS, control.detail
        # a role that turns it back on is named
        execute(
            libpq_dsn(url),
            sql.SQL("ALTER ROLE {} IN DATABASE {} SET auto_explain.log_verbose = on").format(
                sql.Identifier(roles["audit_reader_role"]), sql.Identifier(str(url.database))
            ),
        )
        control = verify_control(url)
        assert control.status is Status.FAIL
        assert f"role {roles['audit_reader_role']} in database" in control.detail
        execute(
            libpq_dsn(url),
            sql.SQL("ALTER ROLE {} IN DATABASE {} RESET ALL").format(
                sql.Identifier(roles["audit_reader_role"]), sql.Identifier(str(url.database))
            ),
            "DROP TABLE pgp_values",
        )

        migrate.downgrade(url, "base", **roles)
        assert diff(before, snapshot(libpq_dsn(url))) == {}


def verify_control(url: URL) -> Result:
    return run(url, only=["auto_explain_bind_values"]).result("auto_explain_bind_values")


def test_the_control_passes_without_auto_explain_or_without_pgcrypto_columns(
    explained: PgServer, pg_server: PgServer
) -> None:
    with pg_server.database() as url:  # auto_explain not loaded
        execute(libpq_dsn(url), "CREATE EXTENSION pgcrypto", "CREATE TABLE t (v bytea)")
        control = verify_control(url)
        assert (control.status, control.detail) == (Status.PASS, "auto_explain is not loaded")
    with explained.database() as url:  # logging every plan verbosely, no pgcrypto columns
        execute(libpq_dsn(url), "CREATE EXTENSION pgcrypto", "CREATE TABLE t (v text)")
        control = verify_control(url)
        assert control.status is Status.PASS
        assert control.detail == "auto_explain logs plans; no pgcrypto columns here"


def test_the_step_applies_where_auto_explain_is_not_loaded(pg_server: PgServer) -> None:
    # Placeholders until the library is loaded: the settings wait for it.
    with pg_server.database() as url:
        before = snapshot(libpq_dsn(url))
        roles = unique_roles()
        migrate.upgrade(url, STEP.id, **roles)
        assert db_settings(libpq_dsn(url))["auto_explain.log_verbose"] == "off"
        migrate.downgrade(url, "base", **roles)
        assert diff(before, snapshot(libpq_dsn(url))) == {}
