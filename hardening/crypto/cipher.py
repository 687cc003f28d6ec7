"""``ColumnCipher``: one column's keys and what is done with them.

Every encrypted column has one. It holds the column's context (schema, table and column,
``hardening.crypto.context``), reads its keys (its own ``keys=`` or the process-wide keyring)
and makes each per-key object once: the AES-GCM cipher and associated data by envelope
header, the blind-index HMAC keys, the pgcrypto passwords. Nothing is derived per row. The
column types, ``rotate`` and ``op.encrypt_column`` all encrypt, decrypt and hash through it.

Every purpose has its own key, derived with HKDF-SHA256 from the keyring key (``Key.derive``,
info ``pg-hardening/<purpose>``); ``<ctx>`` is the column's length-prefixed context
(``ColumnContext.encoded``, e.g. ``0:5:users3:ssn``), the one encoding of a column's place
that every current format uses:

================================  =======================================================
purpose                           used by
================================  =======================================================
``aead/v2/<ctx>``                 AEAD formats 3 and 4: one AES-256-GCM key per column,
                                  so each column has its own random-nonce budget
``pgcrypto/v2/<ctx>``             pgcrypto format 5: the column's password
``blind-index/v2/<ctx>``          blind index format 2 (``hardening.crypto.index_format``)
``aead/v1``                       AEAD format 1 (read only): one key for every column
``pgcrypto/v1/<table.column>``    pgcrypto format 2 (read only)
``blind-index/v1/<table.column>`` blind index format 1 (matched by lookups until rotated)
================================  =======================================================

Associated data (what a value is bound to besides its key), by format: 1 ``pg-hardening \0
table.column \0 header``; 3 ``pg-hardening/aead/v2 \0 <ctx> header``; 4 ``pg-hardening/
aead/v2/row \0 <ctx> header <row>``, where ``<row>`` is the length-prefixed text of the
row's primary key (``hardening.crypto.rows``).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hardening.crypto import keys as _keys
from hardening.crypto.codecs import TEXT
from hardening.crypto.context import ColumnContext, netstring
from hardening.crypto.envelope import (
    AEAD_ROW,
    AEAD_V1,
    AEAD_V2,
    PGP_V1,
    PGP_V2,
    PGP_VERSIONS,
    header,
    split_header,
)
from hardening.crypto.index_format import IndexKeys, digest, hmac_key
from hardening.crypto.keys import Key, KeyHook, Keyring, KeySource, as_keyring
from hardening.crypto.nonces import nonce12
from hardening.crypto.payload import frame, text_form
from hardening.crypto.redacted import SecretText, sealed
from hardening.crypto.reloads import Reloads
from hardening.errors import ColumnContextError, DecryptionError, EnvelopeError

__all__ = ["ColumnCipher", "PgpMaterial", "digest", "hmac_key"]


class PgpMaterial(NamedTuple):
    """What the SQL of a pgcrypto column binds: the active key's envelope header (format 5)
    and password, and the header and password of every key in both pgcrypto formats (the
    SELECT picks a password by the row's header). The passwords are ``SecretText``: they
    print as ``[REDACTED]``.

    Example::

        header, password, headers, passwords = cipher.pgp_material()
    """

    header: bytes
    password: str
    headers: list[bytes]
    passwords: list[str]


# envelope header -> (that key's decrypt, returning the framed payload; the associated data,
# or for format 4 its part before the row; True for format 4)
_Opener = tuple[Callable[[bytes, bytes, bytes], bytes], bytes, bool]
_LABEL = {
    AEAD_V2: b"pg-hardening/aead/v2\x00",
    AEAD_ROW: b"pg-hardening/aead/v2/row\x00",
}


def _framed_v1(decrypt: Callable[[bytes, bytes, bytes], bytes]) -> Callable[..., bytes]:
    """Format 1 holds the text form itself: its payload, framed as the current formats'."""

    def open_(nonce: bytes, box: bytes, ad: bytes) -> bytes:
        return b"\x00" + decrypt(nonce, box, ad)

    return open_


class ColumnCipher:
    """One column's view of the keyring, with every per-key object made once.

    Args:
        context: the column's ``ColumnContext`` (or ``"table.column"`` /
            ``"schema.table.column"``), bound into every value (key, associated data,
            blind-index key, pgcrypto password); None until the type is attached to a column
            (``name`` then raises ``ColumnContextError``).
        keys: the column's own keys: a hook returning them, or a ``Keyring``, spec string,
            mapping or pairs; None reads the process-wide keyring (and follows its reloads).
        row_bound: the column's values are bound to their rows (format 4).
        older_forms: values in an older form are read: format 1, and for a row-bound column
            format 3. False refuses them (``DecryptionError``) once ``rotate`` has moved them.

    Example::

        cipher = ColumnCipher("users.ssn")
        stored = cipher.encrypt(b"123-45-6789")           # an AEAD envelope (format 3)
        assert cipher.decrypt(stored) == b"123-45-6789"
        index = cipher.blind_hash(b"123-45-6789")         # what users.ssn_bidx holds
    """

    def __init__(
        self,
        context: ColumnContext | str | None,
        keys: KeyHook | KeySource | None = None,
        *,
        row_bound: bool = False,
        older_forms: bool = True,
    ) -> None:
        self.column = ColumnContext.of(context) if context is not None else None
        self.context = self.column.name if self.column is not None else None
        self.source = sealed(keys)  # a spec string prints as '[REDACTED]' (traceback locals)
        self.row_bound = row_bound
        self.older_forms = older_forms
        self._lock = threading.Lock()
        self._ring: Keyring | None = None
        # The hot paths (the AEAD types' processors) read these directly.
        self._enc: tuple[bytes, AESGCM, bytes] | None = None  # format 3
        self._enc_row: tuple[bytes, AESGCM, bytes] | None = None  # format 4 (ad before <row>)
        self._dec: dict[bytes, _Opener] = {}
        self._aeads: dict[str, AESGCM] = {}
        self._index: IndexKeys | None = None
        self._pgp: PgpMaterial | None = None
        self._reloads = Reloads()
        if keys is None:
            _keys.watch(self)

    def __repr__(self) -> str:
        return f"ColumnCipher(context={self.context!r})"

    # -- keyring -----------------------------------------------------------------------------
    def keys_changed(self) -> None:
        """Forget every cached key object (the keyring was reloaded or reconfigured)."""
        self._ring, self._enc, self._enc_row, self._index, self._pgp = None, None, None, None, None
        self._aeads = {}
        self._dec.clear()  # the result processors hold this very dict

    def keyring(self, refresh: bool = False) -> Keyring:
        """The column's keyring, read on first use.

        Args:
            refresh: read the keys again first (the process-wide ones are reloaded).

        Example::

            cipher.keyring().active.id    # 'k2': the key new values are encrypted under
        """
        if refresh:
            if self.source is None:
                _keys.reload()
            self.keys_changed()
        ring = self._ring
        if ring is None:
            with self._lock:
                ring = self._ring = self._load()
        return ring

    def _reload_for(self, key_id: str) -> Keyring:
        """The keyring, read again first for a value under ``key_id`` it lacks, as often as
        ``hardening.crypto.reloads`` allows (a fixed ``keys=`` is never read again)."""
        if self.source is None:
            _keys.reload_for(key_id)  # a change reaches keys_changed()
            return self.keyring()
        if not callable(self.source) or not self._reloads.may_reload(key_id):
            return self.keyring()
        ring = self.keyring(refresh=True)
        if key_id not in ring:
            self._reloads.not_found(key_id)
        return ring

    def _load(self) -> Keyring:
        src = self.source
        if src is None:
            return _keys.default_keyring()
        if callable(src):
            return _keys.from_hook(src, origin=f"the keys= hook of {self.name}")
        return as_keyring(src, origin=f"keys= of {self.name}")

    @property
    def name(self) -> str:
        """``schema.table.column`` (``table.column`` without a schema), for messages;
        ``ColumnContextError`` when the type is used outside a column."""
        return self.where.name

    @property
    def where(self) -> ColumnContext:
        """The column's context; ``ColumnContextError`` when the type is used outside a
        column."""
        if self.column is None:
            raise ColumnContextError(
                "an encrypted type is used outside a table column; attach it to a Column in a "
                "Table (or a mapped class), or pass context='table.column'"
            )
        return self.column

    def active_header(self, version: int) -> bytes:
        """The envelope header (``version | len | key id``) of the active key.

        Args:
            version: an ``envelope`` format version (``AEAD_V2``, ``AEAD_ROW``, ``PGP_V2``).

        Example::

            cipher.active_header(AEAD_V2)    # b"\\x03\\x02k2": values not starting so are stale
        """
        return header(version, self.keyring().active.id)

    def associated_data(self, head: bytes) -> bytes:
        """What an AEAD value is bound to besides its key: the column and the header (for
        format 4, the part before the row's key; the module docstring lists them).

        Args:
            head: the envelope header (version, length, key id).

        Example::

            cipher.associated_data(b"\\x03\\x02k1")   # b"pg-hardening/aead/v2\\x000:5:users..."
        """
        if head[0] == AEAD_V1:
            return b"pg-hardening\x00" + self.where.first_format.encode() + b"\x00" + head
        return _LABEL[head[0]] + self.where.encoded + head

    def _aead(self, key: Key) -> AESGCM:
        """The column's own AES-256-GCM cipher under ``key`` (derived once)."""
        aead = self._aeads.get(key.id)
        if aead is None:
            aead = self._aeads[key.id] = AESGCM(
                key.derive("aead/v2/" + self.where.encoded.decode())
            )
        return aead

    # -- AEAD --------------------------------------------------------------------------------
    def seal(self, payload: bytes, row: bytes | None = None) -> bytes:
        """The envelope of a framed ``payload`` under the active key, with a fresh nonce:
        format 3, or format 4 bound to ``row`` when given.

        Args:
            payload: from ``payload.frame``.
            row: the row's key (``rows.row_key``), or None.

        Example::

            stored = cipher.seal(frame(TEXT, b"123-45-6789"))
        """
        if row is None:
            head, aead, ad = self._enc or self._prepare(AEAD_V2)
        else:
            head, aead, ad = self._enc_row or self._prepare(AEAD_ROW)
            ad += netstring(row)
        nonce = nonce12()
        return head + nonce + aead.encrypt(nonce, payload, ad)

    def _prepare(self, version: int) -> tuple[bytes, AESGCM, bytes]:
        key = self.keyring().active
        head = header(version, key.id)
        made = (head, self._aead(key), self.associated_data(head))
        if version == AEAD_ROW:
            self._enc_row = made
        else:
            self._enc = made
        return made

    def encrypt(self, data: bytes) -> bytes:
        """The envelope (format 3) of a value's text form ``data``.

        Args:
            data: the value's bytes in its text form (as the column type serialises it).

        Example::

            stored = cipher.encrypt("123-45-6789".encode())
        """
        return self.seal(frame(TEXT, data))

    def open(self, value: bytes, row: bytes | None = None) -> bytes:
        """The framed payload inside an AEAD envelope of this column (a format-1 value's
        text form comes framed as the text form).

        Args:
            value: the stored envelope.
            row: the row's key (``rows.row_key``): needed for a format-4 value.

        Raises ``DecryptionError`` (not an AEAD envelope, truncated, fails authentication,
        bound to a row not given, in an older form the column refuses) or
        ``KeyNotFoundError`` (its key id is not in the keyring, even after a reload);
        neither names a byte of the value.

        Example::

            codec, data = unframe(cipher.open(stored))
        """
        try:
            end = value[1] + 2
            open_, ad, bound = self._dec[value[:end]]
            if bound:
                ad += netstring(row)  # type: ignore[arg-type]  # None: the slow path says so
            return open_(value[end : end + 12], value[end + 12 :], ad)
        except Exception:  # noqa: S110 - the careful path below, outside it
            pass
        return self._open_slow(value, row)

    def decrypt(self, value: bytes, row: bytes | None = None) -> bytes:
        """The text form of the value inside an AEAD envelope of this column (``open``, its
        payload turned back into the text form when it holds a fixed-width one).

        Args:
            value: the stored envelope.
            row: the row's key, for a format-4 value.

        Raises what ``open`` raises.

        Example::

            data = cipher.decrypt(stored)    # b"123-45-6789"
        """
        data = text_form(self.open(value, row))
        if data is None:
            raise DecryptionError(self.name, split_header(value)[1], "its payload is malformed")
        return data

    def _open_slow(self, value: bytes, row: bytes | None) -> bytes:
        """The careful path: parses the header, finds the key, names every failure."""
        # Errors are raised after the except blocks: none keeps another (nor the value) as
        # its __context__.
        try:
            version, kid, body = split_header(value)
            bad = (
                "the value is a pgcrypto envelope, not an AEAD one"
                if version in PGP_VERSIONS
                else ""
            )
        except EnvelopeError as exc:
            bad = str(exc)
        if bad:
            raise DecryptionError(self.name, None, bad)
        refused = self._refused(version, row)
        if refused:
            raise DecryptionError(self.name, kid, refused)
        ring = self.keyring()
        if kid not in ring:
            ring = self._reload_for(kid)
        key = ring.get(kid, self.name)
        head = bytes(value[:body])
        if version == AEAD_V1:
            entry: _Opener = (_framed_v1(key.aead.decrypt), self.associated_data(head), False)
        else:
            entry = (self._aead(key).decrypt, self.associated_data(head), version == AEAD_ROW)
        self._dec[head] = entry
        if len(value) < body + 12 + 16:
            raise DecryptionError(self.name, kid, "the value is truncated")
        ad = entry[1] + netstring(row) if entry[2] and row is not None else entry[1]
        try:
            return entry[0](bytes(value[body : body + 12]), bytes(value[body + 12 :]), ad)
        except InvalidTag:
            pass
        moved = (
            "copied from another column or row"
            if version == AEAD_ROW
            else ("copied from another column")
        )
        raise DecryptionError(
            self.name,
            kid,
            f"authentication failed: wrong key, or the value was altered, truncated or {moved}",
        )

    def _refused(self, version: int, row: bytes | None) -> str:
        """Why a value of format ``version`` is not read here, or ``""``."""
        if version == AEAD_ROW and row is None:
            return (
                "the value is bound to its row; read it through a column declared with "
                "bind_row=True (or give the row's key)"
            )
        older = version == AEAD_V1 or (version == AEAD_V2 and self.row_bound)
        if older and not self.older_forms:
            form = "format 1" if version == AEAD_V1 else "not bound to its row"
            return (
                f"the value is in an older form ({form}), which the column refuses "
                "(older_forms=False): written before the column's current form, or replayed "
                "from then; run hardening rotate with the column's type to move such values"
            )
        return ""

    # -- blind index -------------------------------------------------------------------------
    def index_keys(self) -> IndexKeys:
        """The column's blind-index keys under its keyring (made once per keyring), bound to
        the column's context (``self.where``), the same one its values are bound to.

        Example::

            cipher.index_keys().prefixes    # how k2's, then k1's, values of the column begin
        """
        keys = self._index
        if keys is None:
            keys = self._index = IndexKeys(self.keyring(), self.where)
        return keys

    def blind_hash(self, data: bytes) -> bytes:
        """The blind-index value stored for a value (format 2, active key).

        Args:
            data: the value's canonical bytes (``hardening.crypto.canonical``).

        Example::

            conn.execute(update(users).values(ssn_bidx=cipher.blind_hash(b"123-45-6789")))
        """
        return self.index_keys().entry(data)

    def blind_hashes(self, data: bytes, legacy: bytes | None = None) -> list[bytes]:
        """Every blind-index value a lookup of a value matches: format 2 under each keyring
        key, the active one first, then format 1 under each key (values written before).

        Args:
            data: the value's canonical bytes.
            legacy: the value's stored form (what format 1 hashed); None when it is ``data``.

        Example::

            select(users).where(users.c.ssn_bidx.in_(cipher.blind_hashes(b"123-45-6789")))
        """
        return self.index_keys().entries(data, data if legacy is None else legacy)

    # -- pgcrypto ----------------------------------------------------------------------------
    def pgp_password(self, key: Key, version: int = PGP_V2) -> str:
        """The pgcrypto password of this column under ``key`` (base64 of a derived key).

        Args:
            key: a keyring key.
            version: ``PGP_V2`` (what new values use) or ``PGP_V1`` (the first format's).

        Example::

            cipher.pgp_password(cipher.keyring().active)
        """
        if version == PGP_V1:
            purpose = f"pgcrypto/v1/{self.where.first_format}"
        else:
            purpose = "pgcrypto/v2/" + self.where.encoded.decode()
        return base64.b64encode(key.derive(purpose)).decode()

    def pgp_material(self) -> PgpMaterial:
        """The header, passwords and headers the SQL of a pgcrypto column binds.

        Example::

            material = cipher.pgp_material()
            material.headers     # [b"\\x05\\x02k2", b"\\x02\\x02k2", b"\\x05\\x02k1", ...]
        """
        pgp = self._pgp
        if pgp is None:
            ring = self.keyring()
            pairs = [(k, v) for k in ring.keys for v in (PGP_V2, PGP_V1)]
            pgp = self._pgp = PgpMaterial(
                header(PGP_V2, ring.active.id),
                SecretText(self.pgp_password(ring.active)),
                [header(v, k.id) for k, v in pairs],
                [SecretText(self.pgp_password(k, v)) for k, v in pairs],
            )
        return pgp
