"""SQL that would compare, group or sort ciphertext is refused: when the query is built, or
when it runs, before the server sees it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, insert, select, union_all
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from hardening.types import EncryptedComparisonError
from tests.crypto.models import Base, Person


def test_comparisons_that_cannot_work_on_ciphertext_raise_when_the_query_is_built() -> None:
    builders: list[Callable[[Any], Any]] = [
        lambda c: c == "x",
        lambda c: c != "x",
        lambda c: c.like("x%"),
        lambda c: c.ilike("x%"),
        lambda c: c.startswith("x"),
        lambda c: c.contains("x"),
        lambda c: c < "x",
        lambda c: c >= "x",
        lambda c: c.in_(["x"]),
        lambda c: c.between("a", "b"),
    ]
    for attr in (Person.ssn, Person.note):
        for build in builders:
            with pytest.raises(EncryptedComparisonError, match=r"blind_eq|application"):
                build(attr)
    assert "IS NULL" in str(select(Person).where(Person.ssn.is_(None)))
    assert "IS NOT NULL" in str(select(Person).where(Person.note != None))  # noqa: E711


@pytest.mark.filterwarnings("ignore:Passing expression to ``distinct``")  # 2.0's DISTINCT ON
def test_sql_that_would_work_on_ciphertext_is_refused_before_it_runs(engine: Engine) -> None:
    """GROUP BY (also by a name, ROLLUP), PARTITION BY, DISTINCT (ON), UNION / INTERSECT /
    EXCEPT, comparisons with another column (an alias's too) or in a tuple, count(DISTINCT ..):
    each would return wrong rows. (ORDER BY: the test below.)"""
    from sqlalchemy import except_, intersect, literal, tuple_, union
    from sqlalchemy.dialects.postgresql import distinct_on

    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Person(id=1, ssn="a", note="a"), Person(id=2, ssn="a", note="a")])
        session.commit()
        ssn = "the encrypted column 'people.ssn'"
        other = aliased(Person)  # two rows' ciphertexts: meaningless
        by_ssn = select(Person.ssn).where(Person.id == 1)
        refused: list[tuple[Any, str]] = [
            (select(Person.ssn, func.count()).group_by(Person.ssn), f"GROUP BY {ssn} would"),
            (select(func.count()).select_from(Person).group_by("ssn"), f"GROUP BY {ssn}"),
            (select(Person.note, func.count()).group_by("note"), "GROUP BY the encrypted"),
            (select(func.count()).select_from(Person).group_by(func.rollup(Person.ssn)), ssn),
            (select(func.row_number().over(partition_by=Person.ssn)), f"PARTITION BY {ssn}"),
            (select(Person.id).where(tuple_(Person.id, Person.ssn).in_([(2, "a")])), ssn),
            (select(Person.id).where(Person.ssn == Person.note), f"comparison with {ssn}"),
            (select(Person.id).join(other, Person.ssn == other.ssn), f"comparison with {ssn}"),
            (select(Person.id).join(other, Person.note != other.note), "comparison with the"),
            (select(Person.ssn).distinct(), f"SELECT DISTINCT of {ssn} without"),
            (select(Person.id, Person.ssn).distinct(Person.ssn), f"DISTINCT ON {ssn}"),
            (select(Person.id).ext(distinct_on(Person.ssn)), f"DISTINCT ON {ssn}"),
            (select(Person.ssn).distinct().subquery().select(), "SELECT DISTINCT"),
            (union(by_ssn, select(Person.ssn).where(Person.id == 2)), f"UNION of {ssn}"),
            (intersect(by_ssn, by_ssn), f"INTERSECT of {ssn}"),
            (except_(by_ssn, select(Person.ssn).where(Person.id == 2)), f"EXCEPT of {ssn}"),
        ]
        for stmt, text in refused:
            with pytest.raises(EncryptedComparisonError, match=re.escape(text)):
                session.execute(stmt).all()
        for column in (Person.ssn, Person.note):
            with pytest.raises(EncryptedComparisonError, match="'distinct'"):
                func.count(column.distinct())
        # With the primary key in the same list, a group, partition or DISTINCT row is one
        # table row, whose ciphertext is as distinct as the row (the ORM's de-duplication of
        # joined rows); a pgcrypto column is decrypted in the select list, so DISTINCT and
        # UNION see values.
        allowed: list[tuple[Any, int]] = [
            (select(Person.id, Person.ssn).distinct(), 2),
            (select(Person.id.label("i"), Person.ssn.label("s")).distinct(), 2),
            (select(Person).distinct().order_by(Person.id), 2),
            (select(Person.id, Person.ssn, func.count()).group_by(Person.id, Person.ssn), 2),
            (select(func.count()).select_from(Person).group_by(Person.ssn, Person.id), 2),
            (select(func.row_number().over(partition_by=[Person.id, Person.ssn])), 2),
            (select(Person.id, Person.ssn).ext(distinct_on(Person.id)), 2),
            (select(Person.note).distinct(), 1),
            (union(select(Person.note), select(Person.note)), 1),
            (union_all(select(Person.ssn), select(Person.ssn)), 4),
            (select(Person.id).order_by("id"), 2),
            (select(Person.id).where(Person.ssn.is_(None) | (literal(1) == 1)), 2),
        ]
        for stmt, rows in allowed:
            assert len(session.execute(stmt).all()) == rows, stmt
        # SQLAlchemy compares columns (`c in columns`) to build INSERT .. RETURNING
        made = session.scalars(insert(Person).returning(Person), [{"id": 3, "ssn": "c"}]).all()
        assert [p.ssn for p in made] == ["c"]


def test_order_by_an_encrypted_column_is_refused_wherever_it_is(engine: Engine) -> None:
    """ORDER BY sorts ciphertext, not values, in both families: ``.asc()`` / ``.desc()`` are
    refused when the query is built; a bare column, a name given as a string (in the select
    list or not), an expression of its type, and an ORDER BY in a subquery, a window, a set
    operation, a CTE or WITHIN GROUP when it runs. Sorting by anything else runs."""
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Person(id=1, ssn="b", note="b"), Person(id=2, ssn="a", note="a")])
        session.commit()
        for attr in (Person.ssn, Person.note):
            for direction in (attr.asc, attr.desc):
                with pytest.raises(EncryptedComparisonError, match="decrypt in the application"):
                    direction()
            name = attr.key
            refused: list[Any] = [
                select(Person).order_by(attr),
                select(Person.id, attr).order_by(name),
                select(Person.id).order_by(name),
                select(attr).order_by(func.coalesce(attr, None)),
                select(select(Person.id, attr).order_by(attr).limit(5).subquery().c.id),
                select(Person.id, func.row_number().over(order_by=attr)),
                union_all(select(Person.ssn), select(Person.note)).order_by(attr),
                union_all(select(attr)).order_by(name),
                select(select(Person.id).order_by(attr).limit(1).cte().c.id),
                select(func.percentile_disc(0.5).within_group(attr)),
            ]
            for stmt in refused:
                with pytest.raises(EncryptedComparisonError) as caught:
                    session.execute(stmt).all()
                assert str(caught.value) == (
                    f"ORDER BY the encrypted column 'people.{name}' would sort ciphertext, not "
                    "values; sort in the application instead"
                ), stmt
        assert session.scalars(select(Person.ssn).order_by(Person.id)).all() == ["b", "a"]
        assert session.scalars(select(Person.id).order_by("id")).all() == [1, 2]
        ranked = select(Person.id, func.row_number().over(order_by=Person.id)).order_by(Person.id)
        assert session.execute(ranked).all() == [(1, 1), (2, 2)]
