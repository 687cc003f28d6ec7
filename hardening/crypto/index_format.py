"""The bytes a blind-index column holds, and the keys that make them.

Index format 2 (written from this version on)::

    0xB2 | n (1 byte, 1..64) | key id (n ASCII bytes) | column tag (4 bytes) | HMAC-SHA256 (32)

The HMAC is taken over the value's canonical form (``hardening.crypto.canonical``: equal
values, one form) with a key derived from the keyring key ``key id`` for this one column:
HKDF info ``blind-index/v2/`` followed by the column's context: schema, table and column,
each as ``<UTF-8 length>:<name>`` (an empty schema when the table declares none), the one
encoding the AEAD and pgcrypto formats derive from too (``ColumnContext.encoded``), so
``tenant_a.users.ssn`` and ``tenant_b.users.ssn`` have different index keys and no two
spellings of names give the same info. The column tag is 4 bytes derived from the same key
and names (``.../tag``): the same in every value of the column under that key, different in
another column's index, so an index value says which key made it and, to whoever holds that
key, for which column, without the value.

The key id in front says which key made a value: ``rotate --blind-index`` finds the values
not made by the active key with ``substr(index, 1, 2 + n + 4)``; ``rotate`` without it finds
a column holding this column's index by its prefix (and refuses to leave it behind); a
lookup finds values whose key the keyring no longer holds (``hardening.crypto.blind_index``).

Index format 1 (written before): the bare 32-byte HMAC-SHA256 of the value's stored form,
keyed with HKDF info ``blind-index/v1/<table.column>``. Lookups still match it under every
keyring key until ``rotate --blind-index`` rewrites it in format 2; it names no key, so a
format-1 value whose key is gone cannot be told from one that matches nothing.
"""

from __future__ import annotations

import hashlib
import hmac

from hardening.crypto.context import ColumnContext
from hardening.crypto.envelope import MAX_KEY_ID
from hardening.crypto.keys import KEY_ID_PATTERN, Key, Keyring

__all__ = [
    "INDEX_V2",
    "LEGACY_BYTES",
    "MAC_BYTES",
    "TAG_BYTES",
    "IndexKeys",
    "digest",
    "hmac_key",
    "index_head",
    "index_info",
    "index_key_id",
]

INDEX_V2 = 0xB2
MAC_BYTES = 32
TAG_BYTES = 4
LEGACY_BYTES = 32  # a format-1 value: the HMAC alone


def hmac_key(key: Key, context: str) -> bytes:
    """The format-1 blind-index HMAC key of column ``context`` under ``key``.

    Args:
        key: a keyring key.
        context: the column's ``table.column``.

    Example::

        mac = hmac_key(keyring.active, "users.ssn")
    """
    return key.derive(f"blind-index/v1/{context}")


def digest(mac_key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 of ``data`` under ``mac_key``.

    Args:
        mac_key: an index key (``hmac_key``, or a format-2 one).
        data: the bytes hashed.

    Example::

        entry = digest(hmac_key(keyring.active, "users.ssn"), b"123-45-6789")
    """
    return hmac.new(mac_key, data, hashlib.sha256).digest()


def index_info(where: ColumnContext) -> str:
    """The HKDF purpose of a column's format-2 index key: ``blind-index/v2/`` and the column's
    context as every current format encodes it (``ColumnContext.encoded``).

    Args:
        where: the column's context.

    Example::

        index_info(ColumnContext("tenant_a", "users", "ssn"))
        # 'blind-index/v2/8:tenant_a5:users3:ssn'
    """
    return "blind-index/v2/" + where.encoded.decode()


def index_head(key_id: str) -> bytes:
    """``0xB2 | n | key id``: how every format-2 value made by ``key_id`` begins.

    Args:
        key_id: a keyring key's id.

    Example::

        index_head("k2")    # b"\\xb2\\x02k2"
    """
    kid = key_id.encode("ascii")
    return bytes((INDEX_V2, len(kid))) + kid


def prefix_end(prefix: bytes) -> bytes | None:
    """The least byte string above every one that starts with ``prefix``; None when there is
    none (``prefix`` is all 0xff). ``value >= prefix AND value < prefix_end(prefix)`` selects
    the values that start with ``prefix`` as one btree range.

    Args:
        prefix: how the values begin (a key's head and column tag, ``IndexKeys.prefixes``).

    Example::

        prefix_end(b"\\xb2\\x02k1\\x10\\xff")    # b"\\xb2\\x02k1\\x11": a tag may end in 0xff
    """
    kept = prefix.rstrip(b"\xff")
    return kept[:-1] + bytes((kept[-1] + 1,)) if kept else None


def index_key_id(stored: bytes) -> str | None:
    """The key id a stored format-2 index value names; None for anything else (a format-1
    value, or bytes that are no index value).

    Args:
        stored: what the blind-index column holds.

    Example::

        index_key_id(stored)    # 'k1'
    """
    if len(stored) < 3 or stored[0] != INDEX_V2:
        return None
    n = stored[1]
    if not 1 <= n <= MAX_KEY_ID or len(stored) != 2 + n + TAG_BYTES + MAC_BYTES:
        return None
    kid = bytes(stored[2 : 2 + n]).decode("ascii", "replace")
    return kid if KEY_ID_PATTERN.fullmatch(kid) else None


class IndexKeys:
    """One column's blind-index keys under one keyring, each derived once.

    Args:
        ring: the column's keyring.
        where: the column's context: format-2 keys are bound to its schema, table and column
            (``ColumnContext.encoded``), format-1 keys to ``ColumnContext.first_format``.

    Example::

        keys = IndexKeys(ring, ColumnContext(None, "users", "ssn"))
        stored = keys.entry(b"123-45-6789")
    """

    def __init__(self, ring: Keyring, where: ColumnContext) -> None:
        info = index_info(where)
        self.ids = ring.ids
        self._v2: dict[str, tuple[bytes, bytes]] = {
            k.id: (index_head(k.id) + k.derive(f"{info}/tag")[:TAG_BYTES], k.derive(info))
            for k in ring.keys
        }
        # How each key's values begin (head), and its values of this column (head and
        # column tag), active first.
        self.heads = tuple(index_head(kid) for kid in self.ids)
        self.prefixes = tuple(self._v2[kid][0] for kid in self.ids)
        self._v1 = tuple(hmac_key(k, where.first_format) for k in ring.keys)

    def entry(self, canonical: bytes) -> bytes:
        """The format-2 value stored for a value of canonical form ``canonical`` (active key).

        Args:
            canonical: the value's canonical bytes.

        Example::

            keys.entry(b"123-45-6789")    # b"\\xb2\\x02k2" + tag + HMAC
        """
        return self._made_by(self.ids[0], canonical)

    def _made_by(self, key_id: str, canonical: bytes) -> bytes:
        prefix, mac_key = self._v2[key_id]
        return prefix + digest(mac_key, canonical)

    def entries(self, canonical: bytes, legacy: bytes) -> list[bytes]:
        """Every value a lookup matches: format 2 under each key (active first), then
        format 1 under each key.

        Args:
            canonical: the value's canonical bytes.
            legacy: the value's stored form (what format 1 hashed).

        Example::

            keys.entries(b"11E-1", b"1.10")
        """
        made = [self._made_by(kid, canonical) for kid in self.ids]
        return made + [digest(k, legacy) for k in self._v1]

    def of_column(self, stored: bytes) -> bool | None:
        """Whether ``stored`` is a format-2 index value of this column (its prefix): None when
        it is one made by a key the keyring lacks (it cannot be told), False for anything
        else, a format-1 value included.

        Args:
            stored: what a blind-index column holds.

        Example::

            keys.of_column(row.ssn_bidx)    # True
        """
        kid = index_key_id(stored)
        if kid is None:
            return False
        if kid not in self._v2:
            return None
        return stored.startswith(self._v2[kid][0])

    def holds(self, stored: bytes, canonical: bytes, legacy: bytes) -> bool | None:
        """Whether ``stored`` is the index of the value: True or False; None when it is a
        format-2 value made by a key the keyring lacks (it cannot be checked).

        Args:
            stored: what the blind-index column holds.
            canonical: the value's canonical bytes.
            legacy: the value's stored form.

        Example::

            keys.holds(row.ssn_bidx, canonical, plain)
        """
        kid = index_key_id(stored)
        if kid is not None:
            if kid not in self._v2:
                return None
            return hmac.compare_digest(stored, self._made_by(kid, canonical))
        return self.holds_legacy(stored, legacy)

    def holds_legacy(self, stored: bytes, legacy: bytes) -> bool:
        """Whether ``stored`` is the format-1 index of the value stored as ``legacy``, under
        a keyring key.

        Args:
            stored: what a blind-index column holds.
            legacy: the value's stored form.

        Example::

            keys.holds_legacy(row.ssn_bidx, plain)
        """
        if len(stored) != LEGACY_BYTES:
            return False
        return any(hmac.compare_digest(stored, digest(k, legacy)) for k in self._v1)
