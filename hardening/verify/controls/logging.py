"""The server log: where it goes, how it is kept, what each line says, and that bind
parameters (keys, personal data) stay out of it (CIS 3.1, the STIG's audit content)."""

from __future__ import annotations

from hardening import steps
from hardening.verify.controls._build import (
    NONEMPTY,
    OFF,
    ON,
    READ_ALL_SETTINGS,
    SETTINGS,
    ZERO,
    setting,
)
from hardening.verify.model import Control, Rule

# STIG checks whose text is "errors and denials reach the log with their statement".
STIG_ERRORS_LOGGED = (
    "V-261864",
    "V-261870",
    "V-261925",
    "V-261934",
    "V-261939",
    "V-261943",
    "V-261945",
    "V-261947",
    "V-261951",
    "V-261959",
    "V-261963",
)
_LEVELS = r"debug[1-5]|info|notice|warning"
_UTC = r"^(utc|etc/utc|gmt|etc/gmt|etc/uct|uct|etc/universal|universal|zulu|etc/zulu)$"
_RELOAD = "and reload"


def _reload(parameter: str, value: str) -> str:
    return f"ALTER SYSTEM SET {parameter} = {value} {_RELOAD}."


CONTROLS: tuple[Control, ...] = (
    setting(
        "log_destination",
        "log_destination names at least one destination",
        Rule("log_destination", NONEMPTY, "stderr, csvlog, jsonlog or syslog"),
        rationale="The server log is the audit trail's carrier: it must go somewhere that is "
        "collected.",
        fix=_reload("log_destination", "'csvlog' (or stderr/jsonlog/syslog)"),
        cis=("3.1.2",),
        pgdsat=("3.1.2",),
        stig=("V-261865",),
    ),
    setting(
        "logging_collector",
        "logging_collector is on",
        Rule("logging_collector", ON, "on"),
        rationale="The collector writes stderr/csvlog output to rotated files that are not lost "
        "with a terminal or a container's output, and lets SQL read the log "
        "(pg_current_logfile).",
        fix="ALTER SYSTEM SET logging_collector = on and restart.",
        cis=("3.1.3",),
        pgdsat=("3.1.3",),
    ),
    setting(
        "log_directory",
        "log_directory names the log files' directory",
        Rule("log_directory", NONEMPTY, "a directory"),
        severity="low",
        rationale="An empty log_directory means the root directory: the collector cannot write "
        "there and the log is lost.",
        fix=_reload("log_directory", "'/var/log/postgresql' (outside the data directory)"),
        privilege=READ_ALL_SETTINGS,
        cis=("3.1.4",),
    ),
    setting(
        "log_filename",
        "log_filename names the log files",
        Rule("log_filename", NONEMPTY, "a file name pattern such as postgresql-%a.log"),
        severity="low",
        rationale="An empty log_filename makes the collector write to a directory: the server "
        "fails to start or the log is lost.",
        fix=_reload("log_filename", "'postgresql-%Y%m%d.log'"),
        privilege=READ_ALL_SETTINGS,
        cis=("3.1.5",),
    ),
    setting(
        "log_file_mode",
        "log files are created with mode 0600",
        Rule("log_file_mode", r"^0?600$", "0600"),
        rationale="Log files hold statements and error details; other operating-system users "
        "must not read them.",
        fix=_reload("log_file_mode", "'0600'"),
        cis=("3.1.6",),
        pgdsat=("3.1.6",),
        stig=("V-261875", "V-261876", "V-261877", "V-261879", "V-261909"),
    ),
    setting(
        "log_truncate_on_rotation",
        "log_truncate_on_rotation is on",
        Rule("log_truncate_on_rotation", ON, "on"),
        severity="low",
        rationale="Time-based rotation that reuses a file name should replace old content "
        "predictably rather than grow without bound.",
        fix=_reload("log_truncate_on_rotation", "on"),
        cis=("3.1.7",),
        pgdsat=("3.1.7",),
    ),
    setting(
        "log_rotation_age",
        "log files are rotated at least daily",
        Rule("log_rotation_age", r"^[0-9]", "1min to 1d", low=1, high=1440),
        severity="low",
        rationale="A file per day (or less) keeps each log small enough to ship, review and "
        "expire; 0 turns time-based rotation off.",
        fix=_reload("log_rotation_age", "'1d'"),
        cis=("3.1.8",),
    ),
    setting(
        "log_rotation_size",
        "log files are rotated by size too",
        Rule("log_rotation_size", r"^[0-9]", "more than 0", low=1),
        severity="low",
        rationale="With log_rotation_size = 0 a burst of logging grows one file without bound "
        "until the next time-based rotation.",
        fix=_reload("log_rotation_size", "'1GB'"),
        cis=("3.1.9",),
    ),
    setting(
        "syslog_sequence_numbers",
        "syslog messages carry sequence numbers",
        Rule("syslog_sequence_numbers", ON, "on"),
        severity="low",
        rationale="Without a sequence number a syslog daemon may fold repeated messages into "
        "'last message repeated N times' and their time stamps are lost.",
        fix=_reload("syslog_sequence_numbers", "on"),
        cis=("3.1.11",),
    ),
    setting(
        "syslog_split_messages",
        "long syslog messages are split",
        Rule("syslog_split_messages", ON, "on"),
        severity="low",
        rationale="Most syslog daemons drop or truncate messages over 1024 bytes; splitting keeps "
        "long statements whole in the log.",
        fix=_reload("syslog_split_messages", "on"),
        cis=("3.1.12",),
    ),
    setting(
        "syslog_ident",
        "syslog messages name their program",
        Rule("syslog_ident", NONEMPTY, "a program name such as postgres"),
        severity="low",
        rationale="The program name is how PostgreSQL's lines are told apart from other "
        "programs' in a shared syslog.",
        fix=_reload("syslog_ident", "'postgres'"),
        cis=("3.1.13",),
    ),
    setting(
        "log_min_messages",
        "log_min_messages is warning or more verbose",
        Rule("log_min_messages", rf"^({_LEVELS})$", "warning or more verbose"),
        rationale="Warnings and errors are the first signs of probing and misuse; a level above "
        "warning drops them.",
        fix="ALTER SYSTEM SET log_min_messages = 'warning' and reload; ALTER ROLE <role> [IN "
        "DATABASE <db>] RESET log_min_messages for each override listed.",
        cis=("3.1.14",),
        pgdsat=("3.1.14",),
        stig=("V-261957", *STIG_ERRORS_LOGGED),
    ),
    setting(
        "log_min_error_statement",
        "log_min_error_statement is error or more verbose",
        Rule("log_min_error_statement", rf"^({_LEVELS}|error)$", "error or more verbose"),
        rationale="The statement that caused an error (an injection attempt, a denied access) "
        "must be logged with the error.",
        fix=_reload("log_min_error_statement", "'error'"),
        cis=("3.1.15",),
        pgdsat=("3.1.15",),
        stig=STIG_ERRORS_LOGGED,
    ),
    setting(
        "debug_print_parse",
        "debug_print_parse is off",
        Rule("debug_print_parse", OFF, "off"),
        severity="low",
        rationale="Parse trees in the log leak query details and flood the log.",
        fix=_reload("debug_print_parse", "off"),
        cis=("3.1.16",),
        pgdsat=("3.1.16",),
    ),
    setting(
        "debug_print_rewritten",
        "debug_print_rewritten is off",
        Rule("debug_print_rewritten", OFF, "off"),
        severity="low",
        rationale="Rewritten query trees in the log leak query details and flood the log.",
        fix=_reload("debug_print_rewritten", "off"),
        cis=("3.1.17",),
        pgdsat=("3.1.17",),
    ),
    setting(
        "debug_print_plan",
        "debug_print_plan is off",
        Rule("debug_print_plan", OFF, "off"),
        severity="low",
        rationale="Plan trees in the log leak query details and flood the log.",
        fix=_reload("debug_print_plan", "off"),
        cis=("3.1.18",),
        pgdsat=("3.1.18",),
    ),
    setting(
        "debug_pretty_print",
        "debug_pretty_print is on",
        Rule("debug_pretty_print", ON, "on"),
        severity="low",
        rationale="If debug output is ever enabled it should at least be readable.",
        fix=_reload("debug_pretty_print", "on"),
        cis=("3.1.19",),
        pgdsat=("3.1.19",),
    ),
    setting(
        "log_connections",
        "log_connections is on",
        Rule("log_connections", ON, "on"),
        rationale="Who connected, from where and when is the first question of every "
        "investigation.",
        fix="ALTER SYSTEM SET log_connections = on and reload (RDS/Cloud SQL/Azure: the "
        "log_connections parameter or flag).",
        cis=("3.1.20",),
        pgdsat=("3.1.20",),
        stig=("V-261866", "V-261956", "V-261957", "V-261960", "V-261961", "V-261964"),
    ),
    setting(
        "log_disconnections",
        "log_disconnections is on",
        Rule("log_disconnections", ON, "on"),
        rationale="Disconnection records give every session a duration and close the connection "
        "record.",
        fix=_reload("log_disconnections", "on"),
        cis=("3.1.21",),
        pgdsat=("3.1.21",),
        stig=("V-261866", "V-261960", "V-261961", "V-261964"),
    ),
    setting(
        "log_error_verbosity",
        "log_error_verbosity is verbose",
        Rule("log_error_verbosity", r"^verbose$", "verbose"),
        severity="low",
        rationale="Verbose error records carry the SQLSTATE and source location an "
        "investigation needs.",
        fix=_reload("log_error_verbosity", "'verbose'"),
        cis=("3.1.22",),
        pgdsat=("3.1.22",),
    ),
    setting(
        "log_hostname",
        "log_hostname is off",
        Rule("log_hostname", OFF, "off"),
        severity="low",
        rationale="Reverse DNS at every connection slows logins and records names an attacker "
        "may control; log the IP address.",
        fix=_reload("log_hostname", "off"),
        cis=("3.1.23",),
        pgdsat=("3.1.23",),
    ),
    Control(
        "log_line_prefix",
        "log_line_prefix records time, process, user, database and client",
        "medium",
        "server",
        "status",
        rationale="A log line that does not say when, which session, who, in which database and "
        "from where cannot be attributed.",
        fix="ALTER SYSTEM SET log_line_prefix = '%m [%p]: user=%u,db=%d,app=%a,client=%h ' and "
        "reload.",
        privilege=SETTINGS,
        pgdsat=("3.1.24",),
    ),
    Control(
        "log_line_prefix_cis",
        "log_line_prefix has every escape CIS asks for",
        "low",
        "server",
        "status",
        rationale="CIS asks every line to carry the time (%m), client (%r), process (%p), line "
        "number (%l), user (%u), database (%d), application (%a) and SQLSTATE (%e), the fields "
        "log analysers such as pgBadger read.",
        fix="ALTER SYSTEM SET log_line_prefix = '%m [%r] [%p]: [l-%l] %u@%d,app=%a,e=%e ' and "
        "reload.",
        privilege=SETTINGS,
        cis=("3.1.24",),
        sql="log_line_prefix_escapes",
        args=(("escapes", ("%m", "%r", "%p", "%l", "%u", "%d", "%a", "%e")),),
    ),
    Control(
        "log_line_prefix_stig",
        "log_line_prefix has every escape the STIG asks for",
        "low",
        "server",
        "status",
        rationale="The STIG's audit content checks ask every line for the time (%m), user (%u), "
        "database (%d), process (%p), client (%r), application (%a), session id (%c) and "
        "session start (%s).",
        fix="ALTER SYSTEM SET log_line_prefix = '< %m %a %u %d %r %p %c %s >' and reload.",
        privilege=SETTINGS,
        stig=(
            "V-261860",
            "V-261866",
            "V-261867",
            "V-261868",
            "V-261869",
            "V-261871",
            "V-261922",
            "V-261961",
        ),
        sql="log_line_prefix_escapes",
        args=(("escapes", ("%m", "%u", "%d", "%p", "%r", "%a", "%c", "%s")),),
    ),
    Control(
        "log_statement",
        "log_statement records at least DDL",
        "medium",
        "server",
        "status",
        rationale="Schema changes must leave a trace in the server log even where pgaudit is "
        "unavailable.",
        fix="ALTER SYSTEM SET log_statement = 'ddl' and reload (keep log_parameter_max_length "
        "= 0 with 'mod' or 'all').",
        privilege=SETTINGS,
        cis=("3.1.25",),
        pgdsat=("3.1.25",),
    ),
    setting(
        "log_timezone",
        "log_timezone is UTC",
        Rule("log_timezone", _UTC, "UTC"),
        severity="low",
        rationale="Log times from many servers can only be correlated on one unambiguous time "
        "zone.",
        fix=_reload("log_timezone", "'UTC'"),
        cis=("3.1.26",),
        pgdsat=("3.1.26",),
        stig=("V-261921",),
    ),
    setting(
        "log_parameter_max_length",
        "log_parameter_max_length is 0 (no bind parameters in statement logs)",
        Rule("log_parameter_max_length", ZERO, "0"),
        severity="high",
        scope="kit",
        rationale="With log_statement or log_min_duration_statement, bind parameters (pgcrypto "
        "keys, plaintext values) are written to the log as DETAIL: parameters: $1 = '...'.",
        fix="Run `hardening upgrade` or ALTER DATABASE <db> SET log_parameter_max_length = "
        "0; RESET it for each role or database listed as overriding it.",
        privilege="any role",
    ),
    setting(
        "log_parameter_max_length_on_error",
        "log_parameter_max_length_on_error is 0 (no bind parameters in error logs)",
        Rule("log_parameter_max_length_on_error", ZERO, "0"),
        severity="high",
        scope="kit",
        rationale="A failing statement would otherwise log its bind parameters (keys, "
        "plaintext) in the error's context.",
        fix="Run `hardening upgrade` or ALTER DATABASE <db> SET "
        "log_parameter_max_length_on_error = 0; RESET it for each role or database listed as "
        "overriding it.",
        privilege="any role",
    ),
    Control(
        "auto_explain_bind_values",
        "auto_explain prints no bind values or verbose output where pgcrypto columns exist",
        "high",
        "kit",
        "status",
        rationale="With auto_explain logging plans, custom plans fold bind values into "
        "constants: log_verbose = on writes a pgcrypto column's password and the plaintext into "
        "Output: lines, and on PostgreSQL 16+ log_parameter_max_length <> 0 writes every bind "
        "value.",
        fix=f"Run `alembic upgrade head` (step {steps.named('auto_explain').id} sets "
        "auto_explain.log_verbose = off and, on 16+, auto_explain.log_parameter_max_length = 0 "
        "for the database) or ALTER DATABASE <db> SET them; RESET them for each role or "
        "database listed as overriding them.",
    ),
    setting(
        "log_replication_commands",
        "replication commands are logged",
        Rule("log_replication_commands", ON, "on"),
        severity="low",
        rationale="A replication connection can copy the whole cluster elsewhere; each "
        "replication command should leave a line in the log.",
        fix=_reload("log_replication_commands", "on"),
        cis=("7.2",),
    ),
    setting(
        "log_destination_syslog",
        "the log also goes to syslog (central log management)",
        Rule("log_destination", r"(^|,)\s*syslog\s*(,|$)", "a list with syslog"),
        severity="low",
        rationale="Audit records kept only on the database host can be lost or altered with "
        "it; syslog hands them to the organisation's log management as they are written.",
        fix="ALTER SYSTEM SET log_destination = 'csvlog,syslog' (and syslog_facility) and reload.",
        stig=("V-261917", "V-261967"),
    ),
    setting(
        "client_min_messages",
        "clients receive errors only, not notices and details",
        Rule("client_min_messages", r"^error$", "error"),
        severity="low",
        rationale="Notices and debug messages sent to clients can reveal the database's "
        "internals to users who should see only that an error occurred.",
        fix="ALTER SYSTEM SET client_min_messages = 'error' and reload; ALTER ROLE <role> [IN "
        "DATABASE <db>] RESET client_min_messages for each override listed.",
        stig=("V-261908", "V-261909"),
    ),
)
