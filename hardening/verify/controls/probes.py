"""Active probes, run only with ``--probe`` (``hardening.verify.probe``): proof that what the
configuration promises reaches the audit output."""

from __future__ import annotations

from hardening.verify.model import Control

_LOG_CLIENT = "superuser (pgaudit.log_client) or a server log readable through SQL"

PROBES: tuple[Control, ...] = (
    Control(
        "probe_ddl_audited",
        "probe: a canary DDL statement is audited",
        "high",
        "kit",
        "status",
        rationale="Configuration can look right and still not log: this runs a CREATE TABLE in "
        "a scratch schema and looks for its pgaudit record.",
        fix="Make sure pgaudit is preloaded and `hardening upgrade` has run; check "
        "pg_db_role_setting overrides for the connecting role.",
        privilege=_LOG_CLIENT,
        cis=("3.2",),
        pgdsat=("3.2",),
        stig=("V-261861", "V-261870", "V-261952"),
        probe=True,
    ),
    Control(
        "probe_role_audited",
        "probe: a canary role change is audited",
        "high",
        "kit",
        "status",
        rationale="Runs CREATE ROLE / DROP ROLE of a scratch NOLOGIN role and looks for the ROLE "
        "record.",
        fix="Include the role class in pgaudit.log (`hardening upgrade`).",
        privilege="superuser (pgaudit.log_client, CREATEROLE) or a readable server log",
        cis=("3.2",),
        pgdsat=("3.2",),
        stig=("V-261942",),
        probe=True,
    ),
    Control(
        "probe_write_audited",
        "probe: a canary write is audited",
        "high",
        "kit",
        "status",
        rationale="Inserts a row into a scratch table and looks for the WRITE record.",
        fix="Include the write class in pgaudit.log (`hardening upgrade`).",
        privilege=_LOG_CLIENT,
        cis=("3.2",),
        pgdsat=("3.2",),
        probe=True,
    ),
    Control(
        "probe_bind_parameter_hidden",
        "probe: a bind parameter does not reach the audit log",
        "high",
        "kit",
        "status",
        rationale="Sends a unique marker as a bind parameter of an audited INSERT and checks "
        "that the captured audit output does not contain it.",
        fix="Set pgaudit.log_parameter = off and log_parameter_max_length = 0 "
        "(`hardening upgrade`).",
        privilege=_LOG_CLIENT,
        probe=True,
    ),
    Control(
        "probe_long_record_whole",
        "probe: the audit record of a statement over 16 KB arrives whole",
        "medium",
        "kit",
        "status",
        rationale="Some log pipelines cut or drop records near 16 KB (syslog message limits, "
        "container log drivers); a cut record loses its end, a dropped one leaves no trace. This "
        "sends a COMMENT ON TABLE of 16.5 KB (DDL class) and looks for its whole record; the "
        "detail names a marker to look for further down the pipeline.",
        fix="Raise the limit where the record is cut (e.g. rsyslog $MaxMessageSize), or ship "
        "csvlog/jsonlog files with a shipper that keeps long lines (docs/audit.md).",
        privilege=_LOG_CLIENT,
        probe=True,
    ),
)
