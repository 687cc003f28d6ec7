"""The server settings the kit wants, as data: what steps ``h008_server_profile`` and
``h011_server_settings`` set with ALTER SYSTEM on a self-managed server (``server_profile=on``),
and what ``hardening profile`` prints for every platform. Importing it loads no Alembic.

Each entry names the CIS PostgreSQL 17 Benchmark recommendation it answers. Values come from
the kit's settings where one exists (``server_log_statement``, ...), else they are fixed.

Example::

    from hardening.profile.wanted import values
    values(lambda name: settings.get(name))["logging_collector"]   # 'on'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hardening.errors import SettingsError

# TLS 1.2 suites that are forward secret and AEAD only (TLS 1.3's own suites are always
# strong; ssl_ciphers does not govern them before PostgreSQL 18).
STRONG_CIPHERS = (
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
)
# Libraries shared_preload_libraries must hold: pgaudit (the kit's audit), auth_delay (a pause
# after each failed login, CIS 5.7). The profile adds the missing ones to the server's list.
PRELOAD = ("pgaudit", "auth_delay")
# List parameters: ALTER SYSTEM takes their elements as separate literals; one literal with
# commas would be one element (shared_preload_libraries = '"pgaudit,auth_delay"', one library
# of that name, and a server that no longer starts).
LISTS = frozenset({"shared_preload_libraries"})

# What a log line must say, as `hardening verify` checks it (sql/checks/log_line_prefix.sql):
# (what, the log_line_prefix escapes that record it).
LOG_LINE_PREFIX_NEEDS = (
    ("time", ("%m", "%t", "%n")),
    ("process or session id", ("%p", "%c")),
    ("user", ("%u",)),
    ("database", ("%d",)),
    ("client address", ("%h", "%r")),
)


def _escapes(prefix: str) -> set[str]:
    """The escapes PostgreSQL expands in ``prefix`` (``%%`` is a literal percent sign, and
    ``%-10u`` pads ``%u``)."""
    return {f"%{m.group(1)}" for m in re.finditer(r"%-?\d*(.)", prefix, re.DOTALL)} - {"%%"}


def log_line_prefix_missing(prefix: str) -> list[str]:
    """What a log line with ``prefix`` would not say; empty if nothing is missing. The rule of
    the verify control log_line_prefix (a test holds the two equal).

    Args:
        prefix: a ``log_line_prefix`` value.

    Example::

        log_line_prefix_missing("%m [%p] %d %h ")  # ['user (%u)']
    """
    found = _escapes(prefix)
    return [
        f"{what} ({' or '.join(escapes)})"
        for what, escapes in LOG_LINE_PREFIX_NEEDS
        if not found.intersection(escapes)
    ]


@dataclass(frozen=True)
class Wanted:
    """One server setting of the profile.

    Args:
        name: the PostgreSQL parameter.
        value: its value; the default of ``setting`` when it has one.
        step: the name of the step that sets it (``server_profile`` or ``server_settings``).
        cis: the CIS PostgreSQL 17 recommendation(s) it answers ("" for none).
        setting: the kit setting its value comes from ("" when fixed).
        tls: part of TLS, set only where the server can load its certificate and key.
        verbatim: the setting's value is taken as given (spaces count), not stripped.
        complete: a log_line_prefix completed with every escape CIS and the STIG ask for
            (``complete_prefix``).

    Example::

        Wanted("log_timezone", "UTC", "server_settings", "3.1.26")
    """

    name: str
    value: str
    step: str
    cis: str = ""
    setting: str = ""
    tls: bool = False
    verbatim: bool = False
    complete: bool = False

    def value_from(self, get: Callable[[str], str]) -> str:
        """The value: the kit setting's (read with ``get``), else the fixed one.

        Args:
            get: returns a kit setting's value by name.

        Example::

            wanted.value_from(lambda name: settings.get(name, x_args))
        """
        if not self.setting:
            return self.value
        raw = get(self.setting)
        value = raw if self.verbatim else raw.strip()
        return complete_prefix(value) if self.complete else value


PROFILE: tuple[Wanted, ...] = (
    # step h008_server_profile (released: this list and its order are its behaviour)
    Wanted("log_connections", "on", "server_profile", "3.1.20"),
    Wanted("log_disconnections", "on", "server_profile", "3.1.21"),
    Wanted(
        "log_line_prefix",
        "%m [%p] %q%u@%d app=%a client=%h ",
        "server_profile",
        "3.1.24",
        "server_log_line_prefix",
        verbatim=True,
    ),
    Wanted("log_statement", "ddl", "server_profile", "3.1.25", "server_log_statement"),
    Wanted("log_lock_waits", "on", "server_profile"),
    Wanted("log_min_error_statement", "error", "server_profile", "3.1.15"),
    Wanted("password_encryption", "scram-sha-256", "server_profile"),
    Wanted(
        "ssl_min_protocol_version",
        "TLSv1.3",
        "server_profile",
        "6.8, 6.9",
        "server_ssl_min_protocol_version",
    ),
    # step h011_server_settings
    Wanted("logging_collector", "on", "server_settings", "3.1.3"),
    Wanted("log_file_mode", "0600", "server_settings", "3.1.6"),
    Wanted("log_truncate_on_rotation", "on", "server_settings", "3.1.7"),
    Wanted("log_rotation_age", "1d", "server_settings", "3.1.8"),
    Wanted("log_rotation_size", "100MB", "server_settings", "3.1.9"),
    Wanted("syslog_sequence_numbers", "on", "server_settings", "3.1.11"),
    Wanted("syslog_split_messages", "on", "server_settings", "3.1.12"),
    Wanted("log_min_messages", "warning", "server_settings", "3.1.14"),
    Wanted("debug_print_parse", "off", "server_settings", "3.1.16"),
    Wanted("debug_print_rewritten", "off", "server_settings", "3.1.17"),
    Wanted("debug_print_plan", "off", "server_settings", "3.1.18"),
    Wanted("debug_pretty_print", "on", "server_settings", "3.1.19"),
    Wanted("log_error_verbosity", "verbose", "server_settings", "3.1.22"),
    Wanted("log_hostname", "off", "server_settings", "3.1.23"),
    Wanted("log_timezone", "UTC", "server_settings", "3.1.26"),
    Wanted(
        "log_line_prefix",
        "",
        "server_settings",
        "3.1.24",
        "server_log_line_prefix",
        verbatim=True,
        complete=True,
    ),
    Wanted("temp_file_limit", "10GB", "server_settings", "8.1", "server_temp_file_limit"),
    Wanted("listen_addresses", "", "server_settings", "5.2", "server_listen_addresses"),
    Wanted("authentication_timeout", "30s", "server_settings", "5.7"),
    Wanted("auth_delay.milliseconds", "500", "server_settings", "5.7"),
    Wanted("shared_preload_libraries", ",".join(PRELOAD), "server_settings", "3.2, 5.7"),
    Wanted("log_replication_commands", "on", "server_settings", "7.2"),
    Wanted("unix_socket_permissions", "0770", "server_settings", "8.3"),
    Wanted("ssl", "on", "server_settings", "6.8", tls=True),
    Wanted("ssl_cert_file", "", "server_settings", "6.8", "server_ssl_cert_file", tls=True),
    Wanted("ssl_key_file", "", "server_settings", "6.8", "server_ssl_key_file", tls=True),
    Wanted("ssl_ciphers", STRONG_CIPHERS, "server_settings", "6.10"),
    Wanted("ssl_prefer_server_ciphers", "on", "server_settings", "6.10"),
)


def of_step(step: str) -> tuple[Wanted, ...]:
    """The settings step ``step`` (its name) sets, in order.

    Args:
        step: ``"server_profile"`` or ``"server_settings"``.

    Example::

        [w.name for w in of_step("server_profile")][:2]   # ['log_connections', ...]
    """
    return tuple(w for w in PROFILE if w.step == step)


def values(get: Callable[[str], str]) -> dict[str, str]:
    """Parameter -> value for the whole profile, the kit settings read through ``get``; the
    certificate and key files only where given (empty: the server's own are kept).

    Args:
        get: returns a kit setting's value by name (``settings.get`` with the ``-x`` values).

    Example::

        values(lambda name: settings.get(name, {"server_log_statement": "mod"}))
    """
    out = {}
    for wanted in PROFILE:
        value = wanted.value_from(get)
        if value or not wanted.setting:
            out[wanted.name] = value
    return out


def needs_restart(name: str) -> bool:
    """Whether a change of ``name`` takes effect only at a server restart (postmaster context).

    Args:
        name: a parameter of the profile.

    Example::

        needs_restart("logging_collector")   # True
    """
    return name in RESTART


# The profile's parameters of context postmaster (pg_settings.context), on 15 and 17.
RESTART = frozenset(
    {"logging_collector", "shared_preload_libraries", "unix_socket_permissions", "listen_addresses"}
)


def check(get: Callable[[str], str]) -> dict[str, str]:
    """``values(get)`` with the kit settings' values judged as the profile steps judge them (the
    verify controls' rules) and enums in the server's spelling; SettingsError otherwise.

    Args:
        get: returns a kit setting's value by name.

    Example::

        check(lambda name: settings.get(name))["ssl_min_protocol_version"]   # 'TLSv1.3'
    """
    prefix = get("server_log_line_prefix")
    missing = log_line_prefix_missing(prefix)
    if missing:
        raise SettingsError(
            f"setting server_log_line_prefix is {prefix!r}: a log line would not record "
            f"{', '.join(missing)} (the verify control log_line_prefix)"
        )
    out = values(get)
    for name, setting, allowed in (
        ("log_statement", "server_log_statement", ("ddl", "mod", "all")),
        ("ssl_min_protocol_version", "server_ssl_min_protocol_version", ("TLSv1.2", "TLSv1.3")),
    ):
        spelled = {a.lower(): a for a in allowed}.get(out[name].lower())
        if spelled is None:
            raise SettingsError(
                f"setting {setting} is {out[name]!r}; the profile takes {', '.join(allowed)} "
                f"(the verify control {name} fails the others)"
            )
        out[name] = spelled
    return out


def list_items(value: str) -> list[str]:
    """The elements of a list parameter's value as the configuration file shows it
    (``pgaudit, "my lib"``): split at commas, spaces trimmed, double quotes removed.

    Args:
        value: the value, e.g. from ``pg_file_settings.setting``.

    Example::

        list_items('pgaudit, "a,b"')   # ['pgaudit', 'a,b']
    """
    items: list[str] = []
    current, quoted, i = "", False, 0
    while i < len(value):
        char = value[i]
        if char == '"':
            if quoted and value[i + 1 : i + 2] == '"':
                current += '"'
                i += 1
            else:
                quoted = not quoted
        elif char == "," and not quoted:
            items.append(current.strip())
            current = ""
        else:
            current += char
        i += 1
    items.append(current.strip())
    return [item for item in items if item]


# What each line should carry beyond h008's rule: every escape the CIS PostgreSQL 17 Benchmark
# (3.1.24: %m %r %p %l %u %d %a %e) and the Crunchy PostgreSQL 16 STIG (%m %u %d %p %r %a %c %s)
# ask for, with the label it gets when added to a prefix that lacks it.
PREFIX_ESCAPES = (
    ("%m", "%m"),
    ("%p", "[%p]"),
    ("%u", "user=%u"),
    ("%d", "db=%d"),
    ("%a", "app=%a"),
    ("%r", "remote=%r"),
    ("%c", "session=%c"),
    ("%s", "start=%s"),
    ("%l", "line=%l"),
    ("%e", "state=%e"),
)


def complete_prefix(prefix: str) -> str:
    """``prefix`` with each escape of ``PREFIX_ESCAPES`` it lacks appended (labelled), so a line
    says what CIS and the STIG ask for; a prefix that has them all is returned unchanged.

    Args:
        prefix: a log_line_prefix (h008's, from setting server_log_line_prefix).

    Example::

        complete_prefix("%m [%p] %u@%d %h ")   # '%m [%p] %u@%d %h app=%a client=%r ... '
    """
    found = _escapes(prefix)
    added = [label for escape, label in PREFIX_ESCAPES if escape not in found]
    if not added:
        return prefix
    return f"{prefix.rstrip()} {' '.join(added)} "
