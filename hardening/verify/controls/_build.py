"""What the catalogue's modules share: the privilege texts and ``setting``, which makes a
control of rules on server settings (judged by the shared query ``sql/checks/settings.sql``).
"""

from __future__ import annotations

from hardening.verify.model import Control, Rule, Scope, Severity

SETTINGS = "any role (pg_settings)"
READ_ALL_SETTINGS = "superuser or pg_read_all_settings"
SUPERUSER = "superuser (pg_authid)"
HBA = "superuser (pg_hba_file_rules)"

# Values as PostgreSQL parses them: a boolean is on/true/yes/1 or off/false/no/0, or a unique
# prefix of one; a size or time is 0 with any unit.
ON = r"^(t|tr|tru|true|y|ye|yes|on|1)$"
OFF = r"^(f|fa|fal|fals|false|n|no|of|off|0)$"
ZERO = r"^0+ *(b|kb|mb|gb|tb|us|ms|s|min|h|d)?$"
NONZERO = r"^0*[1-9]"
NONEMPTY = r"."


def rule_args(rules: tuple[Rule, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The arguments of ``sql/checks/settings.sql`` for ``rules``: one array each.

    Args:
        rules: the ``Rule`` of every setting the control judges.

    Example::

        dict(rule_args((Rule("fsync", ON, "on"),)))["settings"]   # ("fsync",)
    """

    def bound(value: float | None) -> str:
        return "" if value is None else f"{value:g}"

    return (
        ("settings", tuple(r.setting for r in rules)),
        ("accepts", tuple(r.accept for r in rules)),
        ("expects", tuple(r.expect for r in rules)),
        ("lows", tuple(bound(r.low) for r in rules)),
        ("highs", tuple(bound(r.high) for r in rules)),
    )


def setting(
    id: str,
    title: str,
    *rules: Rule,
    rationale: str,
    fix: str,
    severity: Severity = "medium",
    scope: Scope = "server",
    privilege: str = SETTINGS,
    cis: tuple[str, ...] = (),
    pgdsat: tuple[str, ...] = (),
    stig: tuple[str, ...] = (),
) -> Control:
    """A status control that passes when every one of ``rules`` holds, in this session and in
    every role- or database-level value a session here can get; its query is
    ``sql/checks/settings.sql``, its arguments come from ``rules``.

    Args:
        id: the control's id.
        title: what is checked.
        *rules: a ``Rule`` for every setting the control judges.
        rationale: why it matters.
        fix: what to change.
        severity: as for ``Control``; default ``medium``.
        scope: as for ``Control``; default ``server``.
        privilege: what the connecting role needs; default: any role (pg_settings).
        cis: CIS PostgreSQL 17 recommendations it answers.
        pgdsat: pgdsat's numbers for the same checks.
        stig: STIG vulnerability ids it answers.

    Example::

        setting(
            "log_connections", "log_connections is on", Rule("log_connections", ON, "on"),
            rationale="Who connected, from where and when ...",
            fix="ALTER SYSTEM SET log_connections = on and reload.",
            cis=("3.1.20",),
        )
    """
    return Control(
        id=id,
        title=title,
        severity=severity,
        scope=scope,
        evaluator="status",
        rationale=rationale,
        fix=fix,
        privilege=privilege,
        cis=cis,
        pgdsat=pgdsat,
        stig=stig,
        sql="settings",
        args=rule_args(rules),
    )
