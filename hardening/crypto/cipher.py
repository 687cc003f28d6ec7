"""``ColumnCipher``: one column's keys and what is done with them.

Every encrypted column has one. It holds the column's context (``table.column``), reads its
keys (its own ``keys=`` or the process-wide keyring) and makes each per-key object once:
the AES-GCM cipher and associated data by envelope header, the blind-index HMAC keys, the
pgcrypto passwords. Nothing is derived per row. The column types, ``rotate`` and
``op.encrypt_column`` all encrypt, decrypt and hash through it.

Every purpose has its own key, derived with HKDF from the keyring key (``Key.derive``):
``aead/v1`` for AES-GCM, ``blind-index/v2/<schema, table, column>`` for the blind index
(``hardening.crypto.index_format``), ``pgcrypto/v1/<table.column>`` for the pgcrypto password.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hardening.crypto import keys as _keys
from hardening.crypto.envelope import AEAD_V1, PGP_V1, header, split_header
from hardening.crypto.index_format import IndexKeys, digest, hmac_key, index_parts
from hardening.crypto.keys import Key, KeyHook, Keyring, KeySource, as_keyring
from hardening.crypto.nonces import nonce12
from hardening.crypto.redacted import SecretText, sealed
from hardening.crypto.reloads import Reloads
from hardening.errors import ColumnContextError, DecryptionError, EnvelopeError

__all__ = ["ColumnCipher", "PgpMaterial", "digest", "hmac_key"]


class PgpMaterial(NamedTuple):
    """What the SQL of a pgcrypto column binds: the active key's envelope header and
    password, and every key's id and password (the SELECT picks one by the row's key id).
    The passwords are ``SecretText``: they print as ``[REDACTED]``.

    Example::

        header, password, key_ids, passwords = cipher.pgp_material()
    """

    header: bytes
    password: str
    key_ids: list[bytes]
    passwords: list[str]


# envelope header -> (that key's AESGCM.decrypt, associated data)
_Opener = tuple[Callable[[bytes, bytes, bytes], bytes], bytes]


class ColumnCipher:
    """One column's view of the keyring, with every per-key object made once.

    Args:
        context: the column's ``table.column``, bound into every value (associated data,
            blind-index key, pgcrypto password); None until the type is attached to a
            column (``name`` then raises ``ColumnContextError``).
        keys: the column's own keys: a hook returning them, or a ``Keyring``, spec string,
            mapping or pairs; None reads the process-wide keyring (and follows its reloads).
        index_context: ``(schema, table, column)`` the blind index is bound to; None reads
            them from ``context`` (``[schema.]table.column``).

    Example::

        cipher = ColumnCipher("users.ssn")
        stored = cipher.encrypt(b"123-45-6789")           # an AEAD envelope
        assert cipher.decrypt(stored) == b"123-45-6789"
        index = cipher.blind_hash(b"123-45-6789")         # what users.ssn_bidx holds
    """

    def __init__(
        self,
        context: str | None,
        keys: KeyHook | KeySource | None = None,
        index_context: tuple[str, str, str] | None = None,
    ) -> None:
        self.context = context
        self.index_context = index_context
        self.source = sealed(keys)  # a spec string prints as '[REDACTED]' (traceback locals)
        self._lock = threading.Lock()
        self._ring: Keyring | None = None
        # The hot paths (the AEAD types' processors) read these two directly.
        self._enc: tuple[bytes, AESGCM, bytes] | None = None
        self._dec: dict[bytes, _Opener] = {}
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
        self._ring, self._enc, self._index, self._pgp = None, None, None, None
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
        """``table.column``; ``ColumnContextError`` when the type is used outside a column."""
        if self.context is None:
            raise ColumnContextError(
                "an encrypted type is used outside a table column; attach it to a Column in a "
                "Table (or a mapped class), or pass context='table.column'"
            )
        return self.context

    def active_header(self, version: int) -> bytes:
        """The envelope header (``version | len | key id``) of the active key.

        Args:
            version: ``envelope.AEAD_V1`` or ``envelope.PGP_V1``.

        Example::

            cipher.active_header(AEAD_V1)    # b"\\x01\\x02k2": values not starting so are stale
        """
        return header(version, self.keyring().active.id)

    def associated_data(self, head: bytes) -> bytes:
        """What an AEAD value is bound to: the kit, the column's context and the header.

        Args:
            head: the envelope header (version, length, key id).

        Example::

            cipher.associated_data(b"\\x01\\x02k1")   # b"pg-hardening\\x00users.ssn\\x00..."
        """
        return b"pg-hardening\x00" + self.name.encode() + b"\x00" + head

    # -- AEAD --------------------------------------------------------------------------------
    def encrypt(self, data: bytes) -> bytes:
        """The AEAD envelope of ``data`` under the active key, with a fresh nonce.

        Args:
            data: the value's bytes (as the column type serialises it).

        Example::

            stored = cipher.encrypt("123-45-6789".encode())
        """
        head, aead, ad = self._enc or self._prepare_encrypt()
        nonce = nonce12()
        return head + nonce + aead.encrypt(nonce, data, ad)

    def _prepare_encrypt(self) -> tuple[bytes, AESGCM, bytes]:
        key = self.keyring().active
        head = header(AEAD_V1, key.id)
        self._enc = (head, key.aead, self.associated_data(head))
        return self._enc

    def decrypt(self, value: bytes) -> bytes:
        """The bytes inside an AEAD envelope of this column.

        Args:
            value: the stored envelope.

        Raises ``DecryptionError`` (not an AEAD envelope, truncated, fails authentication)
        or ``KeyNotFoundError`` (its key id is not in the keyring, even after a reload);
        neither names a byte of the value.

        Example::

            data = cipher.decrypt(stored)
        """
        try:
            end = value[1] + 2
            open_, ad = self._dec[value[:end]]
            return open_(value[end : end + 12], value[end + 12 :], ad)
        except Exception:  # noqa: S110 - the careful path below, outside it
            pass
        return self._decrypt_slow(value)

    def _decrypt_slow(self, value: bytes) -> bytes:
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
            ring = self._reload_for(kid)
        key = ring.get(kid, self.name)
        head = bytes(value[:body])
        entry = self._dec[head] = (key.aead.decrypt, self.associated_data(head))
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

    # -- blind index -------------------------------------------------------------------------
    def index_keys(self) -> IndexKeys:
        """The column's blind-index keys under its keyring (made once per keyring).

        Example::

            cipher.index_keys().prefixes    # how k2's, then k1's, values of the column begin
        """
        keys = self._index
        if keys is None:
            parts = self.index_context or index_parts(self.name)
            keys = self._index = IndexKeys(self.keyring(), parts, self.name)
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
    def pgp_password(self, key: Key) -> str:
        """The pgcrypto password of this column under ``key`` (base64 of a derived key).

        Args:
            key: a keyring key.

        Example::

            cipher.pgp_password(cipher.keyring().active)
        """
        return base64.b64encode(key.derive(f"pgcrypto/v1/{self.name}")).decode()

    def pgp_material(self) -> PgpMaterial:
        """The header, passwords and key ids the SQL of a pgcrypto column binds.

        Example::

            material = cipher.pgp_material()
            material.key_ids     # [b"k2", b"k1"]: the SELECT picks a password by the row's id
        """
        pgp = self._pgp
        if pgp is None:
            ring = self.keyring()
            pgp = self._pgp = PgpMaterial(
                header(PGP_V1, ring.active.id),
                SecretText(self.pgp_password(ring.active)),
                [k.id.encode() for k in ring.keys],
                [SecretText(self.pgp_password(k)) for k in ring.keys],
            )
        return pgp
