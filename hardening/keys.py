"""The keyring, by its old name: ``hardening.crypto.keys`` (docs and applications import
``hardening.keys.configure_keys``; ``hardening.types`` re-exports it too)."""

from hardening.crypto.keys import (
    ENV_KEYS,
    ENV_KEYS_FILE,
    KEY_BYTES,
    KEY_ID_PATTERN,
    Key,
    KeyHook,
    Keyring,
    KeySource,
    KeyWatcher,
    as_keyring,
    configure_keys,
    default_keyring,
    from_hook,
    generate_entry,
    reload,
    watch,
)

__all__ = [
    "ENV_KEYS",
    "ENV_KEYS_FILE",
    "KEY_BYTES",
    "KEY_ID_PATTERN",
    "Key",
    "KeyHook",
    "KeySource",
    "KeyWatcher",
    "Keyring",
    "as_keyring",
    "configure_keys",
    "default_keyring",
    "from_hook",
    "generate_entry",
    "reload",
    "watch",
]
