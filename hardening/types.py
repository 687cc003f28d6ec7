"""Encrypted SQLAlchemy column types: a client-side AEAD family and a server-side pgcrypto family.

AEAD family (``EncryptedText``, ``EncryptedBytes``, ``EncryptedJSON``, ``EncryptedInteger``,
``EncryptedFloat``, ``EncryptedNumeric``, ``EncryptedBoolean``, ``EncryptedDate``,
``EncryptedDateTime``, ``EncryptedTime``, ``EncryptedUUID``): AES-256-GCM in the application,
one random 96-bit nonce per value, the versioned envelope of ``hardening.envelope`` stored as
``bytea``; the associated data is ``table.column`` plus the envelope header, so a value copied
to another column, or with its key id changed, does not decrypt. The database never sees a key
or a plaintext.

pgcrypto family (``PGPText``, ``PGPBytes``): ``pgp_sym_encrypt_bytea`` / ``pgp_sym_decrypt_bytea``
run in PostgreSQL with ``cipher-algo=aes256, s2k-mode=1`` (one hash of a random 256-bit
password: the iterated S2K default exists to slow down guessing of human passwords and costs
~30x more per row). The password is a per-column key derived from the keyring key and is only
ever a bind parameter: a compile that would inline it (``literal_binds``, Alembic ``--sql``, a
driver that interpolates parameters client-side such as psycopg2) raises
``InlineKeyError``. The stored value is ``0x02 | len | key id | OpenPGP message``; the SELECT
picks the key by id from an array parameter, so rows under old keys still read during a
rotation. Keep ``log_parameter_max_length = 0`` on the database (the kit's migration sets it):
the server would otherwise log the password and plaintext parameters with ``log_statement``.

Both families: NULL stays NULL; keys come from ``hardening.keys`` (no default key); comparisons
that cannot work on ciphertext (``==`` a value, ``LIKE``, ``<``, ``IN``, ``ORDER BY col.asc()``)
raise ``EncryptedComparisonError`` when the query is built, a bare ``ORDER BY col`` (at any
depth) when the statement is executed; equality lookups go through a blind index
(``hardening.blind_index``) with ``col.blind_eq(value)``. One type instance serves one column.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar, cast

import psycopg
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Integer, LargeBinary, Text, event, func, literal_column, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, Engine, ExceptionContext
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import elements, operators, sqltypes, visitors
from sqlalchemy.sql.base import SchemaEventTarget
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement, Null
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.schema import Column, Table
from sqlalchemy.types import TypeDecorator

from hardening import blind_index, keys
from hardening.envelope import AEAD_V1, MAX_KEY_ID, PGP_V1, decode, header, split_header
from hardening.errors import (
    ColumnContextError,
    DecryptionError,
    EncryptedComparisonError,
    EncryptedValueError,
    EncryptionError,
    EnvelopeError,
    InlineKeyError,
    KeyConfigError,
    KeyNotFoundError,
)
from hardening.keys import (
    Key,
    KeyHook,
    Keyring,
    KeySource,
    as_keyring,
    configure_keys,
    default_keyring,
)

__all__ = [
    "ColumnContextError",
    "DecryptionError",
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
    "EncryptedUUID",
    "EncryptedValueError",
    "EncryptionError",
    "InlineKeyError",
    "KeyConfigError",
    "KeyNotFoundError",
    "Keyring",
    "PGPBytes",
    "PGPText",
    "configure_keys",
]

T = TypeVar("T")

PGP_OPTIONS = "cipher-algo=aes256, s2k-mode=1"
UNKNOWN_KEY_MARK = "pg-hardening: unknown key id "
NOT_ENVELOPE_MARK = "pg-hardening: not an envelope"
_ESCAPE: ColumnElement[str] = literal_column("'escape'")
SAFE_PGP_DRIVERS = frozenset({"psycopg", "psycopg_async", "asyncpg", "pg8000"})


class Secret(bytes):
    """Bytes that print as ``[REDACTED]`` (SQLAlchemy's echo logs parameters with repr)."""

    def __repr__(self) -> str:
        return "'[REDACTED]'"


class SecretText(str):
    """A str that prints as ``[REDACTED]``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'[REDACTED]'"


class _Nonces(threading.local):
    """96-bit GCM nonces sliced from a per-thread buffer of OS randomness (one getrandom call
    per 4,096 nonces instead of one per value). Reset in a forked child, so parent and child
    never hand out the same bytes."""

    def __init__(self) -> None:
        self.buf = b""
        self.pos = 0


_NONCES = _Nonces()


def nonce12() -> bytes:
    n = _NONCES
    pos = n.pos
    if pos >= len(n.buf):
        n.buf, pos = os.urandom(12 * 4096), 0
    n.pos = pos + 12
    return n.buf[pos : pos + 12]


def _after_fork() -> None:
    global _NONCES
    _NONCES = _Nonces()


os.register_at_fork(after_in_child=_after_fork)


class _ColumnKeys:
    """One column's view of the keyring, with every per-key object made once and cached:
    AES-GCM ciphers and associated data by envelope header, blind-index HMAC keys, pgcrypto
    passwords. Nothing here is derived per row."""

    def __init__(self, context: str | None, source: KeyHook | KeySource | None) -> None:
        self.context = context
        self.source = source
        self.lock = threading.Lock()
        self.ring: Keyring | None = None
        self.enc: tuple[bytes, AESGCM, bytes] | None = None
        # envelope header -> (that key's AESGCM.decrypt, associated data): the bound method
        # saves the hot path an attribute lookup per row
        self.dec: dict[bytes, tuple[Callable[[bytes, bytes, bytes], bytes], bytes]] = {}
        self.macs: tuple[bytes, ...] | None = None
        self.pgp: tuple[bytes, str, list[bytes], list[str]] | None = None
        if source is None:
            keys.watch(self)

    # -- keyring -----------------------------------------------------------------------------
    def keys_changed(self) -> None:
        self.ring, self.enc, self.macs, self.pgp = None, None, None, None
        self.dec.clear()  # the result processors hold this very dict

    def keyring(self, refresh: bool = False) -> Keyring:
        if refresh:
            if self.source is None:
                keys.reload()
            self.keys_changed()
        ring = self.ring
        if ring is None:
            with self.lock:
                ring = self.ring = self._load()
        return ring

    def _load(self) -> Keyring:
        src = self.source
        if src is None:
            return default_keyring()
        if callable(src):
            return keys.from_hook(src, origin=f"the keys= hook of {self.name}")
        return as_keyring(src, origin=f"keys= of {self.name}")

    @property
    def name(self) -> str:
        if self.context is None:
            raise ColumnContextError(
                "an encrypted type is used outside a table column; attach it to a Column in a "
                "Table (or a mapped class), or pass context='table.column'"
            )
        return self.context

    def associated_data(self, head: bytes) -> bytes:
        return b"pg-hardening\x00" + self.name.encode() + b"\x00" + head

    # -- AEAD --------------------------------------------------------------------------------
    def encrypt(self, data: bytes) -> bytes:
        head, aead, ad = self.enc or self.prepare_encrypt()
        nonce = nonce12()
        return head + nonce + aead.encrypt(nonce, data, ad)

    def prepare_encrypt(self) -> tuple[bytes, AESGCM, bytes]:
        key = self.keyring().active
        head = header(AEAD_V1, key.id)
        self.enc = (head, key.aead, self.associated_data(head))
        return self.enc

    def decrypt(self, value: bytes) -> bytes:
        try:
            end = value[1] + 2
            open_, ad = self.dec[value[:end]]
            return open_(value[end : end + 12], value[end + 12 :], ad)
        except Exception:  # noqa: S110 - slow path below, outside it
            pass
        return self.decrypt_slow(value)

    def decrypt_slow(self, value: bytes) -> bytes:
        """The careful path: parses the header, finds the key, names every failure."""
        # Errors are raised after the except blocks: none keeps another (nor the value) as
        # its __context__.
        try:
            version, kid, body = split_header(value)
            bad = "the value is a pgcrypto envelope, not an AEAD one" if version != AEAD_V1 else ""
        except EnvelopeError as exc:
            bad = str(exc)
        if bad:
            raise DecryptionError(self.name, None, bad)
        ring = self.keyring()
        if kid not in ring:
            ring = self.keyring(refresh=True)
        key = ring.get(kid, self.name)
        head = bytes(value[:body])
        entry = self.dec[head] = (key.aead.decrypt, self.associated_data(head))
        if len(value) < body + 12 + 16:
            raise DecryptionError(self.name, kid, "the value is truncated")
        try:
            return entry[0](bytes(value[body : body + 12]), bytes(value[body + 12 :]), entry[1])
        except InvalidTag:
            pass
        raise DecryptionError(
            self.name,
            kid,
            "authentication failed: wrong key, or the value was altered, truncated or "
            "copied from another column",
        )

    def is_current(self, value: bytes) -> bool:
        """True when ``value`` is an envelope under the active key (nothing to rotate)."""
        key = self.keyring().active
        return bytes(value[: 2 + len(key.id)]) == header(value[0] if value else 0, key.id)

    # -- blind index -------------------------------------------------------------------------
    def mac_keys(self) -> tuple[bytes, ...]:
        macs = self.macs
        if macs is None:
            ring = self.keyring()
            macs = self.macs = tuple(blind_index.hmac_key(k, self.name) for k in ring.keys)
        return macs

    # -- pgcrypto ----------------------------------------------------------------------------
    def pgp_password(self, key: Key) -> str:
        return base64.b64encode(key.derive(f"pgcrypto/v1/{self.name}")).decode()

    def pgp_material(self) -> tuple[bytes, str, list[bytes], list[str]]:
        """(active header, active password, key ids, passwords) for the SQL of this column."""
        pgp = self.pgp
        if pgp is None:
            ring = self.keyring()
            pgp = self.pgp = (
                header(PGP_V1, ring.active.id),
                SecretText(self.pgp_password(ring.active)),
                [k.id.encode() for k in ring.keys],
                [SecretText(self.pgp_password(k)) for k in ring.keys],
            )
        return pgp


class _Guarded(TypeDecorator.Comparator[Any]):
    """Lets through what works on ciphertext (IS NULL, == None) and ``blind_eq``; every other
    operator raises ``EncryptedComparisonError`` when the query is built. ``.distinct()``
    too: ``count(DISTINCT col)`` would count ciphertexts, one per row."""

    _ALLOWED: ClassVar[frozenset[Any]] = frozenset({operators.is_, operators.is_not})

    def operate(self, op: Any, *other: Any, **kwargs: Any) -> ColumnElement[Any]:
        self._check(op, other)
        return super().operate(op, *other, **kwargs)

    def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> ColumnElement[Any]:
        self._check(op, (other,))
        return super().reverse_operate(op, other, **kwargs)

    def _check(self, op: Any, other: tuple[Any, ...]) -> None:
        if op in self._ALLOWED:
            return
        if op in (operators.eq, operators.ne) and other and _is_null(other[0]):
            return
        if op in (operators.eq, operators.ne) and other and _is_column(other[0]):
            # Against a column (not a value): SQLAlchemy compares columns this way when it
            # looks one up in a list or dict (`c in columns`: INSERT .. RETURNING, the ORM's
            # UPDATE synchronisation), never sending the result. In SQL, a comparison with an
            # encrypted column is refused when the statement is executed
            # (``_refuse_on_ciphertext``), except the column against itself.
            return
        name = getattr(op, "__name__", str(op)).rstrip("_").removesuffix("_op")
        col = getattr(self.expr, "key", "column")
        hint = (
            f"use {col}.blind_eq(value) with a blind index"
            if op in (operators.eq, operators.ne, operators.in_op)
            else "decrypt in the application instead"
        )
        raise EncryptedComparisonError(
            f"{name!r} cannot be computed on the encrypted column {col!r} (the database only "
            f"holds ciphertext, so it would return wrong rows); {hint}"
        )

    def blind_eq(self, value: Any) -> ColumnElement[bool]:
        """``bidx IN (hmac_k1(value), hmac_k2(value), ...)``: equality through the blind index."""
        index_col = blind_index.index_column_of(self.expr)
        if _is_null(value):
            col = getattr(self.expr, "key", "column")
            raise EncryptedComparisonError(
                f"blind_eq(None) cannot find NULLs of {col!r} (a NULL has no blind index); "
                f"use {col}.is_(None)"
            )
        hashes = cast(_EncryptedBase[Any], self.type).blind_hashes(value)
        if len(hashes) == 1:
            result: ColumnElement[bool] = index_col == hashes[0]
            return result
        found: ColumnElement[bool] = index_col.in_(hashes)
        return found

    def blind_hash(self, value: Any) -> bytes | None:
        """The blind-index value to store for ``value`` (for Core UPDATEs)."""
        return cast(_EncryptedBase[Any], self.type).blind_hash(value)


def _is_null(value: Any) -> bool:
    return value is None or isinstance(value, Null)


def _is_column(other: Any) -> bool:
    """True for a column expression, not a value (a bind parameter or a Python value)."""
    clause = getattr(other, "__clause_element__", None)  # an ORM attribute
    if clause is not None:
        other = clause()
    return isinstance(other, ColumnElement) and not isinstance(other, BindParameter)


class _EncryptedBase(TypeDecorator[T], Generic[T]):
    """What both families share: the column context, the keys, the guards, blind hashing."""

    impl = LargeBinary
    cache_ok = True
    comparator_factory = _Guarded

    def __init__(self, context: str | None = None, keys: KeyHook | KeySource | None = None) -> None:
        super().__init__()
        self.context = context
        if keys is not None and not callable(keys):
            # checked now (a bad key fails where the type is configured) and hashable for
            # SQLAlchemy's statement cache
            keys = as_keyring(keys, origin=f"keys= of {type(self).__name__}")
        self.keys: KeyHook | Keyring | None = keys
        self._state = _ColumnKeys(context, keys)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(context={self._state.context!r})"

    def _set_parent(self, parent: SchemaEventTarget, outer: bool = False, **kw: Any) -> None:
        super()._set_parent(parent, outer=outer, **kw)
        if isinstance(parent, Column):
            parent._on_table_attach(self._set_table)

    def _set_table(self, column: Column[Any], table: Table) -> None:
        if self.context is not None:
            return
        name = f"{table.name}.{column.name}"
        current = self._state.context
        # SQLAlchemy's copies (mixin columns, to_metadata, dialect impls) share __dict__ and so
        # the state; a copy gets its own state here. The very instance on a second column is
        # refused: rebinding would move the first column's values to the second column's
        # associated data, blind-index key and pgcrypto password, and they would stop reading.
        if current is not None and current != name and self.__dict__.get("_bound_id") == id(self):
            raise ColumnContextError(
                f"one {type(self).__name__} instance is used by two columns, {current} and "
                f"{name}; give each column its own instance ({type(self).__name__}() in each "
                "Column / mapped_column), so each binds its values to its own table.column"
            )
        self._state = _ColumnKeys(name, self.keys)
        self._bound_id = id(self)

    @property
    def column_context(self) -> str:
        """``table.column``: what the ciphertext is bound to (raises when not attached)."""
        return self._state.name

    # -- the Python value <-> bytes ---------------------------------------------------------
    def to_bytes(self, value: Any) -> bytes:
        raise NotImplementedError

    def from_bytes(self, data: bytes) -> Any:
        raise NotImplementedError

    def _encode(self, value: Any) -> bytes:
        try:
            return self.to_bytes(value)
        except (TypeError, ValueError, AttributeError, ArithmeticError):
            pass  # raised below, outside the block: the converter's error may quote the value
        raise EncryptedValueError(
            f"{type(self).__name__} of {self._state.name} cannot store a "
            f"{type(value).__name__} value; it expects {self._python_type_name()}"
        )

    def _python_type_name(self) -> str:
        try:
            return self.python_type.__name__
        except NotImplementedError:
            return "a value of the column's type"

    # -- never a literal ---------------------------------------------------------------------
    def literal_processor(self, dialect: Dialect) -> Callable[[Any], str]:
        """Refused before any value is looked at: SQLAlchemy's own error for a failing literal
        quotes the value (a plaintext), and a literal would put it in the SQL text."""
        where = self._state.context or "an encrypted column"
        raise InlineKeyError(
            f"{type(self).__name__} values of {where} cannot be rendered as SQL literals "
            "(literal_binds, Alembic --sql): the value would be written into the SQL text; "
            "run the statement with bind parameters, online"
        )

    # -- blind index -------------------------------------------------------------------------
    def blind_hashes(self, value: Any) -> list[bytes]:
        """The blind-index values of ``value`` under every keyring key, active first."""
        data = self._encode(value)
        return [blind_index.digest(k, data) for k in self._state.mac_keys()]

    def blind_hash(self, value: Any) -> bytes | None:
        """The blind-index value to store (active key); None for NULL."""
        if value is None:
            return None
        return blind_index.digest(self._state.mac_keys()[0], self._encode(value))


# --------------------------------------------------------------------------------- AEAD family
class EncryptedType(_EncryptedBase[T]):
    """AES-256-GCM in the application (see the module docstring).

    ``legacy_plaintext=True`` is for the transition of ``op.encrypt_column``, when some rows
    still hold plaintext. A stored value is read as an envelope when it starts with an AEAD
    header (``0x01``, a key-id length of 1 to 64, a key id of ``A-Z a-z 0-9 _ . -``) and
    either its key id is in the keyring (after a reload) or it is complete (at least a 12-byte
    nonce and a 16-byte tag after the header). An envelope decrypts or raises, exactly as
    without the flag: ``KeyNotFoundError`` naming the key id when the keyring lacks it,
    ``DecryptionError`` when it fails authentication or, under a known key id, is truncated.
    Every other value (no AEAD header, a pgcrypto envelope, or a header under an unknown key
    id too short to hold nonce and tag) is returned as plaintext. A key removed from the
    keyring too early is therefore an error, never ciphertext read as data; the price is that
    a plaintext which happens to be a complete envelope under an unknown key id is an error
    too. Neither error holds a key or the value.
    """

    def __init__(
        self,
        context: str | None = None,
        keys: KeyHook | KeySource | None = None,
        legacy_plaintext: bool = False,
    ) -> None:
        super().__init__(context, keys)
        self.legacy_plaintext = legacy_plaintext

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], bytes | None]:
        state = self._state
        to_bytes = self.to_bytes
        encode = self._encode

        def process(value: Any) -> bytes | None:
            if value is None:
                return None
            try:
                data: bytes | None = to_bytes(value)
            except Exception:
                data = None
            if data is None:
                data = encode(value)  # raises the error that names the column
            head, aead, ad = state.enc or state.prepare_encrypt()
            nonce = nonce12()
            return head + nonce + aead.encrypt(nonce, data, ad)

        return process

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        # The hot path of every SELECT: one dict lookup by envelope header, one AES-GCM call,
        # no per-row key work; anything unusual (new key id, damage) takes decrypt_slow.
        state = self._state
        cache = state.dec
        slow = self._lenient(state.decrypt_slow) if self.legacy_plaintext else state.decrypt_slow
        from_bytes = self.from_bytes

        if from_bytes is _text_from:
            # Errors are raised after the except blocks, so none keeps the fast path's error
            # (a KeyError holding the first bytes of a legacy plaintext) or the parser's
            # (a UnicodeDecodeError holding the plaintext) as its __context__.
            def process_text(value: bytes | None) -> Any:
                if value is None:
                    return None
                try:
                    end = value[1] + 2
                    open_, ad = cache[value[:end]]
                    return open_(value[end : end + 12], value[end + 12 :], ad).decode()
                except Exception:  # noqa: S110 - slow path below, outside it
                    pass
                data = slow(value)
                try:
                    return data.decode()
                except UnicodeDecodeError:  # raised below, outside the block
                    pass
                raise self._unreadable(value)

            return process_text

        def process(value: bytes | None) -> Any:
            if value is None:
                return None
            data: bytes | None
            try:
                end = value[1] + 2
                open_, ad = cache[value[:end]]
                data = open_(value[end : end + 12], value[end + 12 :], ad)
            except Exception:
                data = None
            if data is None:
                data = slow(value)
            try:
                return from_bytes(data)
            except Exception:  # noqa: S110 - raised below, outside it
                pass
            raise self._unreadable(value)

        return process

    def _unreadable(self, value: bytes) -> DecryptionError:
        """The error for bytes that decrypt (or are legacy plaintext) but do not parse as the
        column's type. The parser's own error would quote them (``int()``, ``fromisoformat``,
        ``json`` all do), so it is replaced, never chained: raise this outside the ``except``
        block, or it keeps the parser's error as ``__context__``."""
        try:
            kid: str | None = split_header(value)[1]
        except EnvelopeError:
            kid = None
        return DecryptionError(
            self._state.name,
            kid,
            f"the stored value is not {self._python_type_name()} as "
            f"{type(self).__name__} (written by another type, or legacy plaintext in another "
            "format)",
        )

    def _lenient(self, decrypt: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
        def read(value: bytes) -> bytes:
            try:
                return decrypt(value)
            except KeyNotFoundError:
                if _complete_aead(value):
                    raise  # a real envelope whose key is gone: its bytes are no plaintext
                return bytes(value)
            except DecryptionError as exc:
                if exc.key_id is None:
                    return bytes(value)
                raise

        return read

    def encrypt(self, value: T) -> bytes:
        """The envelope that would be stored for ``value`` (for tools and tests)."""
        return self._state.encrypt(self._encode(value))

    def decrypt(self, envelope: bytes) -> T:
        """The value of a stored envelope (for tools and tests)."""
        data = self._state.decrypt(envelope)
        try:
            result: T = self.from_bytes(data)
            return result
        except Exception:  # noqa: S110 - raised below, outside it
            pass
        raise self._unreadable(envelope)


def _complete_aead(value: bytes) -> bool:
    """True when ``value`` parses as a whole AEAD envelope: header, nonce and tag."""
    try:
        return decode(value).version == AEAD_V1
    except EnvelopeError:
        return False


def _text_to(value: str) -> bytes:
    return value.encode("utf-8")


def _text_from(data: bytes) -> str:
    return data.decode("utf-8")


def _bytes_to(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError
    return bytes(value)


def _bytes_from(data: bytes) -> bytes:
    return data


class _TextValues:
    """str values, stored as UTF-8."""

    to_bytes = staticmethod(_text_to)
    from_bytes = staticmethod(_text_from)

    @property
    def python_type(self) -> type[str]:
        return str


class _BytesValues:
    """bytes values, stored as they are."""

    to_bytes = staticmethod(_bytes_to)
    from_bytes = staticmethod(_bytes_from)

    @property
    def python_type(self) -> type[bytes]:
        return bytes


class EncryptedText(_TextValues, EncryptedType[str]):
    cache_ok = True


class EncryptedBytes(_BytesValues, EncryptedType[bytes]):
    cache_ok = True


class EncryptedJSON(EncryptedType[Any]):
    """Any JSON-serialisable value; stored as compact UTF-8 JSON."""

    cache_ok = True

    @staticmethod
    def to_bytes(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @staticmethod
    def from_bytes(data: bytes) -> Any:
        return json.loads(data)

    def _python_type_name(self) -> str:
        return "a JSON-serialisable value"


class EncryptedInteger(EncryptedType[int]):
    cache_ok = True

    @staticmethod
    def to_bytes(value: int) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError
        return str(value).encode("ascii")

    @staticmethod
    def from_bytes(data: bytes) -> int:
        return int(data)

    @property
    def python_type(self) -> type[int]:
        return int


class EncryptedFloat(EncryptedType[float]):
    cache_ok = True

    @staticmethod
    def to_bytes(value: float) -> bytes:
        return repr(float(value)).encode("ascii")

    @staticmethod
    def from_bytes(data: bytes) -> float:
        return float(data)


class EncryptedNumeric(EncryptedType[Decimal]):
    cache_ok = True

    @staticmethod
    def to_bytes(value: Decimal) -> bytes:
        return str(Decimal(value)).encode("ascii")

    @staticmethod
    def from_bytes(data: bytes) -> Decimal:
        return Decimal(data.decode("ascii"))


_BOOLEANS = {b"true": True, b"t": True, b"false": False, b"f": False}


class EncryptedBoolean(EncryptedType[bool]):
    cache_ok = True

    @staticmethod
    def to_bytes(value: bool) -> bytes:
        if not isinstance(value, bool):
            raise TypeError
        return b"true" if value else b"false"

    @staticmethod
    def from_bytes(data: bytes) -> bool:
        return _BOOLEANS[data]


class _IsoFormat(EncryptedType[T]):
    """Dates and times in ISO 8601 (the text PostgreSQL prints for them, too)."""

    iso_type: ClassVar[type[Any]]
    cache_ok = True

    def to_bytes(self, value: Any) -> bytes:
        if type(value) is not self.iso_type and not (
            self.iso_type is dt.datetime and isinstance(value, dt.datetime)
        ):
            raise TypeError
        encoded: bytes = value.isoformat().encode("ascii")
        return encoded

    def from_bytes(self, data: bytes) -> Any:
        return self.iso_type.fromisoformat(data.decode("ascii"))

    @property
    def python_type(self) -> type[Any]:
        return self.iso_type


class EncryptedDate(_IsoFormat[dt.date]):
    cache_ok = True
    iso_type = dt.date


class EncryptedDateTime(_IsoFormat[dt.datetime]):
    """A datetime (naive or aware, kept as given)."""

    cache_ok = True
    iso_type = dt.datetime


class EncryptedTime(_IsoFormat[dt.time]):
    cache_ok = True
    iso_type = dt.time


class EncryptedUUID(EncryptedType[uuid.UUID]):
    cache_ok = True

    @staticmethod
    def to_bytes(value: uuid.UUID) -> bytes:
        return str(uuid.UUID(str(value))).encode("ascii")

    @staticmethod
    def from_bytes(data: bytes) -> uuid.UUID:
        return uuid.UUID(data.decode("ascii"))


# ------------------------------------------------------------------------------ pgcrypto family
class SecretBind(BindParameter[Any]):
    """A bind parameter that refuses to be rendered into the SQL text."""

    __visit_name__ = "hardening_secret_bind"
    inherit_cache = True


@compiles(SecretBind)
def _compile_secret_bind(element: SecretBind, compiler: SQLCompiler, **kw: Any) -> str:
    dialect = compiler.dialect
    if kw.get("literal_binds") or kw.get("literal_execute") or element.literal_execute:
        raise InlineKeyError(
            "a pgcrypto key would be written into the SQL text (literal_binds, or Alembic "
            "offline --sql); pgcrypto columns need online execution with bind parameters"
        )
    if dialect.name == "postgresql" and dialect.driver not in SAFE_PGP_DRIVERS:
        raise InlineKeyError(
            f"the {dialect.driver} driver interpolates parameters into the SQL text, so a "
            "pgcrypto key would reach the server log; use postgresql+psycopg:// (psycopg 3)"
        )
    rendered: str = compiler.visit_bindparam(element, **kw)  # type: ignore[no-untyped-call]
    return rendered


def _secret(value: Callable[[], Any], type_: Any) -> SecretBind:
    return SecretBind(None, callable_=value, type_=type_, unique=True)


class PGPType(_EncryptedBase[T]):
    """pgcrypto in PostgreSQL (see the module docstring). Needs the pgcrypto extension.

    ``PGPText`` uses pgcrypto's text functions (``pgp_sym_encrypt``/``pgp_sym_decrypt``), so
    the SELECT returns text and psycopg hands over a str with no bytea decoding;
    ``PGPBytes`` uses the ``_bytea`` variants. The SELECT expression returns a one-character
    flag before the value: '1' decrypted, '0' followed by the hex header of a value whose key
    id the keyring lacks (so that becomes ``KeyNotFoundError`` instead of a silent NULL).
    """

    sql_text: ClassVar[bool] = False

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        encode = self._encode
        text = self.sql_text

        def process(value: Any) -> Any:
            if value is None:
                return None
            if text:
                if not isinstance(value, str):
                    encode(value)  # raises the error that names the column
                return SecretText(value)
            return Secret(encode(value))

        return process

    def bind_expression(self, bindvalue: BindParameter[T]) -> ColumnElement[T]:
        state = self._state
        head = _secret(lambda: state.pgp_material()[0], LargeBinary())
        password = _secret(lambda: state.pgp_material()[1], Text())
        encrypt = func.pgp_sym_encrypt if self.sql_text else func.pgp_sym_encrypt_bytea
        encrypted = encrypt(
            bindvalue, password, literal_column(f"'{PGP_OPTIONS}'"), type_=LargeBinary()
        )
        return type_coerce(head.op("||", return_type=LargeBinary())(encrypted), self)

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[T]:
        # pgp_sym_decrypt(substr(v, 3 + n), coalesce(passwords[array_position(kids, kid)],
        #                 <error naming the key id>)) with n = get_byte(v, 1), kid = substr(v, 3, n)
        # One decrypt per row and nothing else: the result needs no processing in Python.
        # A key id missing from the keyring makes the cast fail with a message naming it,
        # which _translate_errors turns into KeyNotFoundError.
        state = self._state
        kids = _secret(lambda: state.pgp_material()[2], ARRAY(LargeBinary))
        passwords = _secret(lambda: state.pgp_material()[3], ARRAY(Text))
        n = func.get_byte(colexpr, 1)
        kid = func.substr(colexpr, 3, n)
        # The message quotes the key id only when the value is a pgcrypto envelope whose key
        # id is a key id (0x02, length 1..64, the envelope's alphabet); anything else (raw
        # plaintext written by hand, another format) gets a fixed text, so no stored byte
        # reaches the server log or the exception. The CASE depends on the row, so the
        # planner cannot fold the failing cast into a constant.
        kid_text = func.encode(kid, _ESCAPE)
        is_envelope = sa.and_(
            func.get_byte(colexpr, 0) == literal_column(str(PGP_V1)),
            n.between(literal_column("1"), literal_column(str(MAX_KEY_ID))),
            func.length(colexpr) >= n + 2,
            kid_text.op("~")(literal_column("'^[A-Za-z0-9_.-]+$'")),
        )
        named = sa.case(
            (colexpr.is_(None), sa.null()),
            (is_envelope, literal_column(f"'{UNKNOWN_KEY_MARK}'").op("||")(kid_text)),
            else_=literal_column(f"'{NOT_ENVELOPE_MARK}'"),
        )
        missing = sa.cast(sa.cast(named, Integer), Text)
        password = func.coalesce(_Subscript(passwords, func.array_position(kids, kid)), missing)
        decrypt = func.pgp_sym_decrypt if self.sql_text else func.pgp_sym_decrypt_bytea
        return decrypt(func.substr(colexpr, n + 3), password, type_=self)

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


class _Subscript(ColumnElement[Any]):
    """``(array)[index]``."""

    __visit_name__ = "hardening_subscript"
    inherit_cache = True

    def __init__(self, array: ColumnElement[Any], index: ColumnElement[Any]) -> None:
        self.array = array
        self.index = index
        self.type = Text()


@compiles(_Subscript)
def _compile_subscript(element: _Subscript, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.array, **kw)})[{compiler.process(element.index, **kw)}]"


class PGPText(_TextValues, PGPType[str]):
    cache_ok = True
    sql_text = True


class PGPBytes(_BytesValues, PGPType[bytes]):
    cache_ok = True


# ------------------------------------------------------------- pgcrypto errors, driver checks
_PGP_ERRORS = ("Wrong key or corrupt data", "Corrupt data", "Not text data", "out of valid range")
# Only a key id (the SQL quotes nothing else; see PGPType.column_expression).
_UNKNOWN_KEY = re.compile(re.escape(UNKNOWN_KEY_MARK) + r'([A-Za-z0-9_.-]{1,64})"')


# psycopg's ClientCursor interpolates parameters into the SQL text before sending it.
_CLIENT_SIDE_CURSORS: tuple[type, ...] = (psycopg.ClientCursor, psycopg.AsyncClientCursor)
_PSYCOPG_CURSORS: tuple[type, ...] = (
    psycopg.Cursor,
    psycopg.AsyncCursor,
    psycopg.ServerCursor,
    psycopg.AsyncServerCursor,
)
_BINARY = psycopg.pq.Format.BINARY


# Result types whose PostgreSQL values psycopg loads the same in binary as in text (builtin
# OIDs only: no String, which may be an enum, citext or another extension type in the table;
# no Float, Double or Numeric, which may stand for a `real` column: its binary value is the
# float4 itself, 1.100000023841858 where the text form reads back as 1.1).
_BINARY_SAFE: frozenset[type] = frozenset(
    {
        sqltypes.Integer,
        sqltypes.BigInteger,
        sqltypes.SmallInteger,
        sqltypes.Boolean,
        sqltypes.Date,
        sqltypes.DateTime,
        sqltypes.Time,
        sqltypes.LargeBinary,
        sqltypes.Uuid,
    }
)


def _binary_results(compiled: Any) -> bool:
    """True for a statement that returns AEAD columns and only binary-safe others: fetching it
    in binary avoids psycopg's hex decoding of every ``bytea`` (half the bytes on the wire)."""
    flag = compiled.__dict__.get("_hardening_binary")
    if flag is None:
        types = [entry[3] for entry in getattr(compiled, "_result_columns", None) or ()]
        flag = any(isinstance(t, EncryptedType) for t in types) and all(
            isinstance(t, EncryptedType) or type(t) in _BINARY_SAFE for t in types
        )
        compiled.__dict__["_hardening_binary"] = flag
    return bool(flag)


@event.listens_for(Engine, "before_cursor_execute")
def _before_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    """Refuse a pgcrypto statement on a cursor that inlines parameters (the key would be in
    the SQL text and the server log) and SQL that would work on ciphertext
    (``_refuse_on_ciphertext``); ask for binary
    results when ``_binary_results`` says so."""
    target: Any = getattr(cursor, "_cursor", cursor)
    if "pgp_sym_" in statement and isinstance(target, _CLIENT_SIDE_CURSORS):
        raise InlineKeyError(
            "this connection uses psycopg's ClientCursor, which writes parameters into the SQL "
            "text, so a pgcrypto key would reach the server log; use the default cursor"
        )
    compiled = getattr(context, "compiled", None)
    # Walking a statement costs ~0.1 ms: do it once per compiled form (SQLAlchemy caches
    # those per statement shape), not on every execution.
    if compiled is not None and "_hardening_checked" not in compiled.__dict__:
        statement_element = getattr(compiled, "statement", None)
        if isinstance(statement_element, sa.ClauseElement):
            _refuse_on_ciphertext(statement_element)
        # what the ORM compiled the statement into: eager loads' ORDER BY, column properties
        compiled_state = getattr(compiled, "compile_state", None)
        core = getattr(compiled_state, "statement", None)
        if isinstance(core, sa.ClauseElement) and core is not statement_element:
            _refuse_on_ciphertext(core)
        compiled.__dict__["_hardening_checked"] = True
    if (
        compiled is not None
        and not executemany
        and isinstance(target, _PSYCOPG_CURSORS)
        and _binary_results(compiled)
    ):
        cursor_: Any = target
        cursor_.format = _BINARY


@event.listens_for(Engine, "before_execute", retval=True)
def _before_execute(
    conn: Any, clauseelement: Any, multiparams: Any, params: Any, execution_options: Any
) -> tuple[Any, Any, Any]:
    """Fill the blind index of every encrypted column an UPDATE sets without it
    (``blind_index.fill_updates``)."""
    if isinstance(clauseelement, sa.ClauseElement):
        return blind_index.fill_updates(clauseelement, multiparams, params)
    return clauseelement, multiparams, params


def _refuse_on_ciphertext(statement: sa.ClauseElement) -> None:
    """Refuse, before it runs, SQL that would silently work on ciphertext and return wrong
    rows, at any depth (subqueries, CTEs, set operations, and what the ORM adds when it
    compiles: eager loads' ORDER BY, column properties):

    * ``ORDER BY`` an encrypted column or an expression of its type (also ``OVER (ORDER BY)``,
      ``WITHIN GROUP``, a column named by a string);
    * ``GROUP BY`` (also ``ROLLUP``/``CUBE``/``GROUPING SETS``), ``PARTITION BY`` and
      ``DISTINCT ON`` an encrypted column, unless the same list holds its table's whole
      primary key (then each group is one row, and its ciphertext is as distinct as the row);
    * ``SELECT DISTINCT``, ``UNION``, ``INTERSECT`` and ``EXCEPT`` of an AEAD column without
      its table's primary key in the select list (a pgcrypto column is decrypted in the select
      list, so these see its values);
    * a comparison with an encrypted column on one side (``tuple_(id, col).in_(..)``,
      ``col == other_col``), other than ``IS [NOT] NULL`` and the column against itself.

    Operators on the column itself (``<``, ``LIKE``, ``==`` a value, ``.distinct()``) already
    raise when the query is built. SQL given as text (``text()``, ``literal_column()``) is
    not looked into."""
    for element, owner in _walk(statement, None):
        clauses = list(getattr(element, "_order_by_clauses", None) or ())
        order_by = getattr(element, "order_by", None)
        if isinstance(order_by, sa.ClauseElement):  # Over, WithinGroup, aggregate_order_by
            clauses.extend(getattr(order_by, "clauses", None) or (order_by,))
        for clause in clauses:
            for target in _targets(owner, clause):
                col_type = getattr(target, "type", None)
                if isinstance(col_type, _EncryptedBase):
                    raise EncryptedComparisonError(
                        f"ORDER BY the encrypted column {_column_name(target, col_type)} would "
                        "sort ciphertext, not values; sort in the application instead"
                    )
        group_by = list(getattr(element, "_group_by_clauses", None) or ())
        if group_by:
            _refuse_grouping(owner, group_by, "GROUP BY")
        partition_by = getattr(element, "partition_by", None)
        if partition_by is not None and getattr(partition_by, "clauses", None):
            _refuse_grouping(owner, list(partition_by.clauses), "PARTITION BY")
        if isinstance(element, sa.Select):
            on = _distinct_on(element)
            if on:
                _refuse_grouping(element, on, "DISTINCT ON")
            elif element._distinct:
                _refuse_grouping(element, list(element.selected_columns), "SELECT DISTINCT")
        if isinstance(element, sa.CompoundSelect) and element.keyword.value != "UNION ALL":
            for member in element.selects:
                columns = list(getattr(member, "selected_columns", ()))
                _refuse_grouping(member, columns, element.keyword.value)
        if isinstance(element, sa.BinaryExpression) and element.operator not in _NULL_TESTS:
            _refuse_comparison(element)


_NULL_TESTS = frozenset({operators.is_, operators.is_not})
_GROUPING_SETS = frozenset({"rollup", "cube", "grouping_sets"})
_SELECT_LISTS = frozenset(
    {"SELECT DISTINCT", "UNION", "INTERSECT", "INTERSECT ALL", "EXCEPT", "EXCEPT ALL"}
)


def _walk(element: Any, owner: Any) -> Iterator[tuple[Any, Any]]:
    """Every element under ``element`` with the SELECT it belongs to (for names given as
    strings)."""
    if isinstance(element, sa.Select | sa.CompoundSelect):
        owner = element
    yield element, owner
    for child in element.get_children():
        yield from _walk(child, owner)


def _distinct_on(select_: sa.Select[Any]) -> list[Any]:
    """``select.distinct(col)`` and ``select.ext(distinct_on(col))`` (SQLAlchemy 2.1)."""
    on = list(select_._distinct_on or ())
    pre = getattr(select_, "_pre_columns_clause", None)
    if pre is not None:
        for item in visitors.iterate(pre):
            if not isinstance(item, sa.Select):
                on.extend(getattr(item, "_distinct_on", None) or ())
    return on


def _targets(owner: Any, clause: Any) -> list[Any]:
    """What an ORDER BY / GROUP BY item stands for: labels and ``.desc()`` unwrapped, a name
    given as a string resolved as SQLAlchemy does (the select list, then the FROM tables),
    ``ROLLUP(..)`` and friends and a FROM object (``group_by(User)``) expanded."""
    target = clause
    while True:
        if isinstance(target, elements._textual_label_reference):  # order_by("ssn")
            target = _named(owner, target.element)
        elif isinstance(target, sa.UnaryExpression | sa.Label | elements._label_reference):
            target = target.element
        else:
            break
    if target is None:
        return []
    if isinstance(target, FunctionElement):  # a function is a FromClause too
        if str(getattr(target, "name", "")) in _GROUPING_SETS:
            return [t for item in target.clauses for t in _targets(owner, item)]
        return [target]
    if isinstance(target, sa.FromClause):
        return list(target.c)
    if isinstance(target, elements.ClauseList):  # a tuple, or a list SQLAlchemy grouped
        return [t for item in target.clauses for t in _targets(owner, item)]
    return [target]


def _named(owner: Any, name: str) -> Any:
    """The column a string in ``order_by("name")`` / ``group_by("name")`` names, if any."""
    columns = getattr(owner, "selected_columns", None)
    if columns is not None and name in columns:
        return columns[name]
    froms = owner.get_final_froms() if isinstance(owner, sa.Select) else ()
    for from_ in froms:
        if name in from_.c:
            return from_.c[name]
    return None


def _refuse_grouping(owner: Any, clauses: list[Any], what: str) -> None:
    targets = [t for clause in clauses for t in _targets(owner, clause)]
    present = {id(_plain(t)) for t in targets}
    select_list = what in _SELECT_LISTS
    for target in targets:
        col_type = getattr(target, "type", None)
        if not isinstance(col_type, _EncryptedBase):
            continue
        if select_list and not isinstance(col_type, EncryptedType):
            continue  # a pgcrypto column is decrypted in the select list: these see values
        table = getattr(_plain(target), "table", None)
        if table is None and select_list:
            continue  # an expression (a column property's subquery): its row decides
        key = list(getattr(table, "primary_key", None) or ())
        if key and all(id(_plain(k)) in present for k in key):
            continue
        name = _column_name(target, col_type)
        if select_list:
            raise EncryptedComparisonError(
                f"{what} of the encrypted column {name} without its table's primary key would "
                "not merge equal values (each is a different ciphertext); select the primary "
                "key too, or de-duplicate in the application"
            )
        raise EncryptedComparisonError(
            f"{what} the encrypted column {name} would group ciphertext (equal values are "
            "different ciphertexts); group in the application, or add the table's primary key"
        )


def _refuse_comparison(element: sa.BinaryExpression[Any]) -> None:
    sides = [element.left, element.right]
    items = [i for side in sides for i in (side.clauses if isinstance(side, sa.Tuple) else [side])]
    encrypted = [i for i in items if isinstance(getattr(_plain(i), "type", None), _EncryptedBase)]
    if not encrypted:
        return
    if _plain(element.left) is _plain(element.right):
        return  # the column against itself (the ORM's UPDATE synchronisation)
    target = _plain(encrypted[0])
    name = _column_name(target, cast(_EncryptedBase[Any], target.type))
    raise EncryptedComparisonError(
        f"a comparison with the encrypted column {name} would "
        "compare ciphertext (equal values are different ciphertexts); use blind_eq with a "
        "blind index, or compare in the application"
    )


def _column_name(target: Any, col_type: _EncryptedBase[Any]) -> str:
    context = col_type._state.context
    return repr(context or getattr(target, "key", None) or "column")


def _plain(column: Any) -> Any:
    while isinstance(column, sa.Label):
        column = column.element
    deannotate = getattr(column, "_deannotate", None)
    return deannotate() if deannotate is not None else column


@event.listens_for(Engine, "handle_error")
def _translate_errors(ctx: ExceptionContext) -> None:
    """Keep plaintexts out of error messages, and turn pgcrypto's failures in a SELECT of PGP
    columns into ``DecryptionError`` or ``KeyNotFoundError`` naming the columns (the key ids
    and never a key).

    An error raised while SQLAlchemy processes the parameters, before the statement is sent
    (an encrypted column given a value of the wrong type, or any other type's bind processor
    failing), would be wrapped in a ``StatementError`` listing the parameters as the
    application gave them: the plaintexts of every encrypted column of the row. Such an error
    keeps its SQL and its cause (``.orig``, e.g. ``EncryptedValueError``) but hides the
    parameters. Errors from the database list the bound values, where encrypted columns are
    ciphertext and pgcrypto plaintexts and keys print as ``[REDACTED]``."""
    original = ctx.original_exception
    if ctx.execution_context is None:
        if isinstance(ctx.sqlalchemy_exception, sa.exc.StatementError):
            ctx.sqlalchemy_exception.hide_parameters = True
        return
    message = str(original)
    statement = ctx.statement or ""
    if "pgp_sym_decrypt" not in statement:
        return
    unknown = _UNKNOWN_KEY.search(message)
    if (
        unknown is None
        and NOT_ENVELOPE_MARK not in message
        and not any(m in message for m in _PGP_ERRORS)
    ):
        return
    states: list[_ColumnKeys] = []
    compiled = ctx.execution_context.compiled if ctx.execution_context else None
    if compiled is not None:
        for element in visitors.iterate(compiled.statement):
            col_type = getattr(element, "type", None)
            if (
                isinstance(element, Column)
                and isinstance(col_type, PGPType)
                and col_type._state.context
                and col_type._state not in states
            ):
                states.append(col_type._state)
    columns = ", ".join(s.name for s in states) or "a pgcrypto column"
    key_ids: list[str] = []
    for state in states:
        key_ids.extend(k for k in state.keyring().ids if k not in key_ids)
    if unknown is not None:
        raise KeyNotFoundError(unknown.group(1), columns, key_ids)
    if NOT_ENVELOPE_MARK in message:
        raise DecryptionError(
            columns,
            None,
            "the stored value is not a pgcrypto envelope (written without the column's type, "
            "e.g. plaintext stored by plain SQL); re-write it through the column's type",
        )
    # pgcrypto's error does not say which key it tried: with one key in the keyring it is
    # that one, otherwise the value's key id is one of the keyring's (an unknown one would
    # have been a KeyNotFoundError above).
    raise DecryptionError(
        columns,
        key_ids[0] if len(key_ids) == 1 else None,
        "pgcrypto could not decrypt it: wrong key, or the value was altered, truncated or "
        "copied from another column",
        candidates=key_ids if len(key_ids) > 1 else (),
    )
