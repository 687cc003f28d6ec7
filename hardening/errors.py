"""Every error the kit raises on purpose, under one root: ``except HardeningError`` catches them.

Messages name the object and the fix, never a key, a password or a plaintext. The tree::

    HardeningError
    ├── SettingsError            a setting (-x / HARDENING_* / a URL) the kit cannot use
    ├── MigrationError           a kit step or a migration run cannot proceed
    │   └── StepError            the same, raised inside an Alembic revision: also alembic's
    │                            CommandError, so alembic's own CLI prints it as one line
    ├── EncryptionError          encrypted columns; never wrapped in SQLAlchemy's StatementError
    │   ├── KeyConfigError       no keys, or keys that cannot be used
    │   ├── KeyNotFoundError     a value names a key id the keyring lacks
    │   ├── DecryptionError      wrong key, tampered, truncated or moved value
    │   ├── EnvelopeError        bytes that are not an envelope of the expected format
    │   ├── EncryptedComparisonError   SQL that would compare, group or sort ciphertext
    │   ├── InlineKeyError       a key that would be written into SQL text
    │   ├── ColumnContextError   an encrypted type used outside a table column
    │   ├── ColumnOptionError    an encrypted type given options that cannot work
    │   ├── RowBindingError      a row-bound value whose row the kit cannot know
    │   ├── EncryptedValueError  a value an encrypted column cannot store
    │   ├── BlindIndexError      a blind index that cannot work as declared or used
    │   └── RewriteError         a column rewrite (rotate, op.encrypt_column) cannot proceed
    │       ├── RotationError          ``hardening rotate`` / ``rotate()``
    │       │   └── RotationStopped    a row stopped the run (with what was committed)
    │       └── EncryptColumnError     ``op.encrypt_column`` / ``op.decrypt_column``
    ├── PasswordError            setting a password cannot proceed
    │   └── PasswordPolicyError  the password breaks the database's policy
    ├── VerifyError              ``hardening verify`` could not run at all
    ├── AuditError               audit events: reading a log, attributing an actor
    │   ├── ActorError           an actor value that cannot be carried (empty, too long)
    │   └── LogFormatError       a log the reader cannot read as asked (form, prefix, file)
    └── ServerStartError         a test server (pytest plugin) did not come up
        └── ImageUnavailableError  the docker backend's image is missing and cannot be built

    HardeningWarning (UserWarning)
    └── PepperWarning            reuse history kept without HARDENING_PASSWORD_PEPPER

``StepError`` is defined beside the Alembic operations (``hardening.ops``), which import
Alembic anyway, and is reachable here as ``hardening.errors.StepError``: importing this module
never imports Alembic (``hardening passwd`` and ``hardening verify`` do not need it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DontWrapMixin

if TYPE_CHECKING:
    from hardening.ops import StepError

__all__ = [
    "ActorError",
    "AuditError",
    "BlindIndexError",
    "ColumnContextError",
    "ColumnOptionError",
    "DecryptionError",
    "EncryptColumnError",
    "EncryptedComparisonError",
    "EncryptedValueError",
    "EncryptionError",
    "EnvelopeError",
    "HardeningError",
    "HardeningWarning",
    "ImageUnavailableError",
    "InlineKeyError",
    "KeyConfigError",
    "KeyNotFoundError",
    "LogFormatError",
    "MigrationError",
    "PasswordError",
    "PasswordPolicyError",
    "PepperWarning",
    "RewriteError",
    "RotationError",
    "RotationStopped",
    "RowBindingError",
    "ServerStartError",
    "SettingsError",
    "StepError",
    "VerifyError",
]


class HardeningError(Exception):
    """Root of every error the kit raises on purpose; the message names the object and the
    fix, never a secret.

    Example::

        try:
            hardening.migrate.upgrade(url)
        except HardeningError as exc:
            sys.exit(f"hardening: {exc}")
    """


class HardeningWarning(UserWarning):
    """Root of the kit's warnings."""


# --------------------------------------------------------------------------------- settings


class SettingsError(HardeningError, ValueError):
    """A setting has a value (or a name) the kit cannot use; the message names the setting
    and the fix, and never quotes a secret."""


# ------------------------------------------------------------------------------- migrations


class MigrationError(HardeningError):
    """A kit step or a migration run cannot proceed; nothing was changed unless the message
    says otherwise."""


def __getattr__(name: str) -> Any:
    """``StepError`` lives beside the Alembic operations; import it from there on demand."""
    if name == "StepError":
        from hardening.ops import StepError

        return StepError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------- encryption


class EncryptionError(DontWrapMixin, HardeningError):
    """Base class of the kit's encryption errors; messages never hold a key or a plaintext.

    Raised while SQLAlchemy runs a statement (a bind or result processor), they reach the
    application as they are, not wrapped in ``StatementError``: ``except KeyConfigError``
    catches a missing key whether it is met on import, on insert or on select."""


class KeyConfigError(EncryptionError, ValueError):
    """No keys, or keys that cannot be used; the message says where they came from and the fix."""


class KeyNotFoundError(EncryptionError, LookupError):
    """A value was encrypted under a key id the keyring does not hold.

    Args:
        key_id: the id the stored value names.
        column: ``table.column`` of the value, when known.
        known: the ids the keyring holds (named in the message, never their keys).
    """

    def __init__(self, key_id: str, column: str | None = None, known: Sequence[str] = ()) -> None:
        self.key_id = key_id
        self.column = column
        where = f" of {column}" if column else ""
        have = ", ".join(repr(k) for k in known) or "none"
        super().__init__(
            f"key id {key_id!r} needed to decrypt a value{where} is not in the keyring "
            f"(it holds {have}); add the old key back to HARDENING_KEYS after the active one"
        )


class DecryptionError(EncryptionError):
    """A stored value does not decrypt: wrong key, tampered, truncated, or from another column.

    Args:
        column: ``table.column`` of the value.
        key_id: the key id tried, or None when it is not known.
        reason: why, in words (never the value).
        candidates: the key ids that might have been tried, when ``key_id`` is None.
    """

    def __init__(
        self, column: str, key_id: str | None, reason: str, candidates: Sequence[str] = ()
    ) -> None:
        self.column = column
        self.key_id = key_id
        if key_id is not None:
            kid = f"key id {key_id!r}"
        elif candidates:
            kid = "key id one of " + ", ".join(repr(k) for k in candidates)
        else:
            kid = "unknown key id"
        super().__init__(f"cannot decrypt a value of {column} ({kid}): {reason}")


class EnvelopeError(EncryptionError, ValueError):
    """Bytes that are not an envelope of the expected format (truncated, or another format)."""


class EncryptedComparisonError(EncryptionError, TypeError):
    """SQL that cannot work on ciphertext: ``LIKE``, ``<``, ``==`` a value, ``IN``, and
    ``ORDER BY`` / ``GROUP BY`` / ``DISTINCT`` an encrypted column."""


class InlineKeyError(EncryptionError):
    """A pgcrypto key would be written into the SQL text instead of sent as a bind parameter."""


class ColumnContextError(EncryptionError):
    """An encrypted type used outside a table column, without ``context=``."""


class ColumnOptionError(EncryptionError, ValueError):
    """An encrypted type given options that cannot work (padding on a fixed-width type, an
    unknown padding scheme, row binding on a table whose primary key cannot bind a row);
    raised where the type is declared or first attached, naming the column and the fix."""


class RowBindingError(EncryptionError):
    """A value of a row-bound column (``bind_row=True``) whose row the kit cannot know: an
    INSERT without the primary key, an UPDATE that does not select one row by its primary
    key, a SELECT without the table's primary key. Names the column and the fix."""


class EncryptedValueError(EncryptionError, TypeError):
    """A value an encrypted column cannot store (wrong Python type); names the column and the
    type, never the value. ``execute()`` wraps it in SQLAlchemy's ``StatementError`` (``.orig``)
    with the statement's parameters hidden: they would show the row's plaintexts."""


class BlindIndexError(EncryptionError, ValueError):
    """A blind index that cannot work: declared for a column the table lacks, asked of a
    column that has none, or an UPDATE that sets the encrypted column in a way its blind
    index cannot follow."""


class RewriteError(EncryptionError):
    """A column rewrite (``hardening rotate``, ``op.encrypt_column``) cannot proceed; the
    message names the table, the column and the row (by primary key, never its data)."""


class RotationError(RewriteError, RuntimeError):
    """The column cannot be rotated as asked (no single-column primary key, unknown format)."""


class RotationStopped(RotationError):
    """A row stopped the run; the message names it by primary key (never its data) and says
    what was committed. ``report`` (None if it stopped before the first batch) counts the
    values moved by the batches before it: they stay under the new key, and a new run, once
    the row is fixed, resumes after them.

    Args:
        message: the one-line reason with the fix.
        report: a ``hardening.rotation.RotationReport`` of what was committed, or None.
    """

    def __init__(self, message: str, report: Any | None) -> None:
        super().__init__(message)
        self.report = report


class EncryptColumnError(RewriteError):
    """``op.encrypt_column`` / ``op.decrypt_column`` cannot convert the column as asked."""


# -------------------------------------------------------------------------------- passwords


class PasswordError(HardeningError):
    """A password cannot be set: the policy is not installed, the role does not exist, or
    the connecting role lacks a privilege; the message names the fix."""


class PasswordPolicyError(PasswordError):
    """The password breaks the policy; the message lists the rules, never the password."""


class PepperWarning(HardeningWarning):
    """No HARDENING_PASSWORD_PEPPER: a reuse-history digest was stored without a secret key."""


# ----------------------------------------------------------------------- verify and testing


class VerifyError(HardeningError):
    """``hardening verify`` could not run at all (bad URL, no connection); the message is
    one line and never contains a password."""


class ServerStartError(HardeningError):
    """A test server did not come up; the message carries the tail of its log."""


class ImageUnavailableError(ServerStartError):
    """The docker backend's image is not in the engine and cannot be built or pulled here;
    the message says what was tried and names the command that builds it
    (``hardening testing-image build VERSION``)."""


# ---------------------------------------------------------------------------------- audit


class AuditError(HardeningError):
    """Audit events (``hardening.audit``) cannot be read or attributed as asked; the message
    names the file, the setting or the value's problem, never a log line's content."""


class ActorError(AuditError, ValueError):
    """An actor value that cannot be carried into the audit log: not a string, empty, or
    longer than the application name leaves room for. The message gives its length, never
    the value.

    Example::

        with hardening.audit.actor("user:42"):  # ActorError for "" or a 200-character value
            ...
    """


class LogFormatError(AuditError):
    """A server log the reader cannot read as asked: an unknown form, a ``log_line_prefix``
    with an escape the reader does not know, or a file that cannot be opened."""
