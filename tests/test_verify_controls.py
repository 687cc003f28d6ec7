"""`hardening verify`, control by control: each control fails on the bad state it is about and
names the object, and passes without it. Roles are cluster-wide: every test drops the roles
it creates."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from hardening.migrate import upgrade
from hardening.settings import libpq_dsn
from hardening.testing import PgServer
from hardening.testing.plugin import PgDatabase
from hardening.verify import Result, Status, run

CHECKS = Path(__file__).parents[1] / "sql" / "checks"

# Blocks of SQL copied verbatim into several query files (so each runs alone in psql), and
# the files that carry them: the queries that judge a setting a role or database can override
# (ALTER ROLE/DATABASE ... SET), and the queries that read pg_hba.conf's network rules.
SHARED_BLOCKS = {
    "setting_overrides": {
        "settings",
        "pgaudit_not_silenced",
        "pgaudit_role_nologin",
        "auto_explain_bind_values",
    },
    "hba_rules": {"hba_rules", "hba_remote_superuser"},
}


def _one(url: object, control_id: str) -> Result:
    report = run(url, only=[control_id])  # type: ignore[arg-type]
    assert [r.control.id for r in report.results] == [control_id]
    return report.results[0]


@pytest.fixture
def role(pg_database: PgDatabase) -> Iterator[str]:
    """A NOLOGIN role, dropped afterwards (with its ALTER ROLE ... SET overrides)."""
    name = f"verify_app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


# --- overrides in pg_db_role_setting ---------------------------------------------------------


def _block(text: str, name: str) -> str:
    start = text.index(f"-- {name} (shared")
    end = f"-- end {name}"
    return text[start : text.index(end, start) + len(end)]


@pytest.mark.parametrize("name", sorted(SHARED_BLOCKS))
def test_every_copy_of_a_shared_block_is_the_same(name: str) -> None:
    users = {p.stem for p in CHECKS.glob("*.sql") if f"-- {name} (shared" in p.read_text("utf-8")}
    assert users == SHARED_BLOCKS[name]
    blocks = {_block((CHECKS / f"{stem}.sql").read_text("utf-8"), name) for stem in users}
    assert len(blocks) == 1, f"the {name} block differs between query files"
    assert "%" not in blocks.pop()  # safe in queries that take %(name)s parameters


@pytest.mark.parametrize(
    ("control_id", "setting", "bad_value"),
    [
        ("pgaudit_log_parameter_off", "pgaudit.log_parameter", "on"),
        ("pgaudit_log_relation", "pgaudit.log_relation", "off"),
        ("pgaudit_log_catalog_off", "pgaudit.log_catalog", "yes"),
        ("pgaudit_role_nologin", "pgaudit.role", ""),
        ("log_parameter_max_length", "log_parameter_max_length", "-1"),
        ("log_parameter_max_length_on_error", "log_parameter_max_length_on_error", "64B"),
        ("password_encryption", "password_encryption", "md5"),
        ("log_min_messages", "log_min_messages", "error"),
        ("pgaudit_not_silenced", "log_min_messages", "panic"),
    ],
)
def test_a_role_level_override_fails_the_control_naming_the_role(
    pg_database: PgDatabase, role: str, control_id: str, setting: str, bad_value: str
) -> None:
    upgrade(pg_database.url)
    before = _one(pg_database.url, control_id)
    assert before.status is Status.PASS, before.detail
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} IN DATABASE {} SET {} = {}").format(
                sql.Identifier(role),
                sql.Identifier(pg_database.name),
                sql.SQL(setting),
                sql.Literal(bad_value),
            )
        )
    after = _one(pg_database.url, control_id)
    assert after.status is Status.FAIL
    assert role in after.detail
    assert pg_database.name in after.detail


def test_database_overrides_are_named_and_a_role_wide_value_replaced_here_is_not(
    pg_database: PgDatabase, role: str
) -> None:
    upgrade(pg_database.url)
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        # Role-wide md5, but this role's setting in this database says scram: not a finding.
        conn.execute(
            sql.SQL("ALTER ROLE {} SET password_encryption = 'md5'").format(sql.Identifier(role))
        )
        conn.execute(
            sql.SQL("ALTER ROLE {} IN DATABASE {} SET password_encryption = {}").format(
                sql.Identifier(role), sql.Identifier(pg_database.name), "scram-sha-256"
            )
        )
        assert _one(pg_database.url, "password_encryption").status is Status.PASS
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET log_min_messages = 'fatal'").format(
                sql.Identifier(pg_database.name)
            )
        )
    result = _one(pg_database.url, "log_min_messages")
    assert result.status is Status.FAIL
    assert f"database {pg_database.name}: log_min_messages = fatal" in result.detail
    silenced = _one(pg_database.url, "pgaudit_not_silenced")
    assert silenced.status is Status.FAIL
    assert silenced.evidence == [
        {
            "database": pg_database.name,
            "role": "(every role)",
            "setting": "log_min_messages = 'fatal' above pgaudit.log_level = 'log'",
            "drops": "every audit record",
        }
    ]


# --- each control fails on its bad state, naming the object --------------------------------------

# How to seed each control's bad state in a fresh database: SQL run as the superuser, with {r}
# a role name of the test's own (created here, dropped afterwards) and {db} the database.
# Role names start with "a_" so that they come before postgres in detail's first five.
SEEDS: dict[str, tuple[str, ...]] = {
    "md5_verifiers": ("CREATE ROLE {r} LOGIN PASSWORD {md5}",),
    "login_roles_without_password": ("CREATE ROLE {r} LOGIN",),
    "login_roles_without_expiry": ("CREATE ROLE {r} LOGIN PASSWORD 'x-unused-x'",),
    "approle_createdb": (  # NOLOGIN, but a login role can SET ROLE to it
        "CREATE ROLE {r} NOLOGIN CREATEDB",
        "CREATE ROLE {r2} LOGIN",
        "GRANT {r} TO {r2}",
    ),
    "approle_bypassrls": ("CREATE ROLE {r} NOLOGIN BYPASSRLS",),
    "approle_replication": ("CREATE ROLE {r} LOGIN REPLICATION",),
    "default_acl_public": (
        "CREATE ROLE {r} NOLOGIN",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {r} GRANT SELECT ON TABLES TO PUBLIC",
    ),
    "untrusted_languages": (  # no plperlu in the image: an untrusted language of our own
        "CREATE FUNCTION public.{handler}() RETURNS language_handler "
        "AS '$libdir/plpgsql', 'plpgsql_call_handler' LANGUAGE c",
        "CREATE LANGUAGE {r} HANDLER public.{handler}",
    ),
    "role_connection_limit": ("CREATE ROLE {r} LOGIN",),
    "pgaudit_role_nologin": (
        "CREATE ROLE {r} LOGIN",
        "ALTER DATABASE {db} SET pgaudit.role = {r_literal}",
    ),
    "group_roles_nologin": ("CREATE ROLE {r} LOGIN",),  # run with readonly_role = {r}
}


@pytest.mark.parametrize("control_id", sorted(SEEDS))
def test_control_fails_on_seeded_bad_state(pg_database: PgDatabase, control_id: str) -> None:
    r, r2 = f"a_seed_{uuid.uuid4().hex[:8]}", f"a_seed_member_{uuid.uuid4().hex[:8]}"
    names = {
        "r": sql.Identifier(r),
        "r2": sql.Identifier(r2),
        "handler": sql.Identifier(f"{r}_handler"),
        "db": sql.Identifier(pg_database.name),
        "r_literal": sql.Literal(r),
        "md5": sql.Literal("md5" + hashlib.md5(f"pw{r}".encode()).hexdigest()),  # noqa: S324
    }
    x_args = {"readonly_role": r} if control_id == "group_roles_nologin" else None
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        try:
            for statement in SEEDS[control_id]:
                conn.execute(sql.SQL(statement).format(**names))
            report = run(pg_database.url, only=[control_id], x_args=x_args)
        finally:
            for role in (r2, r):  # roles are cluster-wide: drop what this test made
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                    conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    result = report.results[0]
    assert result.status is Status.FAIL, result.detail
    assert r in result.detail
    if control_id == "approle_createdb":
        assert {"role": r, "can_login": False, "login_members": r2} in result.evidence


def test_a_nologin_createdb_role_nobody_can_log_in_as_is_not_a_finding(
    pg_database: PgDatabase, role: str
) -> None:
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(role)))
    result = _one(pg_database.url, "approle_createdb")
    assert role not in result.detail
    assert all(row["role"] != role for row in result.evidence)


def test_a_createdb_role_granted_without_the_set_option_is_not_a_finding(
    pg_database: PgDatabase, pg_server: PgServer, role: str
) -> None:
    """PostgreSQL 16+: a member granted WITH SET FALSE cannot SET ROLE to the CREATEDB role,
    so it cannot create databases through it; WITH SET TRUE makes it a finding again."""
    if pg_server.version < 16:
        pytest.skip("GRANT ... WITH SET FALSE exists from PostgreSQL 16")
    member = f"a_member_{uuid.uuid4().hex[:8]}"
    names = {"r": sql.Identifier(role), "m": sql.Identifier(member)}
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {r} CREATEDB").format(**names))
        conn.execute(sql.SQL("CREATE ROLE {m} LOGIN").format(**names))
        try:
            conn.execute(sql.SQL("GRANT {r} TO {m} WITH SET FALSE").format(**names))
            without_set = _one(pg_database.url, "approle_createdb")
            conn.execute(sql.SQL("GRANT {r} TO {m} WITH SET TRUE").format(**names))
            with_set = _one(pg_database.url, "approle_createdb")
        finally:
            conn.execute(sql.SQL("DROP ROLE {m}").format(**names))
    assert all(row["role"] != role for row in without_set.evidence), without_set.evidence
    assert {"role": role, "can_login": False, "login_members": member} in with_set.evidence


# --- SECURITY DEFINER search_path ----------------------------------------------------------------


def test_a_definer_search_path_through_a_writable_schema_or_without_pg_temp_is_found(
    pg_database: PgDatabase, role: str
) -> None:
    definer = "RETURNS int SECURITY DEFINER LANGUAGE sql AS 'SELECT 1'"
    with psycopg.connect(pg_database.dsn, autocommit=True) as conn:
        conn.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")  # the pre-15 default
        conn.execute(sql.SQL("CREATE SCHEMA app AUTHORIZATION {}").format(sql.Identifier(role)))
        for name, path in (
            ("open_path", "public, pg_temp"),
            ("temp_first", "pg_catalog"),
            ("others_schema", "pg_catalog, app, pg_temp"),
            ("safe", "pg_catalog, pg_temp"),
            ("safe_quoted", '"$user", pg_catalog, pg_temp'),
        ):
            conn.execute(f"CREATE FUNCTION public.{name}() {definer} SET search_path = {path}")
        conn.execute(
            f"CREATE FUNCTION public.owner_schema() {definer} SET search_path = app, pg_temp"
        )
        conn.execute(
            sql.SQL("ALTER FUNCTION public.owner_schema() OWNER TO {}").format(sql.Identifier(role))
        )
        try:
            result = _one(pg_database.url, "security_definer_search_path")
        finally:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    assert result.status is Status.FAIL
    problems = {row["function"]: row["problem"] for row in result.evidence}
    assert problems == {
        "open_path()": "PUBLIC has CREATE on schema public",
        "temp_first()": "pg_temp is not the last entry (it is searched first)",
        "others_schema()": f"{role} owns schema app",
    }


# --- superusers in pg_hba.conf -------------------------------------------------------------------

HBA_HEAD = (
    "local all all trust",
    "host all all 127.0.0.1/32 scram-sha-256",
    "hostssl all postgres 0.0.0.0/0 reject",  # the control's own fix text
    "hostssl all postgres ::/0 reject",
)
HBA_TAIL = (
    "hostssl all {su} 0.0.0.0/0 reject",
    "hostssl all {su} ::/0 reject",
    "hostssl all all 0.0.0.0/0 scram-sha-256",  # how the test's auditor connects
    "hostssl all all ::/0 scram-sha-256",
)


def _write_hba(dsn: str, hba_file: str, lines: tuple[str, ...]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("COPY (SELECT unnest({}::text[])) TO {}").format(
                sql.Literal(list(lines)), sql.Literal(hba_file)
            )
        )
        conn.execute("SELECT pg_reload_conf()")


def test_hba_rejecting_superusers_first_passes_and_a_group_rule_admitting_one_fails(
    pg_server_factory: Callable[[dict[str, str]], PgServer],
) -> None:
    # A server of its own: the test rewrites its pg_hba.conf and does not put it back.
    server = pg_server_factory({"cluster_name": "verify_hba"})
    su, group = f"su_{uuid.uuid4().hex[:8]}", f"admins_{uuid.uuid4().hex[:8]}"
    auditor, password = f"hba_auditor_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        row = conn.execute("SHOW hba_file").fetchone()
        assert row is not None
        hba_file = str(row[0])
        for statement in (
            "CREATE ROLE {su} SUPERUSER LOGIN",
            "CREATE ROLE {group} NOLOGIN",
            "CREATE ROLE {mid} NOLOGIN",
            "GRANT {group} TO {mid}",
            "GRANT {mid} TO {su}",  # a member of the group through another role
            # The postgres superuser will be rejected from the network: a non-superuser
            # auditor reads pg_hba_file_rules and rewrites the file.
            "CREATE ROLE {auditor} LOGIN PASSWORD {password}",
            "GRANT SELECT ON pg_hba_file_rules TO {auditor}",
            "GRANT EXECUTE ON FUNCTION pg_hba_file_rules() TO {auditor}",
            "GRANT EXECUTE ON FUNCTION pg_reload_conf() TO {auditor}",
            "GRANT pg_write_server_files TO {auditor}",
        ):
            conn.execute(
                sql.SQL(statement).format(
                    su=sql.Identifier(su),
                    group=sql.Identifier(group),
                    mid=sql.Identifier(f"{group}_mid"),
                    auditor=sql.Identifier(auditor),
                    password=sql.Literal(password),
                )
            )
    url = server.url_for("postgres", auditor, password)
    dsn = libpq_dsn(url)
    tail = tuple(line.format(su=su) for line in HBA_TAIL)
    group_rule = f"hostssl all +{group} 0.0.0.0/0 scram-sha-256"
    _write_hba(server.dsn, hba_file, (*HBA_HEAD, group_rule, *tail))
    admitted = _one(url, "hba_remote_superuser")
    assert admitted.status is Status.FAIL
    assert [(row["line"], row["superusers"]) for row in admitted.evidence] == [
        (len(HBA_HEAD) + 1, su)
    ]
    assert f"+{group}" in admitted.detail
    _write_hba(dsn, hba_file, (*HBA_HEAD, *tail))
    rejected = _one(url, "hba_remote_superuser")
    assert rejected.status is Status.PASS, rejected.detail
