"""What a stored value's length tells: nothing for fixed-size types, only the bucket (or the
Padmé length) for padded text, bytes and JSON; values written before keep reading."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.engine import Engine

from hardening.crypto.payload import padme
from hardening.errors import ColumnOptionError, DecryptionError
from hardening.keys import Keyring
from hardening.types import (
    EncryptedBoolean,
    EncryptedBytes,
    EncryptedDate,
    EncryptedDateTime,
    EncryptedFloat,
    EncryptedInteger,
    EncryptedJSON,
    EncryptedNumeric,
    EncryptedText,
    EncryptedTime,
    EncryptedUUID,
)
from tests.crypto.models import first_format, legacy_table, read_a

PLUS_2 = dt.timezone(dt.timedelta(hours=2))
FIXED: list[tuple[Any, list[Any]]] = [
    (EncryptedBoolean, [True, False]),
    (EncryptedInteger, [0, 7, -1, 12_345_678_901, 2**63 - 1, -(2**63)]),
    (EncryptedFloat, [0.0, -0.0, 1.5, 1e300, float("inf"), -123.456]),
    (EncryptedDate, [dt.date(1, 1, 1), dt.date(2024, 2, 29), dt.date(9999, 12, 31)]),
    (
        EncryptedDateTime,
        [
            dt.datetime(2024, 2, 29, 12, 1, 2, 3),
            dt.datetime(1999, 1, 1, tzinfo=PLUS_2),
            dt.datetime(2030, 6, 1, 23, 59, 59, 999_999, tzinfo=dt.UTC),
        ],
    ),
    (EncryptedTime, [dt.time(0, 0), dt.time(23, 59, 59, 999_999), dt.time(8, 30, tzinfo=PLUS_2)]),
    (EncryptedUUID, [uuid.UUID(int=0), uuid.uuid4(), uuid.UUID(int=2**128 - 1)]),
]


def lengths(engine: Engine, table: Table, column: str) -> dict[int, int]:
    """Stored length -> how many rows have it."""
    raw = Table(table.name, MetaData(), Column("id", Integer), Column(column))
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            f"SELECT octet_length({column}), count(*) FROM {raw.name} "
            f"WHERE {column} IS NOT NULL GROUP BY 1"
        )
        return {int(n): int(c) for n, c in found}


@pytest.mark.parametrize(("type_", "values"), FIXED, ids=[t.__name__ for t, _ in FIXED])
def test_every_value_of_a_fixed_size_type_is_stored_in_the_same_length(
    engine: Engine, type_: Any, values: list[Any]
) -> None:
    table = Table("vals", MetaData(), Column("id", Integer, primary_key=True), Column("v", type_()))
    table.create(engine)
    picked = random.Random(7).choices(values, k=1000)  # noqa: S311 - test data
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "v": v} for i, v in enumerate(picked)])
        back = [r.v for r in conn.execute(select(table.c.v).order_by(table.c.id))]
    assert back == picked
    assert len(lengths(engine, table, "v")) == 1, lengths(engine, table, "v")


def test_the_true_and_false_of_a_boolean_column_cannot_be_told_apart_by_length(
    engine: Engine,
) -> None:
    table = Table(
        "flags",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("v", EncryptedBoolean()),
    )
    table.create(engine)
    rng = random.Random(1)  # noqa: S311 - test data: about 194 true in 1,000, as reported
    flags = [rng.random() < 0.194 for _ in range(1000)]
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "v": v} for i, v in enumerate(flags)])
    assert lengths(engine, table, "v") == {34: 1000}  # header 4, nonce 12, payload 2, tag 16


VARIABLE = [
    (EncryptedText, lambda n: "é" * (n // 2) + "x" * (n % 2)),
    (EncryptedBytes, lambda n: bytes(range(256)) * (n // 256) + bytes(n % 256)),
    (EncryptedJSON, lambda n: "j" * max(n - 2, 0)),  # a JSON string: n bytes with its quotes
    (EncryptedNumeric, lambda n: Decimal("1" * max(n, 1))),
]


@pytest.mark.parametrize(("type_", "make"), VARIABLE, ids=[t.__name__ for t, _ in VARIABLE])
def test_padding_leaves_only_the_bucket_or_the_padme_length_to_be_seen(
    engine: Engine, type_: Any, make: Any
) -> None:
    table = Table(
        "texts",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("plain", type_()),
        Column("bucket", type_(padding=64)),
        Column("padme", type_(padding="padme")),
    )
    table.create(engine)
    values = [make(n) for n in range(2, 63)] + [make(n) for n in range(1000, 1100)]
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [{"id": i, "plain": v, "bucket": v, "padme": v} for i, v in enumerate(values)],
        )
        rows = conn.execute(select(table).order_by(table.c.id)).all()
    assert [(r.plain, r.bucket, r.padme) for r in rows] == [(v, v, v) for v in values]
    envelope = 4 + 12 + 16  # header, nonce, tag: the payload is the rest
    bucket = lengths(engine, table, "bucket")
    assert bucket[64 + envelope] == 61  # every value up to 62 bytes: one length
    assert set(bucket) <= {(n + envelope) for n in range(64, 1200, 64)}
    padded = lengths(engine, table, "padme")
    assert all(padme(n - envelope) == n - envelope for n in padded)
    assert len(padded) < len(lengths(engine, table, "plain")) / 4  # far fewer lengths than values


def test_padding_is_refused_where_it_cannot_help_or_is_not_a_padding() -> None:
    with pytest.raises(ColumnOptionError, match="EncryptedBoolean stores every value in the same"):
        EncryptedBoolean(padding=16)
    with pytest.raises(ColumnOptionError, match=r"padding='pad' is not a padding; use padding=N"):
        EncryptedText(padding="pad")
    with pytest.raises(ColumnOptionError, match="padding=1 is not a padding"):
        EncryptedText(padding=1)


FIRST_FORMAT: list[tuple[Any, Any, bytes]] = [
    (EncryptedBoolean, False, b"false"),
    (EncryptedInteger, -42, b"-42"),
    (EncryptedFloat, 0.1, b"0.1"),
    (EncryptedDate, dt.date(2020, 1, 2), b"2020-01-02"),
    (EncryptedDateTime, dt.datetime(2020, 1, 2, 3, 4, tzinfo=PLUS_2), b"2020-01-02T03:04:00+02:00"),
    (EncryptedTime, dt.time(1, 2, 3), b"01:02:03"),
    (EncryptedUUID, uuid.UUID(int=5), b"00000000-0000-0000-0000-000000000005"),
    (EncryptedText, "ünï", "ünï".encode()),
]


@pytest.mark.parametrize(
    ("type_", "value", "text"), FIRST_FORMAT, ids=[t.__name__ for t, _, _ in FIRST_FORMAT]
)
def test_values_written_in_the_first_format_keep_reading(
    engine: Engine, k1: Keyring, type_: Any, value: Any, text: bytes
) -> None:
    table = legacy_table(engine, first_format(k1, "legacy.v", text), type_())
    with engine.connect() as conn:
        assert conn.execute(select(table.c.v)).scalar_one() == value


def test_a_value_of_another_fixed_size_type_is_refused_never_misread(engine: Engine) -> None:
    """The payload names its form: a date's 4 bytes are not read as an integer."""
    table = Table(
        "secrets", MetaData(), Column("id", Integer, primary_key=True), Column("a", EncryptedDate())
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, a=dt.date(2020, 1, 1)))
    as_integer = Table(
        "secrets",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("a", EncryptedInteger()),
    )
    with pytest.raises(DecryptionError, match="is not int as EncryptedInteger"):
        read_a(engine, as_integer)
