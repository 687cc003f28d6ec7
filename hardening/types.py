"""Encrypted SQLAlchemy column types: the kit's public face for applications.

    from hardening.types import EncryptedText, PGPText, mapped_blind_index

AEAD family (``EncryptedText``, ``EncryptedBytes``, ``EncryptedJSON``, ``EncryptedInteger``,
``EncryptedFloat``, ``EncryptedNumeric``, ``EncryptedBoolean``, ``EncryptedDate``,
``EncryptedDateTime``, ``EncryptedTime``, ``EncryptedUUID``): AES-256-GCM in the application
under each column's own key, one random 96-bit nonce per value, a versioned envelope stored
as ``bytea``, bound to its column's schema, table and name (``ColumnContext``), so a value
copied to another column, table or schema, or with its key id changed, does not decrypt.
Fixed-size types are stored in one length; ``padding=`` pads text, bytes, JSON and numeric
values; ``bind_row=True`` binds each value to its row's primary key. The database never
sees a key or a plaintext.

pgcrypto family (``PGPText``, ``PGPBytes``): ``pgp_sym_encrypt`` / ``pgp_sym_decrypt`` run in
PostgreSQL with a per-column key (derived from the column's schema, table and name) that is
only ever a bind parameter (``InlineKeyError`` otherwise).

Both families: NULL stays NULL; keys come from ``HARDENING_KEYS`` or ``configure_keys`` (no
default key); comparisons that cannot work on ciphertext (``==`` a value, ``LIKE``, ``<``,
``IN``, ``ORDER BY col.asc()``) raise ``EncryptedComparisonError`` when the query is built, a
bare ``ORDER BY col`` (at any depth) when the statement is executed; equality lookups go
through a blind index (``mapped_blind_index`` / ``blind_index_column``) with
``col.blind_eq(value)``, which hashes one canonical form per type and raises when the index
holds values made by a key the keyring no longer holds. One type instance serves one column.

Importing this module changes nothing outside the kit; the hooks that refuse SQL on
ciphertext and keep blind indexes in step go on an engine when one of these types, or a
column of them, is first compiled for it, or with ``install(engine)``
(``hardening.crypto.hooks``). Where each part lives: ``hardening.crypto``.
"""

from __future__ import annotations

from hardening.crypto.aead import (
    EncryptedBoolean,
    EncryptedBytes,
    EncryptedDate,
    EncryptedDateTime,
    EncryptedFloat,
    EncryptedInteger,
    EncryptedJSON,
    EncryptedNumeric,
    EncryptedText,
    EncryptedTime,
    EncryptedType,
    EncryptedUUID,
)
from hardening.crypto.base import EncryptedBase
from hardening.crypto.blind_index import blind_index_column, mapped_blind_index
from hardening.crypto.cipher import ColumnCipher
from hardening.crypto.context import ColumnContext
from hardening.crypto.hooks import install
from hardening.crypto.keys import Keyring, configure_keys
from hardening.crypto.pgcrypto import PGPBytes, PGPText, PGPType
from hardening.errors import (
    BlindIndexError,
    ColumnContextError,
    ColumnOptionError,
    DecryptionError,
    EncryptedComparisonError,
    EncryptedValueError,
    EncryptionError,
    InlineKeyError,
    KeyConfigError,
    KeyNotFoundError,
    RowBindingError,
)

__all__ = [
    "BlindIndexError",
    "ColumnCipher",
    "ColumnContext",
    "ColumnContextError",
    "ColumnOptionError",
    "DecryptionError",
    "EncryptedBase",
    "EncryptedBoolean",
    "EncryptedBytes",
    "EncryptedComparisonError",
    "EncryptedDate",
    "EncryptedDateTime",
    "EncryptedFloat",
    "EncryptedInteger",
    "EncryptedJSON",
    "EncryptedNumeric",
    "EncryptedText",
    "EncryptedTime",
    "EncryptedType",
    "EncryptedUUID",
    "EncryptedValueError",
    "EncryptionError",
    "InlineKeyError",
    "KeyConfigError",
    "KeyNotFoundError",
    "Keyring",
    "PGPBytes",
    "PGPText",
    "PGPType",
    "RowBindingError",
    "blind_index_column",
    "configure_keys",
    "install",
    "mapped_blind_index",
]
