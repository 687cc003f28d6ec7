"""Who may connect and how: passwords stored as SCRAM, pg_hba.conf rules, TLS, the
addresses the server listens on, and how long idle or silent sessions live."""

from __future__ import annotations

from hardening.verify.controls._build import (
    HBA,
    NONZERO,
    ON,
    READ_ALL_SETTINGS,
    SUPERUSER,
    setting,
)
from hardening.verify.model import Control, Rule, Severity


def _hba(
    id: str,
    problem: str,
    title: str,
    severity: Severity,
    *,
    rationale: str,
    fix: str,
    cis: tuple[str, ...] = (),
    pgdsat: tuple[str, ...] = (),
    stig: tuple[str, ...] = (),
) -> Control:
    """A findings control over pg_hba.conf: one of the problems sql/checks/hba_rules.sql
    finds."""
    return Control(
        id,
        title,
        severity,
        "server",
        "findings",
        rationale=rationale,
        fix=fix,
        privilege=HBA,
        cis=cis,
        pgdsat=pgdsat,
        stig=stig,
        sql="hba_rules",
        args=(("problem", problem),),
    )


CONTROLS: tuple[Control, ...] = (
    setting(
        "password_encryption",
        "password_encryption is scram-sha-256",
        Rule("password_encryption", r"^scram-sha-256$", "scram-sha-256"),
        severity="high",
        scope="kit",
        privilege="any role",
        rationale="MD5 verifiers are replayable and crackable; new passwords must be stored as "
        "SCRAM.",
        fix="Run `hardening upgrade` (sets it on the database) and "
        "ALTER SYSTEM SET password_encryption = 'scram-sha-256'; RESET it for each role or "
        "database listed as overriding it.",
        pgdsat=("5.12",),
        stig=("V-261891",),
    ),
    Control(
        "md5_verifiers",
        "no role keeps an MD5 password verifier",
        "high",
        "server",
        "findings",
        rationale="An MD5 verifier is equivalent to the password for md5 authentication and is "
        "cheap to crack; MD5 password support is deprecated.",
        fix="Reset each listed role's password with password_encryption = 'scram-sha-256' (the "
        "kit's password tools hash with SCRAM on the client).",
        privilege=SUPERUSER,
        pgdsat=("5.12",),
        stig=("V-261891",),
    ),
    Control(
        "login_roles_without_password",
        "every login role has a password",
        "medium",
        "server",
        "findings",
        rationale="A login role without a password depends entirely on pg_hba.conf (trust, "
        "peer, cert) and becomes open the day a broad rule is added.",
        fix="Give each role a password (SCRAM) or make it NOLOGIN; or document its cert/peer "
        "login.",
        privilege=SUPERUSER,
    ),
    Control(
        "login_roles_without_expiry",
        "every login role has a password expiry (VALID UNTIL)",
        "low",
        "server",
        "findings",
        rationale="Passwords that never expire outlive the people and systems that knew them.",
        fix="ALTER ROLE <role> VALID UNTIL '<date>' and rotate before it (the kit's password "
        "policy sets expiry when it sets a password).",
    ),
    _hba(
        "hba_weak_methods",
        "weak_method",
        "no pg_hba rule uses trust, password or md5 (or ident over the network)",
        "critical",
        rationale="trust admits anyone who can reach the socket; password sends the password in "
        "clear; md5 is replayable-hash authentication; ident over TCP believes whatever the "
        "client's host says.",
        fix="Change those pg_hba.conf lines to scram-sha-256 (or peer for local) and reload.",
        cis=("5.3", "5.4"),
        pgdsat=("5.3", "5.4"),
        stig=("V-261892",),
    ),
    _hba(
        "hba_wide_cidr",
        "wide_range",
        "no pg_hba rule admits a wide address range",
        "medium",
        rationale="Rules for 0.0.0.0/0, ::/0, 'all' or short prefixes admit the whole network "
        "(or the internet) to the password prompt.",
        fix="Restrict each rule to the application's subnets (IPv4 /16 or narrower, IPv6 /48 "
        "or narrower) and reload.",
        pgdsat=("5.9",),
    ),
    Control(
        "hba_remote_superuser",
        "superusers cannot log in over the network",
        "high",
        "server",
        "findings",
        rationale="A superuser password that works from the network is the single most valuable "
        "target; administrators should come in through a local socket or a bastion.",
        fix="Add `host all postgres 0.0.0.0/0 reject` (and ::/0) before the broad rules, or "
        "name the application roles instead of 'all', and reload.",
        privilege=HBA,
        pgdsat=("5.11",),
    ),
    _hba(
        "hba_host_without_ssl",
        "without_tls",
        "remote pg_hba rules require TLS (hostssl)",
        "high",
        rationale="A `host` or `hostnossl` rule for a non-loopback address accepts unencrypted "
        "sessions: credentials exchange and data travel in clear.",
        fix="Change `host` to `hostssl` for non-loopback addresses and reload.",
        cis=("6.8",),
        pgdsat=("5.8",),
    ),
    _hba(
        "hba_all_databases_users",
        "all_all",
        "no network pg_hba rule admits every user to every database",
        "low",
        rationale="A rule for all databases and all users gives every role the same way in; "
        "naming the databases and roles (or +groups) a rule is for keeps each role's access "
        "deliberate.",
        fix="Replace `all all` in those lines with the databases and roles (+group) each rule "
        "is for, and reload.",
        stig=("V-261890",),
    ),
    _hba(
        "hba_external_auth",
        "not_external",
        "pg_hba rules authenticate through the organisation (gss, sspi, ldap or cert)",
        "medium",
        rationale="Accounts the organisation manages centrally (Kerberos, LDAP, certificates) "
        "are disabled with the person; passwords kept by PostgreSQL are not. Rules that use "
        "another method need documented approval.",
        fix="Move those lines to gss, sspi, ldap or cert and reload, or document and approve "
        "them and skip this control (--skip hba_external_auth).",
        stig=("V-261858",),
    ),
    setting(
        "authentication_timeout",
        "authentication_timeout is at most 60 seconds",
        Rule("authentication_timeout", r"^[0-9]", "1s to 60s", low=1, high=60),
        severity="low",
        rationale="Half-open authentications hold connection slots; a short timeout limits slot "
        "exhaustion.",
        fix="ALTER SYSTEM SET authentication_timeout = '30s' and reload.",
        pgdsat=("5.7",),
    ),
    setting(
        "ssl_on",
        "the server accepts TLS (ssl = on)",
        Rule("ssl", ON, "on"),
        severity="high",
        rationale="Without TLS, passwords exchanges and data cross the network in clear.",
        fix="Install a certificate, ALTER SYSTEM SET ssl = on and reload.",
        cis=("6.8",),
        pgdsat=("6.8",),
        stig=("V-261900", "V-261928", "V-261932", "V-261933"),
    ),
    Control(
        "ssl_min_protocol_version",
        "ssl_min_protocol_version is TLSv1.2 or later",
        "medium",
        "server",
        "status",
        rationale="TLS 1.0 and 1.1 are deprecated (RFC 8996) and have known weaknesses.",
        fix="ALTER SYSTEM SET ssl_min_protocol_version = 'TLSv1.2' and reload.",
        privilege=READ_ALL_SETTINGS,
        cis=("6.8",),
        pgdsat=("6.8",),
    ),
    setting(
        "ssl_min_protocol_tls13",
        "ssl_min_protocol_version is TLSv1.3",
        Rule("ssl_min_protocol_version", r"^tlsv1\.3$", "TLSv1.3"),
        severity="low",
        privilege=READ_ALL_SETTINGS,
        rationale="TLS 1.2 still allows older algorithms; TLS 1.3 keeps only modern AEAD cipher "
        "suites and forward secrecy. Use it wherever every client supports it.",
        fix="ALTER SYSTEM SET ssl_min_protocol_version = 'TLSv1.3' and reload.",
        cis=("6.9",),
    ),
    Control(
        "ssl_ciphers",
        "ssl_ciphers allows only strong, forward-secret cipher suites",
        "medium",
        "server",
        "status",
        rationale="The default list admits medium-strength and non-forward-secret suites; a "
        "list of ECDHE/DHE suites with AES-GCM, AES-CCM or ChaCha20 (and the TLS 1.3 suites) "
        "keeps weak ones from being negotiated.",
        fix="ALTER SYSTEM SET ssl_ciphers = 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-"
        "SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-"
        "GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256' and reload.",
        privilege=READ_ALL_SETTINGS,
        cis=("6.10",),
    ),
    Control(
        "session_encrypted",
        "this verify session is encrypted with TLS",
        "high",
        "server",
        "status",
        rationale="The connection verify uses is a sample of how clients connect: it should be "
        "TLS.",
        fix="Connect with sslmode=verify-full and make pg_hba require hostssl.",
        privilege="any role (pg_stat_ssl, own session)",
        cis=("6.8",),
        pgdsat=("5.8",),
    ),
    Control(
        "pki_client_certificates",
        "clients can be authenticated by certificates checked against a CA and a CRL",
        "low",
        "server",
        "status",
        rationale="Certificate authentication is only as good as its validation: the server "
        "needs the issuing CA (ssl_ca_file), a revocation list (ssl_crl_file or ssl_crl_dir) "
        "and hostssl rules that demand the certificate (cert, or clientcert=verify-ca/full).",
        fix="Set ssl_ca_file and ssl_crl_file, add `hostssl ... cert` (or clientcert=verify-"
        "full) rules and reload.",
        privilege=HBA,
        stig=("V-261893", "V-261929"),
    ),
    setting(
        "listen_addresses",
        "the server listens on named addresses, not on every interface",
        Rule(
            "listen_addresses",
            r"^(?!.*(^|,)\s*(\*|0\.0\.0\.0|::)\s*(,|$))",
            "a list of addresses without *, 0.0.0.0 or ::",
        ),
        severity="low",
        rationale="Listening on every interface exposes the server on networks it was never "
        "meant to serve; naming the addresses limits where connections can come from.",
        fix="Set listen_addresses = '<address>[, ...]' in postgresql.conf and restart.",
        cis=("5.2",),
        stig=("V-261889",),
    ),
    setting(
        "session_timeouts",
        "dead connections and runaway statements are ended",
        Rule("tcp_keepalives_idle", NONZERO, "more than 0", low=1),
        Rule("tcp_keepalives_interval", NONZERO, "more than 0", low=1),
        Rule("tcp_keepalives_count", NONZERO, "more than 0", low=1),
        Rule("statement_timeout", NONZERO, "more than 0", low=1),
        severity="low",
        rationale="Keepalives end sessions whose client vanished, and a statement timeout ends "
        "statements that would hold a session forever; both keep session identifiers from "
        "outliving their use.",
        fix="ALTER SYSTEM SET tcp_keepalives_idle = 60, tcp_keepalives_interval = 10, "
        "tcp_keepalives_count = 6 (one statement each) and statement_timeout = '1h' (or per "
        "role), and reload.",
        stig=("V-261899",),
    ),
)
