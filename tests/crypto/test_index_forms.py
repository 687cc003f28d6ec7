"""A blind index finds a value written in any form equal to the one looked up: it hashes one
canonical form per type, while the column keeps what was written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.engine import Engine

from hardening import keys
from hardening.blind_index import blind_index_column
from hardening.keys import Keyring
from hardening.rotation import rotate
from hardening.types import (
    EncryptedDate,
    EncryptedDateTime,
    EncryptedFloat,
    EncryptedInteger,
    EncryptedJSON,
    EncryptedNumeric,
    EncryptedText,
    EncryptedTime,
)
from tests.crypto.models import ring

PLUS_2 = dt.timezone(dt.timedelta(hours=2))
MINUS_5 = dt.timezone(dt.timedelta(hours=-5))

# (type, what is written, an equal value written another way)
EQUAL = {
    "JSON key order": (
        EncryptedJSON,
        {"b": 2, "a": [1, {"y": 0, "x": None}]},
        {"a": [1, {"x": None, "y": 0}], "b": 2},
    ),
    "JSON 1.0 and 1": (EncryptedJSON, {"n": 1.0}, {"n": 1}),
    "Decimal 1.10 and 1.1": (EncryptedNumeric, Decimal("1.10"), Decimal("1.1")),
    "Decimal 1E+2 and 100": (EncryptedNumeric, Decimal("1E+2"), Decimal("100.000")),
    "Decimal -0.00 and 0": (EncryptedNumeric, Decimal("-0.00"), Decimal("0")),
    "float -0.0 and 0.0": (EncryptedFloat, -0.0, 0.0),
    "one instant, two time zones": (
        EncryptedDateTime,
        dt.datetime(2024, 5, 1, 12, 0, tzinfo=PLUS_2),
        dt.datetime(2024, 5, 1, 5, 0, tzinfo=MINUS_5),
    ),
    "one time, two offsets": (
        EncryptedTime,
        dt.time(12, 30, tzinfo=PLUS_2),
        dt.time(5, 30, tzinfo=MINUS_5),
    ),
}

# (type, what is written, a value that is not equal: in JSON, true is not 1)
UNEQUAL = {
    "JSON true and 1": (EncryptedJSON, {"n": True}, {"n": 1}),
    "JSON '1' and 1": (EncryptedJSON, ["1"], [1]),
    "Decimal 1.1 and 1.11": (EncryptedNumeric, Decimal("1.1"), Decimal("1.11")),
    "naive and aware": (
        EncryptedDateTime,
        dt.datetime(2024, 5, 1, 10, 0),
        dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC),
    ),
    "times a day apart in UTC": (
        EncryptedTime,
        dt.time(1, 30, tzinfo=PLUS_2),
        dt.time(23, 30, tzinfo=dt.UTC),
    ),
    "text case": (EncryptedText, "Ann@Example.org", "ann@example.org"),
}


def indexed(engine: Engine, type_: Any, value: Any) -> Table:
    table = Table(
        "things",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("v", type_()),
        blind_index_column("v", "v_bidx"),
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, v=value))
    return table


def found(engine: Engine, table: Table, value: Any) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(table.c.id).where(table.c.v.blind_eq(value))).scalars())


@pytest.mark.parametrize(("type_", "written", "looked_up"), EQUAL.values(), ids=EQUAL.keys())
def test_a_lookup_finds_an_equal_value_written_another_way(
    engine: Engine, type_: Any, written: Any, looked_up: Any
) -> None:
    assert written == looked_up
    table = indexed(engine, type_, written)
    assert found(engine, table, looked_up) == [1]
    with engine.connect() as conn:  # the column keeps what was written
        back = conn.execute(select(table.c.v)).scalar_one()
    assert str(back) == str(written)


@pytest.mark.parametrize(("type_", "written", "looked_up"), UNEQUAL.values(), ids=UNEQUAL.keys())
def test_a_lookup_does_not_find_a_value_that_is_not_equal(
    engine: Engine, type_: Any, written: Any, looked_up: Any
) -> None:
    table = indexed(engine, type_, written)
    assert found(engine, table, looked_up) == []
    assert found(engine, table, written) == [1]


def test_rotation_with_the_columns_type_keeps_the_canonical_form(
    engine: Engine, k1: Keyring
) -> None:
    table = indexed(engine, EncryptedNumeric, Decimal("2.50"))
    k2 = ring("k2")
    keys.configure_keys(Keyring([*k2.keys, *k1.keys]))
    report = rotate(
        engine, "things", "v", blind_index_column="v_bidx", column_type=EncryptedNumeric
    )
    assert (report.rotated, report.remaining) == (1, 0)
    keys.configure_keys(k2)  # k1 removed: the index was moved
    assert found(engine, table, Decimal("2.5")) == [1]


# (type, a value): the forms a value can be stored in, which the index must not see
STORED_FORMS = {
    "text": (EncryptedText, "ann@example.org", {"padding": 64}),
    "JSON": (EncryptedJSON, {"b": 2, "a": 1}, {"padding": "padme"}),
    "Decimal": (EncryptedNumeric, Decimal("1.10"), {"padding": 32}),
    "integer (fixed width)": (EncryptedInteger, 12345, {"bind_row": True}),
    "date (fixed width)": (EncryptedDate, dt.date(2024, 5, 1), {"bind_row": True}),
}


@pytest.mark.parametrize(("type_", "value", "options"), STORED_FORMS.values(), ids=STORED_FORMS)
def test_the_index_hashes_the_value_not_its_stored_form(
    type_: Any, value: Any, options: dict[str, Any]
) -> None:
    """Padding, the fixed-width forms and row binding change what is encrypted, never the
    index: a column's values index alike in every value format, under the same key."""
    both = ring("k2", "k1")
    plain = type_(context="things.v", keys=both)
    formed = type_(context="things.v", keys=both, **options)
    assert formed.blind_hash(value) == plain.blind_hash(value)
    assert formed.blind_hashes(value) == plain.blind_hashes(value)
    canonical = plain.index_bytes(value)
    assert plain.blind_hash(value) == plain.cipher.index_keys().entry(canonical)
