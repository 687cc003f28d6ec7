"""96-bit AES-GCM nonces, sliced from a per-thread buffer of OS randomness.

One ``os.urandom`` call serves 4,096 nonces instead of one per value. The buffer is replaced
in a forked child, so parent and child never hand out the same bytes.
"""

from __future__ import annotations

import os
import threading

from hardening.crypto.envelope import NONCE_BYTES

_PER_DRAW = 4096


class _Nonces(threading.local):
    def __init__(self) -> None:
        self.buf = b""
        self.pos = 0


_NONCES = _Nonces()


def nonce12() -> bytes:
    """A fresh 12-byte nonce (never the same twice in a process, nor across a fork).

    Example::

        nonce = nonce12()
        sealed = AESGCM(key).encrypt(nonce, data, associated_data)
    """
    n = _NONCES
    pos = n.pos
    if pos >= len(n.buf):
        n.buf, pos = os.urandom(NONCE_BYTES * _PER_DRAW), 0
    n.pos = pos + NONCE_BYTES
    return n.buf[pos : pos + NONCE_BYTES]


def _after_fork() -> None:
    global _NONCES
    _NONCES = _Nonces()


os.register_at_fork(after_in_child=_after_fork)
