"""The keyring: named 256-bit keys from ``HARDENING_KEYS``, a file, or an application hook.

``HARDENING_KEYS="k2:BASE64,k1:BASE64"``: comma-separated ``key_id:base64(32 random bytes)``;
the first entry is active (encrypts), every entry decrypts. ``HARDENING_KEYS_FILE`` names a
file holding the same text (one entry per line or comma-separated, ``#`` comments allowed).
An application can instead call ``configure_keys(hook)`` with a callable (a KMS or Vault
client) that returns a ``Keyring``, a spec string, or ``(key_id, bytes)`` pairs.

There is no default key. Key material never appears in a message, a repr or a log line:
``Key`` and ``Keyring`` print their ids only, and errors name ids and sources, never values.

Every purpose gets its own key derived with HKDF-SHA256 (``Key.derive``): the AEAD key, the
pgcrypto password of a column and the blind-index key of a column are all different.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Protocol, TypeAlias

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hardening.crypto.redacted import SecretText, sealed
from hardening.crypto.reloads import Reloads
from hardening.errors import (
    EncryptionError,
    KeyConfigError,
    KeyNotFoundError,
)

KEY_BYTES = 32
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
ENV_KEYS = "HARDENING_KEYS"
ENV_KEYS_FILE = "HARDENING_KEYS_FILE"


class Key:
    """One named 256-bit key. Its repr shows the id only; the material is never printed.

    Args:
        key_id: 1-64 characters of ``A-Z a-z 0-9 _ . -``; stored in every value it encrypts.
        material: exactly 32 random bytes.

    Raises ``KeyConfigError`` (naming the id, never quoting the material) otherwise.

    Example::

        key = Key("2024-05", secrets.token_bytes(32))
        key.derive("aead/v1")     # what AES-GCM uses; the key itself never is
    """

    __slots__ = ("__dict__", "_material", "id")

    def __init__(self, key_id: str, material: bytes) -> None:
        material = sealed(material)  # a traceback's locals show '[REDACTED]'
        if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
            # not echoed: an entry written the wrong way round has its key material here
            del key_id
            raise KeyConfigError(
                "a key id is not valid: use 1-64 characters from A-Z a-z 0-9 _ . - "
                "(entries are key_id:base64key, the id first)"
            )
        if not isinstance(material, bytes | bytearray) or len(material) != KEY_BYTES:
            size = (
                f"{len(material)} bytes" if isinstance(material, bytes | bytearray) else "no bytes"
            )
            raise KeyConfigError(
                f"{_described(key_id)} has {size}; keys are {KEY_BYTES} random bytes, "
                "base64-encoded (`hardening keygen` prints one)"
            )
        self.id = key_id
        self._material = bytes(material)

    def __repr__(self) -> str:  # also of one half made: a traceback's locals show it
        return f"Key(id={getattr(self, 'id', None)!r})"

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` only (HKDF-SHA256, info ``pg-hardening/<purpose>``).

        Args:
            purpose: what the key is for, e.g. ``blind-index/v1/users.ssn``.

        Example::

            mac_key = key.derive("blind-index/v1/users.ssn")
        """
        return HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=None,
            info=b"pg-hardening/" + purpose.encode(),
        ).derive(self._material)

    @cached_property
    def aead(self) -> AESGCM:
        """The AES-256-GCM cipher of this key, made once and reused."""
        return AESGCM(self.derive("aead/v1"))


class Keyring:
    """Keys by id; the first one is active (encrypts), all of them decrypt.

    Args:
        keys: the keys, the active one first.
        source: where they came from, for error messages (``HARDENING_KEYS``, a file...).

    Raises ``KeyConfigError`` for no keys or an id given twice.

    Example::

        ring = Keyring.parse(os.environ["HARDENING_KEYS"])
        ring.active.id, ring.ids      # ('k2', ('k2', 'k1'))
    """

    def __init__(self, keys: Iterable[Key], source: str = "application") -> None:
        self.keys: tuple[Key, ...] = tuple(keys)
        self.source = source
        if not self.keys:
            raise KeyConfigError(f"no encryption keys in {source}; {_FIX}")
        self._by_id: dict[str, Key] = {}
        for key in self.keys:
            if key.id in self._by_id:
                raise KeyConfigError(f"{_described(key.id)} appears twice in {source}")
            self._by_id[key.id] = key

    def __repr__(self) -> str:  # also of one half made: a traceback's locals show it
        ids = [k.id for k in self.__dict__.get("keys", ())]
        return f"Keyring(ids={ids!r}, source={self.__dict__.get('source')!r})"

    @property
    def active(self) -> Key:
        """The key new values are encrypted under (the first)."""
        return self.keys[0]

    @property
    def ids(self) -> tuple[str, ...]:
        """The key ids, the active one first."""
        return tuple(k.id for k in self.keys)

    def get(self, key_id: str, column: str | None = None) -> Key:
        """The key ``key_id``; ``KeyNotFoundError`` naming it and the known ids otherwise.

        Args:
            key_id: the id a stored value names.
            column: ``table.column`` of that value, for the message.

        Example::

            ring.get("k1", "users.ssn")
        """
        key = self._by_id.get(key_id)
        if key is None:
            raise KeyNotFoundError(key_id, column, self.ids)
        return key

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._by_id

    @classmethod
    def parse(cls, spec: str, source: str = ENV_KEYS) -> Keyring:
        """A keyring from ``key_id:base64,...`` (commas or newlines; ``#`` starts a comment).

        Args:
            spec: the text.
            source: where it came from, for error messages (entries are named by position).

        Example::

            Keyring.parse("k2:BASE64...,k1:BASE64...")
        """
        spec = sealed(spec)  # no frame shows the keys if an entry is malformed
        entries: list[Key] = []
        problem = ""
        for entry in _entries(spec):
            try:
                entries.append(_entry(entry, f"{source}, entry {len(entries) + 1}"))
                continue
            except KeyConfigError as exc:
                problem = str(exc)
            break
        if problem:
            # raised here, outside the block: no __context__, and no frame below this one
            # (they hold the entry's parts) is in its traceback
            raise KeyConfigError(problem)
        return cls(entries, source)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, bytes]], source: str = "application") -> Keyring:
        """A keyring from ``(key_id, bytes)`` pairs, the active one first.

        Args:
            pairs: the ids and their 32-byte keys.
            source: where they came from, for error messages.

        Example::

            Keyring.from_pairs([("k2", new_key), ("k1", old_key)])
        """
        pairs = sealed(pairs)
        return cls((Key(kid, material) for kid, material in pairs), source)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Keyring:
        """A keyring from a file holding the ``HARDENING_KEYS`` text.

        Args:
            path: the file (read as UTF-8).

        Example::

            Keyring.from_file("/run/secrets/pg-hardening-keys")
        """
        try:
            text = sealed(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeyConfigError(
                f"cannot read the key file {ENV_KEYS_FILE}={os.fspath(path)!r}: {exc.strerror}"
            ) from None
        return cls.parse(text, source=f"{ENV_KEYS_FILE} {os.fspath(path)!r}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Keyring:
        """The keyring of ``HARDENING_KEYS``, else of the file ``HARDENING_KEYS_FILE`` names;
        ``KeyConfigError`` saying which is unset or empty otherwise.

        Args:
            environ: the variables to read; None for ``os.environ``.

        Example::

            Keyring.from_env({"HARDENING_KEYS": "k1:BASE64..."})
        """
        env = os.environ if environ is None else environ
        spec = sealed(env.get(ENV_KEYS, ""))
        path = env.get(ENV_KEYS_FILE, "")
        empty = [name for name in (ENV_KEYS, ENV_KEYS_FILE) if name in env]
        del env, environ  # a traceback's locals would show every variable, the keys among them
        if spec.strip():
            return cls.parse(spec, source=ENV_KEYS)
        if path.strip():
            return cls.from_file(path.strip())
        state = (
            f"{' and '.join(empty)} {'is' if len(empty) == 1 else 'are'} set but empty"
            if empty
            else f"{ENV_KEYS} and {ENV_KEYS_FILE} are unset"
        )
        raise KeyConfigError(f"no encryption keys: {state}; {_FIX}")


_FIX = (
    f"set {ENV_KEYS}=key_id:base64key (run `hardening keygen` for one), "
    f"point {ENV_KEYS_FILE} at a file holding it, or call hardening.keys.configure_keys(hook)"
)

KeySource: TypeAlias = "Keyring | str | Mapping[str, bytes] | Iterable[tuple[str, bytes]]"
KeyHook: TypeAlias = "Callable[[], KeySource]"
_SOURCES = (
    "a Keyring, a 'key_id:base64,...' string, a {key_id: bytes} mapping (first = active) or "
    "(key_id, bytes) pairs"
)


def as_keyring(source: KeySource, origin: str = "application") -> Keyring:
    """A ``Keyring`` from a keyring, a spec string, a ``{key_id: bytes}`` mapping (in order,
    the first active) or ``(key_id, bytes)`` pairs.

    Args:
        source: any of those.
        origin: where it came from, for error messages.

    Example::

        as_keyring({"k2": new_key, "k1": old_key}, origin="my vault")
    """
    source = sealed(source)  # no frame shows the keys if one of them is refused
    if isinstance(source, Keyring):
        return source
    if isinstance(source, str):
        return Keyring.parse(source, source=origin)
    if isinstance(source, Mapping):
        return Keyring.from_pairs(source.items(), source=origin)
    if isinstance(source, bytes):
        raise KeyConfigError(f"{origin} gave a bytes; expected {_SOURCES}")
    if not isinstance(source, Iterable):
        raise KeyConfigError(f"{origin} gave a {type(source).__name__}; expected {_SOURCES}")
    pairs: list[tuple[str, bytes]] = []
    for item in source:
        if not isinstance(item, tuple | list) or len(item) != 2:
            # the item is not shown: it may be key material
            raise KeyConfigError(
                f"{origin} gave an entry that is not a (key_id, bytes) pair "
                f"(a {type(item).__name__}); expected {_SOURCES}"
            )
        pairs.append((item[0], item[1]))
    return Keyring.from_pairs(pairs, source=origin)


def from_hook(hook: KeyHook, origin: str) -> Keyring:
    """Call an application's key hook; its failure becomes a ``KeyConfigError`` naming the
    hook, with the hook's own exception kept as the cause (not quoted in the message).

    Args:
        hook: a callable returning a keyring source (see ``as_keyring``).
        origin: the hook's name, for error messages.

    Example::

        from_hook(vault.fetch_keys, origin="the vault hook")
    """
    try:
        source = sealed(hook())
    except EncryptionError:
        raise
    except Exception as exc:
        raise KeyConfigError(
            f"{origin} raised {type(exc).__name__} (its error is the cause of this one); "
            "the keys in use, if any, are unchanged"
        ) from exc
    return as_keyring(source, origin=origin)


class _Default:
    """The process-wide keyring: a configured hook or the environment, read once, re-read
    on ``reload()`` (and by the types when a value names a key id they have not seen, as
    often as ``reloads`` allows)."""

    def __init__(self) -> None:
        self.hook: KeyHook | None = None
        self.keyring: Keyring | None = None
        self.generation = 0
        self.lock = threading.Lock()
        self.watchers: weakref.WeakSet[KeyWatcher] = weakref.WeakSet()
        self.reloads = Reloads()

    def reset(self) -> None:
        """Forget the keyring and tell every watcher (the columns' caches) to forget theirs."""
        self.keyring = None
        self.reloads.forget()
        for watcher in list(self.watchers):
            watcher.keys_changed()

    def get(self) -> Keyring:
        ring = self.keyring
        if ring is None:
            with self.lock:
                if self.keyring is None:
                    self.keyring = self._load()
                    self.generation += 1
                ring = self.keyring
        return ring

    def _load(self, hook: KeyHook | None = None) -> Keyring:
        hook = hook or self.hook
        if hook is None:
            return Keyring.from_env()
        return from_hook(hook, "the configure_keys() hook")

    def replace(self, hook: KeyHook | None, ring: Keyring) -> None:
        """Switch to ``hook`` and its freshly read ``ring``, and tell every watcher; the same
        hook giving the same keys changes nothing (the columns keep their caches)."""
        with self.lock:
            if hook is self.hook and self.keyring is not None and _same(self.keyring, ring):
                return
            if hook is not self.hook:
                self.reloads.forget()
            self.hook = hook
            self.keyring = ring
            self.generation += 1
            for watcher in list(self.watchers):
                watcher.keys_changed()


_DEFAULT = _Default()


def _same(a: Keyring, b: Keyring) -> bool:
    """The same keys, in the same order."""
    return [(k.id, k._material) for k in a.keys] == [(k.id, k._material) for k in b.keys]


def configure_keys(hook: KeyHook | KeySource | None) -> None:
    """Use ``hook`` instead of the environment for every encrypted column without its own
    ``keys=``. A hook's keys are read and checked now: a bad hook raises ``KeyConfigError``
    here and leaves the keys in use as they were.

    Args:
        hook: a callable returning a keyring source (a KMS or Vault client), or the source
            itself (a ``Keyring``, a spec string, a mapping or pairs); None goes back to the
            environment (read on first use).

    Example::

        configure_keys(lambda: vault.read("pg-hardening/keys"))   # "k2:...,k1:..."
    """
    hook = sealed(hook)  # a spec string or pairs: no frame shows them if they are refused
    if hook is None:
        with _DEFAULT.lock:
            _DEFAULT.hook = None
            _DEFAULT.reset()
        return
    new_hook = hook if callable(hook) else _fixed(as_keyring(hook, origin="configure_keys()"))
    _DEFAULT.replace(new_hook, _DEFAULT._load(new_hook))


def _fixed(ring: Keyring) -> KeyHook:
    return lambda: ring


def default_keyring() -> Keyring:
    """The process-wide keyring (read on first use): ``configure_keys`` or the environment.

    Example::

        default_keyring().active.id    # the key new values are encrypted under
    """
    return _DEFAULT.get()


def reload() -> Keyring:
    """Read the keys again (after a rotation changed the environment, file or vault). When
    they cannot be read, ``KeyConfigError`` is raised and the keys in use stay as they were.

    Example::

        os.environ["HARDENING_KEYS"] = f"{new_entry},{os.environ['HARDENING_KEYS']}"
        reload()    # new values are encrypted under the new key from now on
    """
    ring = _DEFAULT._load()
    _DEFAULT.replace(_DEFAULT.hook, ring)
    return ring


def reload_for(key_id: str) -> Keyring:
    """The process-wide keyring, read again first when it lacks ``key_id``, as often as
    ``hardening.crypto.reloads`` allows (a forged or long-gone key id costs no reload per
    value). A reload that fails raises ``KeyConfigError`` and keeps the keys in use.

    Args:
        key_id: the key id a stored value names.

    Example::

        ring = reload_for("k3")
        key = ring.get("k3", "users.ssn")    # KeyNotFoundError if still not there
    """
    ring = _DEFAULT.get()
    if key_id in ring or not _DEFAULT.reloads.may_reload(key_id):
        return ring
    ring = reload()
    if key_id not in ring:
        _DEFAULT.reloads.not_found(key_id)
    return ring


class KeyWatcher(Protocol):
    """What ``watch`` calls when the process-wide keys change (``ColumnCipher`` is one)."""

    def keys_changed(self) -> None: ...


def watch(watcher: KeyWatcher) -> None:
    """Call ``watcher.keys_changed()`` when the process-wide keys are reloaded or
    reconfigured (held weakly: a watcher that is gone is forgotten).

    Args:
        watcher: anything with ``keys_changed()``.

    Example::

        watch(cipher)    # ColumnCipher drops its cached key objects on a reload
    """
    _DEFAULT.watchers.add(watcher)


def generate_entry(key_id: str | None = None) -> str:
    """A fresh ``key_id:base64`` entry from the OS random source (``hardening keygen``).

    Args:
        key_id: the id; None for a random ``k`` + 8 hex digits.

    Example::

        os.environ["HARDENING_KEYS"] = generate_entry("2025-01")
    """
    kid = key_id or f"k{secrets.token_hex(4)}"
    key = Key(kid, secrets.token_bytes(KEY_BYTES))
    return f"{key.id}:{base64.b64encode(key._material).decode()}"


def _entries(spec: str) -> Iterator[SecretText]:
    """The entries of a spec (commas or newlines; ``#`` starts a comment), each sealed."""
    for line in spec.splitlines():
        for raw in line.split("#", 1)[0].split(","):
            if raw.strip():
                yield SecretText(raw.strip())


def _entry(entry: str, where: str) -> Key:
    """The key of one ``key_id:base64`` entry; ``KeyConfigError`` starting with ``where``."""
    key_id, sep, encoded = entry.partition(":")
    if not sep:
        raise KeyConfigError(f"{where} has no ':'; expected key_id:base64(32 bytes)")
    try:
        return Key(key_id.strip(), _b64(key_id.strip(), encoded.strip()))
    except KeyConfigError as exc:
        problem = str(exc)
    raise KeyConfigError(f"{where}: {problem}")  # outside the block: no __context__


def _b64(key_id: str, encoded: str) -> bytes:
    """Standard or URL-safe base64, strictly: a stray character is an error, not skipped."""
    if "=" not in encoded:
        encoded += "=" * (-len(encoded) % 4)
    try:
        if "-" in encoded or "_" in encoded:
            return base64.b64decode(encoded, altchars=b"-_", validate=True)
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        pass  # raised below, outside the block: binascii's error describes the key text
    raise KeyConfigError(
        f"{_described(key_id)} is not valid base64; expected key_id:base64(32 random bytes)"
    )


def _described(key_id: str) -> str:
    """``key 'k1'`` for a key id fit to print; for anything else (an entry written the wrong
    way round puts the key material where the id goes) a phrase that does not quote it."""
    if KEY_ID_PATTERN.fullmatch(key_id) and not _looks_like_key(key_id):
        return f"key {key_id!r}"
    return "a key (its id is not shown: it looks like key material; is the entry key_id:base64?)"


def _looks_like_key(text: str) -> bool:
    padded = text + "=" * (-len(text) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            if len(decode(padded)) >= KEY_BYTES - 2:
                return True
        except (binascii.Error, ValueError):
            continue
    return False
