"""Step server_settings: the rest of the server profile (``server_profile=on``), every CIS
PostgreSQL 17 server setting that configuration can fix beyond those of ``h008_server_profile``
(``hardening.profile.wanted``), TLS turned on, with ALTER SYSTEM + reload.

Like h008 it checks every value and records the prior ``postgresql.auto.conf`` values before
anything is written (``hardening.steps.system``). On top of that:

- ``shared_preload_libraries`` becomes the server's list plus the libraries the kit needs
  (pgaudit, auth_delay), each first loaded in this session to prove the server has it: a
  library the server cannot load would stop the next start. One it lacks is left out, said in
  one line.
- ``ssl = on`` only once the server reads the certificate and key files (``pg_read_binary_file``)
  and they hold a current PEM certificate and the unencrypted key that matches it; after the
  reload a TLS connection proves the server loaded them, else ``ssl`` and the file settings are
  put back. Without a usable certificate one line says so and ``ssl`` stays as it was.
- Settings that wait for a restart (``logging_collector``, ``unix_socket_permissions``,
  ``shared_preload_libraries``) are named in one line with how to restart; so are settings the
  server's command line sets, which ALTER SYSTEM cannot override.

Lines go to stderr, prefixed ``pg-hardening:``. Offline (``--sql``) the server cannot be asked,
so ``shared_preload_libraries`` and ``ssl`` are left out, with a line saying so.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping
from typing import Any

import psycopg
import sqlalchemy as sa
from alembic import context, op
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from sqlalchemy.exc import DBAPIError

from hardening import ops, steps
from hardening.ops import refuse_if
from hardening.profile import wanted
from hardening.steps import system
from hardening.steps.values import BOOLEANS, choice_setting, command, setting

WANTED = wanted.of_step("server_settings")
PARAMETERS = tuple(w.name for w in WANTED)
TLS_FILES = {"ssl_cert_file": "certificate", "ssl_key_file": "key"}
TLS_CONFIRM_SECONDS = 5.0


def say(line: str) -> None:
    """One line on stderr, prefixed ``pg-hardening:``.

    Args:
        line: the text, naming the setting and what to do.

    Example::

        say("step h011_server_settings left ssl as it was (off): ...")
    """
    print(f"pg-hardening: {line}", file=sys.stderr, flush=True)


def upgrade(step: str) -> None:
    """The rest of the profile with ALTER SYSTEM + reload, for a superuser on a self-managed
    server, after h008's profile (same run or earlier); nothing unless server_profile=on.

    Args:
        step: the revision id its changes are recorded under.

    Example::

        steps.named("server_settings").upgrade()  # what its revision's upgrade() runs
    """
    if choice_setting("server_profile", BOOLEANS) != "on":
        return
    _preflight(step)
    # a setting-driven value left empty (the certificate files, listen_addresses) is not set
    values = {w.name: v for w in WANTED if (v := w.value_from(setting)) or not w.setting}
    if context.is_offline_mode():
        for name in ("shared_preload_libraries", "auth_delay.milliseconds", "ssl", *TLS_FILES):
            values.pop(name, None)
        say(
            f"step {step} rendered as SQL leaves out shared_preload_libraries, "
            "auth_delay.milliseconds and ssl, which need the server's answers (its libraries, its "
            "certificate): apply it online, or set them by hand (hardening profile --format sql)"
        )
    else:
        _preload(step, values)
        _tls(step, values)
    for name, value in values.items():
        ops.call("check_system_setting", step, name, value, _source(name))
    for name in values:
        ops.call("record_system_setting", step, name)
    if context.is_offline_mode():
        system.write(step, values, PARAMETERS)
        say(_restart_line(step, sorted(set(values) & wanted.RESTART)))
        return
    running = _running(values)
    system.write(step, values, PARAMETERS)
    if "ssl" in values:
        _confirm_tls(step, values)
    _report(step, values, running)


def _source(name: str) -> str:
    return next((w.setting for w in WANTED if w.name == name), "")


def _preflight(step: str) -> None:
    """Refuse, before any change, a role or server the profile cannot apply to, and a database
    whose h008 profile is not set (alembic does not run an applied step again)."""
    ops.require(step, "superuser")
    refuse_if(
        "current_setting('allow_alter_system', true) = 'off'",
        f"pg-hardening: step {step} uses ALTER SYSTEM and this server sets "
        "allow_alter_system = off",
        "set the profile's parameters in the server configuration instead (hardening profile "
        "--format conf), or leave server_profile=off",
        "insufficient_privilege",
    )
    refuse_if(
        "NOT EXISTS (SELECT FROM pg_settings WHERE name = 'data_directory')",
        f"pg-hardening: step {step} needs a self-managed server where ALTER SYSTEM is allowed",
        "on RDS, Cloud SQL or Azure set these parameters in the parameter group / flags "
        "(hardening profile --format rds|cloudsql|azure|terraform), and leave server_profile=off",
        "insufficient_privilege",
    )
    profile = steps.named("server_profile")
    refuse_if(
        "NOT EXISTS (SELECT FROM hardening.applied WHERE step = :profile "
        "AND kind = 'system_setting')",
        f"pg-hardening: server_profile=on, but step {profile.id} was applied earlier with "
        f"server_profile=off, so its part of the server profile is not set (alembic does not "
        f"run an applied step again)",
        f"To set it: {command('downgrade', str(profile.down_revision))}, then "
        f"{command('upgrade', 'head', ['server_profile=on'])}; nothing was changed",
        "object_not_in_prerequisite_state",
        profile=profile.id,
    )


def _preload(step: str, values: dict[str, str]) -> None:
    """shared_preload_libraries: the server's list plus each library of the kit that this
    session can load; none missing, no entry."""
    bind = op.get_bind()
    # the value the server starts with next: its last line in the configuration files (an
    # earlier ALTER SYSTEM may wait for a restart), else the running one
    current = str(
        bind.execute(
            sa.text(
                "SELECT coalesce((SELECT setting FROM pg_file_settings "
                "WHERE name = 'shared_preload_libraries' AND error IS NULL "
                "ORDER BY seqno DESC LIMIT 1), current_setting('shared_preload_libraries'))"
            )
        ).scalar()
    )
    before = system.list_items(current)
    libraries = list(before)
    for library in wanted.PRELOAD:
        if library in libraries:
            continue
        try:
            with bind.begin_nested():
                bind.execute(sa.text(f"LOAD '{library}'"))  # a constant of the kit
        except DBAPIError as exc:
            say(
                f"step {step} left {library} out of shared_preload_libraries: the server cannot "
                f"load it ({system.server_message(exc)}); install it and add it by hand"
            )
            if library == "auth_delay":
                values.pop("auth_delay.milliseconds", None)
            continue
        libraries.append(library)
    if libraries == before:
        del values["shared_preload_libraries"]
    else:
        values["shared_preload_libraries"] = ",".join(libraries)


def _tls(step: str, values: dict[str, str]) -> None:
    """Keep ssl (and the file settings) in ``values`` only if the certificate is usable."""
    bind = op.get_bind()
    paths = {
        name: values.get(name) or str(bind.execute(sa.text(f"SHOW {name}")).scalar())
        for name in TLS_FILES
    }
    problem = tls_problem(bind, paths["ssl_cert_file"], paths["ssl_key_file"])
    if problem is None:
        return
    shown = str(bind.execute(sa.text("SHOW ssl")).scalar())
    for name in ("ssl", *TLS_FILES):
        values.pop(name, None)
    say(
        f"step {step} left ssl as it was ({shown}): {problem}. To turn TLS on, put a certificate "
        "and its key on the server and run the profile again with -x server_ssl_cert_file=... "
        "-x server_ssl_key_file=..."
    )


def tls_problem(bind: Any, cert_path: str, key_path: str) -> str | None:
    """Why the server could not use ``cert_path`` and ``key_path`` for TLS; None if it can.
    The files are read by the server (``pg_read_binary_file``, relative paths in the data
    directory), never shown.

    Args:
        bind: the migration's connection.
        cert_path: the certificate file, as the server names it.
        key_path: the private key file.

    Example::

        problem = tls_problem(op.get_bind(), "server.crt", "server.key")
    """
    data = {}
    for what, path in (("certificate", cert_path), ("key", key_path)):
        try:
            with bind.begin_nested():
                read = sa.text("SELECT pg_read_binary_file(:path)").bindparams(path=path)
                data[what] = bytes(bind.execute(read).scalar())
        except DBAPIError as exc:
            return f"the server cannot read the {what} file {path} ({system.server_message(exc)})"
    try:
        cert = x509.load_pem_x509_certificate(data["certificate"])
    except ValueError:
        return f"{cert_path} holds no PEM certificate"
    try:
        key = serialization.load_pem_private_key(data["key"], password=None)
    except TypeError:
        return f"the key in {key_path} is encrypted (the server would need ssl_passphrase_command)"
    except (ValueError, UnsupportedAlgorithm):
        return f"{key_path} holds no PEM private key"
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return (
            f"the certificate in {cert_path} is valid from {cert.not_valid_before_utc:%Y-%m-%d} "
            f"to {cert.not_valid_after_utc:%Y-%m-%d}, not now"
        )
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        return f"the key in {key_path} does not belong to the certificate in {cert_path}"
    return None


def _confirm_tls(step: str, values: Mapping[str, str]) -> None:
    """After the reload: a TLS connection to the server proves it loaded the files. If it did
    not (a key file the server refuses for its permissions, say), ssl and the file settings
    are put back and their records removed. A migration over a Unix socket cannot try."""
    info = op.get_bind().connection.driver_connection.info  # type: ignore[union-attr]
    if not info.host or info.host.startswith("/"):
        say(
            f"step {step} turned ssl on and could not try a TLS connection (this run connects "
            "over a Unix socket): before restarting, check the server log for SSL errors"
        )
        return
    reason = _tls_handshake(info)
    if reason is None:
        return
    names = [n for n in ("ssl", *TLS_FILES) if n in values]
    prior = [p for p in system.recorded(step) if p[0] in names]
    with op.get_context().autocommit_block():
        system.put_back(prior, PARAMETERS)
        system.forget(step, names)
    say(
        f"step {step} put ssl back as it was: after the reload the server did not accept a TLS "
        f"connection ({reason}); its log says why (a key file readable by others, say). "
        "Fix it and run the profile again"
    )


def _tls_handshake(info: Any) -> str | None:
    """None once a TLS connection to the server succeeds (retried while the reload settles),
    else libpq's reason."""
    import time

    deadline = time.monotonic() + TLS_CONFIRM_SECONDS
    while True:
        try:
            with psycopg.connect(
                host=info.host,
                port=info.port,
                dbname=info.dbname,
                user=info.user,
                password=info.password,
                sslmode="require",
                connect_timeout=5,
            ):
                return None
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split())
            if time.monotonic() > deadline:
                return reason
            time.sleep(0.2)


def _running(values: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """parameter -> (its running value, where it comes from), before the profile writes."""
    rows = op.get_bind().execute(
        sa.text(
            "SELECT name, setting, source FROM pg_settings "
            "WHERE name = ANY (CAST(:names AS text[]))"
        ).bindparams(names=list(values))
    )
    return {str(name): (str(value), str(source)) for name, value, source in rows}


def _differs(name: str, running: str, new: str) -> bool:
    if name == "unix_socket_permissions":
        return int(running, 8) != int(new, 8)
    if name in system.LISTS:
        return system.list_items(running) != system.list_items(new)
    return running.strip().lower() != new.strip().lower()


def _restart_line(step: str, names: list[str]) -> str:
    return (
        f"step {step} wrote {', '.join(names)}, which take effect when the server restarts; "
        "restart it (pg_ctl restart -D <data directory>, systemctl restart postgresql, or "
        "docker restart <container>) and run the same profile on every standby; until then "
        "hardening verify reports them as pending a restart"
    )


def _report(step: str, values: Mapping[str, str], running: Mapping[str, tuple[str, str]]) -> None:
    restart = sorted(
        name
        for name in set(values) & wanted.RESTART
        if name in running and _differs(name, running[name][0], values[name])
    )
    if restart:
        say(_restart_line(step, restart))
    pinned = sorted(n for n, (_, source) in running.items() if source == "command line")
    if pinned:
        say(
            f"step {step} wrote {', '.join(pinned)}, which the server's command line sets "
            "(postgres -c ...): ALTER SYSTEM takes no effect on them until that option goes"
        )


def downgrade(step: str) -> None:
    """Put back the recorded ALTER SYSTEM values (or RESET them), reload, forget the records.

    Args:
        step: the revision id its changes are recorded under.

    Example::

        steps.named("server_settings").downgrade()  # what its revision's downgrade() runs
    """
    system.downgrade(step, PARAMETERS)
