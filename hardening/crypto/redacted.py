"""Values that print as ``[REDACTED]``: keys and plaintexts sent as bind parameters.

SQLAlchemy's ``echo`` and the text of a database error list a statement's parameters with
``repr``; wrapped in these, a pgcrypto password or a plaintext shows as ``'[REDACTED]'``.
"""

from __future__ import annotations


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
