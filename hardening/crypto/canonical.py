"""Canonical forms: the bytes a blind index hashes, one form for values that are equal.

A blind index matches bytes, so two equal values written two ways must be hashed as the same
bytes, or a lookup misses the row. The stored forms keep what the application wrote (a
``Decimal`` keeps its exponent, a ``datetime`` its time zone, JSON its key order); these are
what the index hashes instead:

* JSON: object keys sorted, no whitespace, numbers as their exact decimal value (``1``,
  ``1.0`` and ``1E0`` are one number, ``-0.0`` is ``0``);
* ``Decimal``: its exact value (``1.10`` and ``1.1``, ``0`` and ``-0.00`` are equal);
* ``float``: ``-0.0`` as ``0.0``;
* an aware ``datetime`` or ``time``: the same instant in UTC (``12:00+02:00`` is
  ``10:00+00:00``), as Python compares them; a naive one as it is (it names no instant);
* every other type: its stored text form, which is already canonical.

Text is hashed as given: normalise it (case, Unicode form) before storing if lookups should
ignore such differences.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

__all__ = ["decimal_form", "float_form", "json_form", "time_form", "timestamp_form"]

_UTC = dt.UTC


def decimal_form(value: Any) -> bytes:
    """The exact value of a ``Decimal`` (or an ``int``) as ``digitsEexponent``, trailing
    zeros moved into the exponent; ``0`` for every zero.

    Args:
        value: a ``Decimal`` or anything ``Decimal()`` takes.

    Example::

        decimal_form(Decimal("1.10")) == decimal_form(Decimal("1.1")) == b"11E-1"
    """
    number = value if isinstance(value, Decimal) else Decimal(value)
    if not number.is_finite():
        return b"NaN" if number.is_nan() else (b"-Infinity" if number < 0 else b"Infinity")
    sign, digits, exponent = number.as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    if not text:
        return b"0"
    shifted = int(exponent) + len(digits) - len(text)
    return f"{'-' if sign else ''}{text}E{shifted}".encode("ascii")


def float_form(value: Any) -> bytes:
    """``repr`` of the float, with ``-0.0`` as ``0.0``.

    Args:
        value: a ``float`` (or an ``int``).

    Example::

        float_form(-0.0) == float_form(0.0) == b"0.0"
    """
    return repr(float(value) + 0.0).encode("ascii")


def timestamp_form(value: dt.datetime) -> bytes:
    """ISO 8601 of the instant in UTC for an aware ``datetime``; a naive one as it is.

    Args:
        value: a ``datetime``.

    Example::

        paris = dt.datetime(2024, 5, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))
        timestamp_form(paris) == b"2024-05-01T10:00:00+00:00"
    """
    if value.utcoffset() is not None:
        value = value.astimezone(_UTC)
    return value.isoformat().encode("ascii")


def time_form(value: dt.time) -> bytes:
    """An aware ``time`` as its microseconds past midnight UTC, unwrapped, as Python compares
    them (``12:00+02:00`` is ``11:00+01:00``; ``01:30+02:00`` is not ``23:30+00:00``); a
    naive one, or one whose zone gives no offset without a date, in ISO 8601.

    Args:
        value: a ``time``.

    Example::

        time_form(dt.time(12, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == b"UTC36000000000"
    """
    offset = value.utcoffset()
    if offset is None:
        return value.isoformat().encode("ascii")
    since_midnight = dt.timedelta(
        hours=value.hour, minutes=value.minute, seconds=value.second, microseconds=value.microsecond
    )
    return f"UTC{(since_midnight - offset) // dt.timedelta(microseconds=1)}".encode("ascii")


def json_form(value: Any) -> bytes:
    """Canonical JSON: keys sorted, no whitespace, numbers as ``decimal_form``.

    Args:
        value: what ``json.dumps`` takes (dicts, lists, strings, numbers, booleans, None).

    Example::

        json_form({"b": 2, "a": 1.0}) == json_form({"a": 1, "b": 2}) == b'{"a":1E0,"b":2E0}'
    """
    return _json(value).encode("utf-8")


def _json(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        if isinstance(value, float) and value != value:  # NaN
            return "NaN"
        return decimal_form(Decimal(value)).decode("ascii")
    if isinstance(value, dict):
        items = sorted((_key(k), _json(v)) for k, v in value.items())
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{v}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json(v) for v in value) + "]"
    raise TypeError  # what json.dumps refuses too


def _key(key: Any) -> str:
    """An object key as ``json.dumps`` writes it (keys are strings in JSON)."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        converted: dict[str, int] = json.loads(json.dumps({key: 0}))  # as json.dumps writes it
        return next(iter(converted))
    raise TypeError
