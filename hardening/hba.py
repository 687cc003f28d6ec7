"""A proposed pg_hba.conf, from the rules the server loaded (``pg_hba_file_rules``) and its
roles: SQL can read pg_hba.conf but not write it, so ``hardening hba`` prints the file to
install and how it differs from the current rules.

The proposal: local connections by ``peer`` (or ``scram-sha-256``); loopback by
``scram-sha-256``; no superuser over the network (a ``reject`` line for each before any other
network line); ``hostssl`` with ``scram-sha-256`` for the networks given, and for replication
by the roles that have REPLICATION (not superusers); ``reject`` for everything else. No
``trust``, ``password`` or ``md5``. It passes verify's pg_hba controls (``hba_weak_methods``,
``hba_wide_cidr``, ``hba_remote_superuser``, ``hba_host_without_ssl``).

Example::

    current = read_rules(conn)
    text = propose(["10.0.0.0/16"], superusers(conn), replication_roles(conn))
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Sequence
from typing import Any

from hardening.errors import HardeningError

LOCAL_METHODS = ("peer", "scram-sha-256")
# Verify's hba_wide_cidr fails shorter prefixes.
NARROWEST = {4: 16, 6: 48}
_KEYWORDS = {"all", "sameuser", "samerole", "samegroup", "replication", "samehost", "samenet"}


class HbaError(HardeningError):
    """``hardening hba`` cannot propose a file: the message names the argument or role and the
    fix.

    Example::

        raise HbaError("--network 0.0.0.0/0 is wider than /16: name the application's subnets")
    """


def networks(given: Sequence[str]) -> list[str]:
    """The ``--network`` values as networks, each checked: a CIDR no wider than verify's
    ``hba_wide_cidr`` allows (IPv4 /16, IPv6 /48).

    Args:
        given: CIDRs such as ``10.1.0.0/16`` or single addresses.

    Example::

        networks(["10.1.2.3/16"])   # ['10.1.0.0/16']
    """
    out = []
    for value in given:
        try:
            net = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise HbaError(f"--network {value!r} is not an address or CIDR") from None
        if net.prefixlen < NARROWEST[net.version]:
            raise HbaError(
                f"--network {value} is wider than /{NARROWEST[net.version]}: verify's "
                "hba_wide_cidr fails it; name the application's subnets instead"
            )
        out.append(str(net))
    return out


def role_field(name: str) -> str:
    """``name`` as pg_hba.conf's user column takes it: bare when plain, double-quoted
    otherwise (and for the column's keywords).

    Args:
        name: a role name.

    Example::

        role_field("app")      # 'app'
        role_field("all")      # '"all"'
    """
    if '"' in name or "\n" in name:
        raise HbaError(f"role {name!r} cannot be named in pg_hba.conf (a double quote)")
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) and name not in _KEYWORDS:
        return name
    return f'"{name}"'


def column(names: Sequence[str]) -> str:
    """A database or user column: the names, each quoted as needed (a user's ``+`` group mark
    kept), comma-separated; ``all`` when there are none.

    Args:
        names: database or role names; ``+name`` for a role's members.

    Example::

        column(["app", "+readers"])   # 'app,+readers'
    """
    if not names:
        return "all"
    return ",".join("+" + role_field(n[1:]) if n.startswith("+") else role_field(n) for n in names)


def _line(kind: str, database: str, user: str, address: str, method: str) -> str:
    return f"{kind:<8} {database:<12} {user:<16} {address:<20} {method}".rstrip()


def propose(
    nets: Sequence[str],
    supers: Sequence[str],
    replicators: Sequence[str],
    local: str = "peer",
    hba_file: str = "pg_hba.conf",
    databases: Sequence[str] = (),
    users: Sequence[str] = (),
) -> str:
    """The proposed pg_hba.conf.

    Args:
        nets: the application's networks (``networks``' output).
        supers: the superusers, rejected from every network address.
        replicators: login roles with REPLICATION that are not superusers.
        local: ``peer`` or ``scram-sha-256`` for local (Unix socket) connections.
        hba_file: the server's pg_hba.conf path, named in the header.
        databases: the databases the networks may reach (none: all).
        users: the roles (``+group`` for a role's members) the networks admit (none: all).

    Example::

        print(propose(["10.0.0.0/16"], ["postgres"], []))
    """
    if local not in LOCAL_METHODS:
        raise HbaError(f"--local {local!r}: choose {' or '.join(LOCAL_METHODS)}")
    lines = [
        f"# pg-hardening: proposed {hba_file} (hardening hba). Install it, then",
        "# SELECT pg_reload_conf(); the first matching line decides.",
        _line("# TYPE", "DATABASE", "USER", "ADDRESS", "METHOD"),
        _line("local", "all", "all", "", local),
        "# loopback: not the network",
        _line("host", "all", "all", "127.0.0.1/32", "scram-sha-256"),
        _line("host", "all", "all", "::1/128", "scram-sha-256"),
    ]
    if supers:
        lines.append("# superusers never log in over the network")
        for name in supers:
            for anywhere in ("0.0.0.0/0", "::/0"):
                lines.append(_line("host", "all", role_field(name), anywhere, "reject"))
    if nets:
        lines.append("# the application's networks: TLS and SCRAM only")
        for net in nets:
            lines.append(_line("hostssl", column(databases), column(users), net, "scram-sha-256"))
        for name in replicators:
            for net in nets:
                lines.append(
                    _line("hostssl", "replication", role_field(name), net, "scram-sha-256")
                )
    lines.append("# everything else")
    for anywhere in ("0.0.0.0/0", "::/0"):
        lines.append(_line("host", "all", "all", anywhere, "reject"))
    return "\n".join(lines) + "\n"


def rule_lines(text: str) -> list[str]:
    """The rule lines of a pg_hba.conf text, comments and blank lines left out, with single
    spaces between fields (for the diff).

    Args:
        text: a pg_hba.conf's text.

    Example::

        rule_lines(propose([], ["postgres"], []))[0]   # 'local all all peer'
    """
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            out.append(" ".join(line.split()))
    return out


def read_rules(conn: Any) -> tuple[str, list[str]]:
    """(the server's pg_hba.conf path, its rules as lines), from ``pg_hba_file_rules``:
    superuser (or EXECUTE on ``pg_hba_file_rules()``).

    Args:
        conn: a psycopg connection.

    Example::

        path, lines = read_rules(conn)
    """
    import psycopg

    try:
        hba_file = str(conn.execute("SHOW hba_file").fetchone()[0])
        rows = conn.execute(
            "SELECT type, database, user_name, address, netmask, auth_method, options, error "
            "FROM pg_hba_file_rules ORDER BY line_number"
        ).fetchall()
    except psycopg.errors.InsufficientPrivilege:
        raise HbaError(
            "reading pg_hba_file_rules needs a superuser (or GRANT EXECUTE ON FUNCTION "
            "pg_hba_file_rules() and SELECT ON pg_hba_file_rules): connect as one"
        ) from None
    lines = []
    for kind, database, users, address, netmask, method, options, error in rows:
        if error:
            lines.append(f"# (a line the server refuses: {error})")
            continue
        where = address or ""
        if address and netmask:
            prefix = bin(int(ipaddress.ip_address(netmask))).count("1")
            where = f"{address}/{prefix}"
        fields = [kind, ",".join(database or []), ",".join(users or []), where, method]
        fields += list(options or [])
        lines.append(" ".join(f for f in fields if f))
    return hba_file, lines


def superusers(conn: Any) -> list[str]:
    """The superusers' names, sorted.

    Args:
        conn: a psycopg connection.

    Example::

        superusers(conn)   # ['postgres']
    """
    rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolsuper ORDER BY 1").fetchall()
    return [str(r[0]) for r in rows]


def replication_roles(conn: Any) -> list[str]:
    """Login roles with REPLICATION that are not superusers, sorted.

    Args:
        conn: a psycopg connection.

    Example::

        replication_roles(conn)   # ['replicator']
    """
    rows = conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolreplication AND rolcanlogin AND NOT rolsuper "
        "ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def diff(current: Sequence[str], proposed: str) -> str:
    """A unified diff from the current rules to the proposal's (rules only).

    Args:
        current: ``read_rules``' lines.
        proposed: ``propose``' text.

    Example::

        print(diff(read_rules(conn)[1], propose(nets, supers, [])))
    """
    return "".join(
        difflib.unified_diff(
            [f"{line}\n" for line in current],
            [f"{line}\n" for line in rule_lines(proposed)],
            "current (pg_hba_file_rules)",
            "proposed",
        )
    )
