"""``EncryptedType``: what every type of the client-side family does (``hardening.crypto.aead``
has the types): values to payloads and back, the bind and result processors (the hot paths),
row binding, the tools ``encrypt`` / ``decrypt``.

Each value is stored as an AEAD envelope (``hardening.crypto.envelope``, format 3, or 4 when
bound to its row) of a payload (``hardening.crypto.payload``), under the column's own key; the
column's cipher (``hardening.crypto.cipher``) holds the keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement

from hardening.crypto.base import EncryptedBase
from hardening.crypto.cipher import ColumnCipher
from hardening.crypto.codecs import (
    TEXT,
    FixedCodec,
    text_from_bytes,
    text_to_bytes,
)
from hardening.crypto.context import ColumnContext
from hardening.crypto.envelope import AEAD_V2, AEAD_VERSIONS, decode, split_header
from hardening.crypto.keys import KeyHook, KeySource
from hardening.crypto.nonces import nonce12
from hardening.crypto.payload import PADDED, frame, padding_rule, unframe
from hardening.crypto.redacted import sealed
from hardening.crypto.rows import KEY_ENDS, RowValue, row_key, select_expression, split
from hardening.errors import (
    ColumnOptionError,
    DecryptionError,
    EnvelopeError,
    KeyNotFoundError,
    RowBindingError,
)

__all__ = ["EncryptedType"]

T = TypeVar("T")


class EncryptedType(EncryptedBase[T]):
    """AES-256-GCM in the application (see the module docstring).

    ``legacy_plaintext=True`` is for the transition of ``op.encrypt_column``, when some rows
    still hold plaintext. A stored value is read as an envelope when it starts with an AEAD
    header (``0x01``, ``0x03`` or ``0x04``, a key-id length of 1 to 64, a key id of ``A-Z a-z
    0-9 _ . -``) and either its key id is in the keyring (after a reload) or it is complete
    (at least a 12-byte nonce and a 16-byte tag after the header). An envelope decrypts or
    raises, exactly as without the flag: ``KeyNotFoundError`` naming the key id when the
    keyring lacks it, ``DecryptionError`` when it fails authentication or, under a known key
    id, is truncated. Every other value (no AEAD header, a pgcrypto envelope, or a header
    under an unknown key id too short to hold nonce and tag) is returned as plaintext. A key
    removed from the keyring too early is therefore an error, never ciphertext read as data;
    the price is that a plaintext which happens to be a complete envelope under an unknown
    key id is an error too. Neither error holds a key or the value.

    Args:
        context: what the ciphertext is bound to; by default the schema, table and name of
            the column the type is attached to (give the old one after renaming them):
            ``"table.column"``, ``"schema.table.column"`` or a ``ColumnContext``.
        keys: the column's own keys (a hook, a ``Keyring``, a spec string, a mapping or
            pairs); None uses the process-wide keyring.
        legacy_plaintext: read a value that is no AEAD envelope as plaintext (above).
        padding: pad each value so its length says less (text, bytes, JSON, numeric only):
            ``N`` rounds the payload up to a multiple of N bytes, ``"padme"`` to a Padmé
            length (``hardening.crypto.payload``); None (default) does not pad.
        bind_row: bind each value to its row's primary key (AEAD format 4), so a value
            moved or copied to another row raises ``DecryptionError``; what it needs from the
            application is in ``hardening.crypto.rows`` (a one-column integer, text or UUID
            primary key, known before the INSERT; UPDATEs by primary key).
        older_forms: read values in an older form: the first format, and, for a
            ``bind_row`` column, values not bound to their row. Set False once ``hardening
            rotate`` (given the column's type) has moved every value, so a value replayed
            from before raises ``DecryptionError``.

    Example::

        ssn: Mapped[str] = mapped_column(EncryptedText(bind_row=True))
        bio: Mapped[str] = mapped_column(EncryptedText(padding=64))
        ssn: Mapped[str] = mapped_column(EncryptedText(legacy_plaintext=True))  # while converting
    """

    codec: ClassVar[FixedCodec | None] = None  # the fixed-width form; None: the text form

    def __init__(
        self,
        context: ColumnContext | str | None = None,
        keys: KeyHook | KeySource | None = None,
        legacy_plaintext: bool = False,
        *,
        padding: int | str | None = None,
        bind_row: bool = False,
        older_forms: bool = True,
    ) -> None:
        keys = sealed(keys)  # no frame of a failed parse shows the other keys
        name = type(self).__name__
        if padding is not None and self.codec is not None:
            raise ColumnOptionError(
                f"{name} stores every value in the same number of bytes (a fixed-width "
                "form), so it needs no padding; padding= applies to EncryptedText, "
                "EncryptedBytes, EncryptedJSON and EncryptedNumeric"
            )
        self._pad = padding_rule(padding, name)
        self.padding = padding
        self.bind_row = bind_row
        self.older_forms = older_forms
        super().__init__(context, keys)
        self.legacy_plaintext = legacy_plaintext

    def _new_cipher(self, context: ColumnContext | str | None) -> ColumnCipher:
        return ColumnCipher(
            context, self.keys, row_bound=self.bind_row, older_forms=self.older_forms
        )

    # -- the payload -------------------------------------------------------------------------
    def _payload_fn(self) -> Callable[[Any], bytes]:
        """value -> framed payload, the fastest way for this type (errors: the converter's)."""
        codec, pad = self.codec, self._pad
        if codec is not None:
            head, pack = bytes((codec.id,)), codec.pack
            return lambda value: head + pack(value)
        to_bytes = self.to_bytes
        if pad is None:
            return lambda value: b"\x00" + to_bytes(value)
        return lambda value: frame(TEXT, to_bytes(value), pad)

    def _value_fn(self) -> Callable[[bytes], Any]:
        """framed payload -> value, the fastest way for this type (raises on another form)."""
        from_bytes, codec = self.from_bytes, self.codec

        def general(payload: bytes) -> Any:
            form, data = unframe(payload)
            if form == TEXT:
                return from_bytes(data)
            if codec is None or form != codec.id:
                raise ValueError  # another type's fixed-width form
            return codec.unpack(data)

        if codec is not None:
            cid, unpack = codec.id, codec.unpack
            return lambda p: unpack(p[1:]) if p[0] == cid else general(p)
        if from_bytes is text_from_bytes:
            return lambda p: p[1:].decode() if p[0] == TEXT else general(p)
        return general

    def to_payload(self, value: T) -> bytes:
        """The payload the column encrypts for ``value`` (its form, padded as asked);
        ``EncryptedValueError`` for a value of another type.

        Args:
            value: a value of the column's Python type.

        Example::

            EncryptedBoolean(context="t.c").to_payload(True)    # b"\\x01\\x01"
        """
        return self._encode(value, self._payload_fn())

    def from_payload(self, payload: bytes) -> T:
        """The value of a decrypted payload (``ValueError`` when it holds another type's form).

        Args:
            payload: what ``to_payload`` made, or the text form framed as such.

        Example::

            EncryptedBoolean(context="t.c").from_payload(b"\\x01\\x01")    # True
        """
        value: T = self._value_fn()(payload)
        return value

    # -- SQLAlchemy --------------------------------------------------------------------------
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], bytes | None]:
        cipher = self.cipher
        to_payload = self._payload_fn()
        encode = self._encode

        if self.bind_row:
            unbound = self._unbound

            def process_row(value: Any) -> bytes | None:
                if value is None:
                    return None
                if type(value) is not RowValue:
                    raise unbound()
                if value.value is None:
                    return None
                return cipher.seal(encode(value.value, to_payload), value.row)

            return process_row

        if self.to_bytes is text_to_bytes and self._pad is None:
            # The hot path of every INSERT of text: the payload inline (its codec byte, 0).
            def process_text(value: Any) -> bytes | None:
                if value is None:
                    return None
                try:
                    data: bytes | None = b"\x00" + value.encode()
                except AttributeError:
                    data = None
                if data is None:  # outside the block: no __context__ holding the value
                    data = encode(value, to_payload)  # raises the error that names the column
                head, aead, ad = cipher._enc or cipher._prepare(AEAD_V2)
                nonce = nonce12()
                return head + nonce + aead.encrypt(nonce, data, ad)

            return process_text

        def process(value: Any) -> bytes | None:
            if value is None:
                return None
            try:
                data: bytes | None = to_payload(value)
            except Exception:
                data = None
            if data is None:
                data = encode(value, to_payload)  # raises the error that names the column
            head, aead, ad = cipher._enc or cipher._prepare(AEAD_V2)
            nonce = nonce12()
            return head + nonce + aead.encrypt(nonce, data, ad)

        return process

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        """A row-bound column is selected with its row's key (``rows.select_expression``);
        any other as it is."""
        if not self.bind_row:
            return colexpr
        expression: ColumnElement[Any] = select_expression(colexpr, self, self.cipher.name)
        return expression

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        # The hot path of every SELECT: one dict lookup by envelope header, one AES-GCM call,
        # no per-row key work; anything unusual (new key id, damage) takes the slow path.
        # Errors are raised after the except blocks, so none keeps the fast path's error (a
        # KeyError holding the first bytes of a legacy plaintext) or the parser's (which
        # quotes the value) as its __context__. A format-4 entry of the cache (a rewrite
        # with the row's key made it) fails authentication without its row's key: the slow
        # path then says why.
        cache = self.cipher._dec
        open_slow = self.cipher._open_slow
        slow = self._lenient(open_slow) if self.legacy_plaintext else open_slow
        value_of = self._value_fn()
        unreadable = self._unreadable

        def general(value: bytes, payload: bytes | None, row: bytes | None) -> Any:
            if payload is None:
                payload = slow(value, row)
            try:
                return value_of(payload)
            except Exception:  # noqa: S110 - raised below, outside it
                pass
            raise unreadable(value)

        if self.bind_row:
            where = self.cipher.name

            text = self.from_bytes is text_from_bytes

            def process_row(fetched: bytes | None) -> Any:
                if fetched is None:
                    return None
                start = KEY_ENDS.get(fetched[0], 0)  # an integer's or a UUID's key: inline
                if start:
                    suffix, value = fetched[1:start], fetched[start:]
                else:
                    suffix, _, value = split(fetched, where)
                payload = None
                try:
                    end = value[1] + 2
                    open_, ad, bound = cache[value[:end]]
                    if bound:
                        ad += suffix  # the row's key, length-prefixed: as the AD ends
                    payload = open_(value[end : end + 12], value[end + 12 :], ad)
                    if text and not payload[0]:  # codec 0, the text form
                        return payload[1:].decode()
                except Exception:  # noqa: S110 - the general path below, outside it
                    pass
                return general(value, payload, suffix[suffix.index(58) + 1 :])

            return process_row

        if self.from_bytes is text_from_bytes:
            # The hot path of every SELECT of text: the text form inline (codec byte 0).
            def process_text(value: bytes | None) -> Any:
                if value is None:
                    return None
                payload = None
                try:
                    end = value[1] + 2
                    open_, ad, _ = cache[value[:end]]
                    payload = open_(value[end : end + 12], value[end + 12 :], ad)
                    codec = payload[0]
                    if not codec:  # codec 0, the text form
                        return payload[1:].decode()
                    if codec == PADDED:  # the text form, padded: it ends at the last 0x80
                        return payload[1 : payload.rindex(0x80)].decode()
                except Exception:  # noqa: S110 - the general path below, outside it
                    pass
                return general(value, payload, None)

            return process_text

        def process(value: bytes | None) -> Any:
            if value is None:
                return None
            payload = None
            try:
                end = value[1] + 2
                open_, ad, _ = cache[value[:end]]
                payload = open_(value[end : end + 12], value[end + 12 :], ad)
            except Exception:
                payload = None
            return general(value, payload, None)

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
            self.cipher.name,
            kid,
            f"the stored value is not {self._python_type_name()} as "
            f"{type(self).__name__} (written by another type, or legacy plaintext in another "
            "format)",
        )

    def _unbound(self) -> RowBindingError:
        return RowBindingError(
            f"{self.cipher.name} is bound to its row (bind_row=True), and this statement gives "
            "a value whose row the kit cannot know (a SQL literal, a multi-row form it cannot "
            "follow, an ON CONFLICT DO UPDATE value); insert or update it with the row's "
            "primary key as a parameter, one row per parameter set"
        )

    def _lenient(
        self, open_: Callable[[bytes, bytes | None], bytes]
    ) -> Callable[[bytes, bytes | None], bytes]:
        def read(value: bytes, row: bytes | None) -> bytes:
            try:
                return open_(value, row)
            except KeyNotFoundError:
                if _complete_aead(value):
                    raise  # a real envelope whose key is gone: its bytes are no plaintext
                return b"\x00" + bytes(value)
            except DecryptionError as exc:
                if exc.key_id is None:
                    return b"\x00" + bytes(value)
                raise

        return read

    # -- tools -------------------------------------------------------------------------------
    def _row(self, row: Any) -> bytes | None:
        if row is None:
            if self.bind_row:
                raise RowBindingError(
                    f"{self.cipher.name} is bound to its row (bind_row=True): give row= (the "
                    "row's primary key)"
                )
            return None
        kind = "int" if isinstance(row, int) else "uuid" if isinstance(row, uuid.UUID) else "text"
        return row_key(row, kind)

    def encrypt(self, value: T, row: Any = None) -> bytes:
        """The envelope that would be stored for ``value`` (for tools and tests).

        Args:
            value: a value of the column's Python type.
            row: the row's primary key (int, str or UUID), for a ``bind_row`` column.

        Example::

            EncryptedText(context="users.ssn").encrypt("123-45-6789")
        """
        return self.cipher.seal(self.to_payload(value), self._row(row))

    def decrypt(self, envelope: bytes, row: Any = None) -> T:
        """The value of a stored envelope (for tools and tests).

        Args:
            envelope: the stored bytes.
            row: the row's primary key (int, str or UUID), for a row-bound value.

        Example::

            EncryptedText(context="users.ssn").decrypt(stored)    # '123-45-6789'
        """
        payload = self.cipher.open(envelope, None if row is None else self._row(row))
        try:
            return self.from_payload(payload)
        except Exception:  # noqa: S110 - raised below, outside it
            pass
        raise self._unreadable(envelope)


def _complete_aead(value: bytes) -> bool:
    """True when ``value`` parses as a whole AEAD envelope: header, nonce and tag."""
    try:
        return decode(value).version in AEAD_VERSIONS
    except EnvelopeError:
        return False
