"""When a stored value names a key id the keyring lacks: how often the keys are read again.

A value under a key id the process has not seen is normally one written by an instance that
already has a newer key, so the keys are read again (the environment, the file or the hook)
before ``KeyNotFoundError`` is raised. A value whose key id is forged, or whose key is gone
for good, must not cost a read of the keys (with a KMS hook, a network round trip) on every
row. So:

* an id that a reload did not find is remembered as unknown for ``UNKNOWN_ID_TTL`` seconds:
  values naming it raise ``KeyNotFoundError`` at once, without a reload;
* reloads caused by unknown ids happen at most once per ``RELOAD_INTERVAL`` seconds, whatever
  the ids (a value under a new id met within that time of the last such reload raises until
  it has passed);
* a reload that finds the same keys keeps them, and the columns keep their cached key objects.

``hardening.keys.reload()`` called by the application always reads the keys.
"""

from __future__ import annotations

import threading
import time

__all__ = ["MAX_UNKNOWN_IDS", "RELOAD_INTERVAL", "UNKNOWN_ID_TTL", "Reloads", "clock"]

RELOAD_INTERVAL = 5.0  # seconds between two reloads caused by unknown key ids
UNKNOWN_ID_TTL = 60.0  # seconds an id a reload did not find causes no other reload
MAX_UNKNOWN_IDS = 1024  # ids remembered at most (forgotten all at once past it)
clock = time.monotonic  # what the times are read from (tests replace it)


class Reloads:
    """One key source's record of reloads caused by unknown key ids (see the module docstring).

    Example::

        if reloads.may_reload("k9"):
            ring = read_keys_again()
            if "k9" not in ring:
                reloads.not_found("k9")
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: float | None = None
        self._unknown: dict[str, float] = {}

    def may_reload(self, key_id: str) -> bool:
        """True when a value under ``key_id`` may have the keys read again now (and then
        counts as the latest reload).

        Args:
            key_id: the id the value names, which the keyring lacks.

        Example::

            reloads.may_reload("k9")    # False within UNKNOWN_ID_TTL of not_found("k9")
        """
        now = clock()
        with self._lock:
            seen = self._unknown.get(key_id)
            if seen is not None and now - seen < UNKNOWN_ID_TTL:
                return False
            if self._last is not None and now - self._last < RELOAD_INTERVAL:
                return False
            self._last = now
            return True

    def not_found(self, key_id: str) -> None:
        """Remember that the keys, read again, still lack ``key_id``.

        Args:
            key_id: the id.

        Example::

            reloads.not_found("k9")
        """
        with self._lock:
            if len(self._unknown) >= MAX_UNKNOWN_IDS:
                self._unknown.clear()
            self._unknown[key_id] = clock()

    def forget(self) -> None:
        """Forget every reload and unknown id (the key source was replaced).

        Example::

            reloads.forget()
        """
        with self._lock:
            self._last = None
            self._unknown.clear()
