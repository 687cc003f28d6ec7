"""The end user who acted: a context variable the application sets, and its encoding into the
connection's ``application_name``, where every server log form records it.

``with actor("user:42"):`` sets the actor for the code inside the block (a
:class:`contextvars.ContextVar`, so asyncio tasks created inside inherit it and concurrent
tasks each keep their own). :func:`hardening.audit.instrument` then makes each statement of
an engine run with ``application_name = '<application> actor=<encoded actor>'``; the reader
splits it back (:func:`split_application_name`).

The encoding is the whole of the sanitising: every byte of the value's UTF-8 outside
``A-Z a-z 0-9 . _ : - ~`` becomes ``%XX``. An encoded actor therefore holds no space, quote,
comma, comment marker, backslash, newline or other control character: it cannot end a
literal, a comment or a log field, whatever the value. PostgreSQL keeps 63 bytes of an
application name, so an encoded actor has at most ``MAX_ENCODED`` bytes; a longer one is
refused (:class:`~hardening.errors.ActorError`) rather than cut, since a cut id could name
another user.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import quote, unquote

from hardening.errors import ActorError

APPLICATION_NAME_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL truncates application_name there
MARKER = "actor="
MAX_ENCODED = APPLICATION_NAME_BYTES - len(MARKER)  # 57
SAFE = string.ascii_letters + string.digits + "._:-~"

# The encoded actor of the running context, or None.
_CURRENT: ContextVar[str | None] = ContextVar("hardening_audit_actor", default=None)
_SPLIT = re.compile(rf"(?:(?P<app>.*) )?{MARKER}(?P<actor>[A-Za-z0-9._:~%\-]+)", re.DOTALL)


def encode(value: str) -> str:
    """``value`` as it travels in the application name: percent-encoded UTF-8 outside ``SAFE``.

    Args:
        value: the actor, any non-empty string.

    Example::

        >>> encode("user 42 */ DROP")
        'user%2042%20%2A%2F%20DROP'
    """
    if not isinstance(value, str) or not value:
        kind = "an empty string" if isinstance(value, str) else type(value).__name__
        raise ActorError(f"an actor must be a non-empty string, not {kind}")
    try:
        encoded = quote(value, safe=":", encoding="utf-8", errors="strict")  # keeps exactly SAFE
    except UnicodeEncodeError:
        raise ActorError(
            "an actor must be text that encodes to UTF-8 (no lone surrogate)"
        ) from None
    if len(encoded) > MAX_ENCODED:
        raise ActorError(
            f"an actor value of {len(value)} characters encodes to {len(encoded)} bytes; at most "
            f"{MAX_ENCODED} fit into PostgreSQL's application_name: use a shorter id "
            "(for example user:<number>)"
        )
    return encoded


def decode(encoded: str) -> str:
    """The actor ``encode`` made ``encoded`` from.

    Args:
        encoded: the text after ``actor=`` in an application name.

    Example::

        >>> decode("user%2042")
        'user 42'
    """
    return unquote(encoded, encoding="utf-8", errors="replace")


@contextmanager
def actor(value: str | None) -> Iterator[str | None]:
    """Attribute the statements run inside the block to ``value`` (``None``: to nobody).

    Statements reach the audit log with the actor only through an engine passed to
    :func:`hardening.audit.instrument`. Blocks nest; the inner one wins until it ends.

    Args:
        value: who acted, e.g. ``"user:42"`` or ``"alice@example.org"``; any text whose
            encoding fits (``MAX_ENCODED`` bytes), else :class:`~hardening.errors.ActorError`
            before the block runs.

    Example::

        with hardening.audit.actor(f"user:{request.user.id}"):
            session.execute(update(Account).values(limit=500))
    """
    token = _CURRENT.set(None if value is None else encode(value))
    try:
        yield value
    finally:
        _CURRENT.reset(token)


def current_actor() -> str | None:
    """The actor of the running context (``None`` outside any ``actor`` block).

    Example::

        with actor("user:42"):
            assert current_actor() == "user:42"
    """
    encoded = _CURRENT.get()
    return None if encoded is None else decode(encoded)


def current_encoded() -> str | None:
    """The running context's actor as it travels (``encode``d), or None."""
    return _CURRENT.get()


def application_name(base: str, encoded: str | None) -> str:
    """The application name a statement runs with: ``base`` alone without an actor, else
    ``"<base> actor=<encoded>"``, ``base`` shortened so the whole fits in 63 bytes.

    Args:
        base: the connection's own application name (ASCII, as the server reports it).
        encoded: an ``encode``d actor, or None.

    Example::

        >>> application_name("billing", "user:42")
        'billing actor=user:42'
    """
    if encoded is None:
        return base
    tail = MARKER + encoded
    room = APPLICATION_NAME_BYTES - len(tail) - 1
    head = base.encode("utf-8")[: max(room, 0)].decode("utf-8", "ignore")
    return f"{head} {tail}" if head else tail


def split_application_name(name: str | None) -> tuple[str | None, str | None]:
    """``(application, actor)`` from an application name as the server logged it; an actor
    that was not set gives None, an application left empty gives None.

    Args:
        name: the logged application name (``%a``, csvlog ``application_name``, jsonlog
            ``application_name``), or None when the log form does not carry it.

    Example::

        >>> split_application_name("billing actor=user%2042")
        ('billing', 'user 42')
    """
    if not name:
        return None, None
    found = _SPLIT.fullmatch(name)
    if found is None:
        return name, None
    return found["app"] or None, decode(found["actor"])
