"""Values that print as ``[REDACTED]``: keys and plaintexts sent as bind parameters, and key
sources while they are parsed.

SQLAlchemy's ``echo`` and the text of a database error list a statement's parameters with
``repr``; wrapped in these, a pgcrypto password or a plaintext shows as ``'[REDACTED]'``. A
traceback recorded with its frames' locals (``TracebackException(capture_locals=True)``, as
Sentry and rich do) shows each local with ``repr`` too: the keyring's parser holds key
material only in these (``sealed``).
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any


class Secret(bytes):
    """Bytes that print as ``[REDACTED]``.

    Example::

        conn.execute(stmt, {"old": Secret(plaintext)})   # a failed UPDATE shows '[REDACTED]'
    """

    def __repr__(self) -> str:
        return "'[REDACTED]'"


class SecretText(str):
    """A str that prints as ``[REDACTED]``.

    Example::

        password = SecretText(derived)   # repr(password) == "'[REDACTED]'"
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'[REDACTED]'"


def sealed(value: Any) -> Any:
    """``value`` with every string and bytes object in it (in a mapping's values, a list, a
    tuple, or what an iterator yields) replaced by one that prints as ``[REDACTED]``, but
    the first of a ``(key id, material)`` pair; a callable, None and anything else as they
    are. A function that receives key material
    rebinds its parameter to this first, so a traceback's locals (Sentry, rich) do not show
    it if parsing fails.

    Args:
        value: a key source (a spec string, a ``{key_id: bytes}`` mapping, pairs...).

    Example::

        spec = sealed(spec)    # repr(spec) == "'[REDACTED]'"
    """
    if value is None or callable(value):
        return value
    if isinstance(value, str):
        return value if isinstance(value, SecretText) else SecretText(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return value if isinstance(value, Secret) else Secret(bytes(value))
    if isinstance(value, Mapping):
        return {key: sealed(item) for key, item in value.items()}
    if isinstance(value, tuple):
        if len(value) == 2 and isinstance(value[0], str):
            return (str(value[0]), sealed(value[1]))  # (key id, material): the id stays printable
        return tuple(sealed(item) for item in value)
    if isinstance(value, list | Iterator | KeysView | ItemsView | ValuesView):
        return [sealed(item) for item in value]
    return value
