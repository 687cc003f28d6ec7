"""``hardening hba``: print a proposed pg_hba.conf for the server (``hardening.hba``), or with
``--diff`` how it differs from the rules the server loaded. SQL cannot write pg_hba.conf:
install the file yourself, then ``SELECT pg_reload_conf()``.

Exit status: 0 printed, 2 could not (no connection, not a superuser, a network wider than
verify's ``hba_wide_cidr`` allows); the reason is one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hardening import hba
from hardening.verify import runner


def register(sub: Any) -> None:
    """Add ``hba [--url] [--network CIDR ...] [--database NAME ...] [--user ROLE ...] [--local
    peer|scram-sha-256] [--diff]`` to the ``hardening`` parser.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        args = hardening.cli.build_parser("hba").parse_args(["hba", "--network", "10.0.0.0/16"])
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "hba",
        help="print a proposed pg_hba.conf (no trust/md5, TLS only, no remote superuser)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help="superuser database URL (default: DATABASE_URL)")
    parser.add_argument(
        "--network",
        action="append",
        default=[],
        metavar="CIDR",
        help="a network the application connects from (repeat it); IPv4 /16 or narrower",
    )
    parser.add_argument(
        "--database",
        action="append",
        default=[],
        metavar="NAME",
        help="a database the networks may reach (repeat it; default all)",
    )
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="ROLE",
        help="a role the networks admit, +ROLE for its members (repeat it; default all)",
    )
    parser.add_argument(
        "--local",
        choices=hba.LOCAL_METHODS,
        default="peer",
        help="method for local (Unix socket) connections (default peer)",
    )
    parser.add_argument(
        "--diff", action="store_true", help="print the diff against the current rules instead"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the server's rules and roles, print the proposal (or the diff).

    Args:
        args: the parsed ``hba`` arguments: ``url`` (None reads ``DATABASE_URL``), ``network``
            (CIDRs), ``database`` and ``user`` (what the networks may reach; none: all),
            ``local`` (peer or scram-sha-256) and ``diff``.

    Returns:
        0; what it cannot do raises a ``HardeningError`` (one line on stderr, exit 2).

    Example::

        hardening.cli.main(["hba", "--network", "10.1.0.0/16", "--url", "postgresql://..."])
    """
    nets = hba.networks(args.network)
    with runner.connect(runner.parse_url(args.url)) as conn:
        hba_file, current = hba.read_rules(conn)
        proposal = hba.propose(
            nets,
            hba.superusers(conn),
            hba.replication_roles(conn),
            args.local,
            hba_file,
            args.database,
            args.user,
        )
    sys.stdout.write(hba.diff(current, proposal) if args.diff else proposal)
    if not nets:
        print(
            "hardening hba: no --network given: the proposal admits local and loopback "
            "connections only",
            file=sys.stderr,
        )
    return 0
