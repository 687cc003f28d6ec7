"""What a kit step is: one declaration from which its Alembic revision, the settings it reads,
what it puts in effect and its line of the revision table in docs/migrations.md all derive.

Declarations are data and import nothing of Alembic: ``hardening verify`` and ``hardening
passwd`` name steps without loading it. The code a step runs (its *body*) lives in
``hardening/steps/<body>.py`` and is imported when the revision runs.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, cast

BRANCH = "hardening"  # the kit's branch label: `alembic upgrade hardening@head` in your project


class _Body(Protocol):
    """A module ``hardening.steps.<body>``: the step's upgrade and downgrade, each given the
    revision id, which the building blocks of ``hardening.ops`` record their changes under."""

    def upgrade(self, step: str) -> None: ...

    def downgrade(self, step: str) -> None: ...


@dataclass(frozen=True)
class Step:
    """One kit step, declared once in ``hardening.steps.STEPS``.

    Args:
        id: the Alembic revision id, ``hNNN_<name>``; never changes once released.
        title: one line: the revision's docstring (``alembic history`` shows it).
        changes: what the upgrade changes, for the revision table (Markdown).
        needs: the privileges it needs, for the revision table (Markdown).
        reads: the kit settings (``hardening.settings``) whose values it applies.
        in_effect: for the settings whose effect the database shows, a read-only query
            telling whether the applied step left ``:value`` (the ``-x`` value, normalised as the
            step reads it): true, false or NULL (cannot tell). ``:step`` is this step's id.
            ``hardening.migrate.settings_without_effect`` runs them after an upgrade.
        body: the module ``hardening.steps.<body>`` with ``upgrade(step)`` and
            ``downgrade(step)``; None for a step that changes nothing.
        branch_labels: Alembic branch labels (the first step's: ``("hardening",)``).
        down_revision: set from the order of ``STEPS``; never declared.

    The SQL it installs lives in ``sql/migrations/<id>/``, frozen once released: its body runs
    it with ``ops.run_sql(f"{step}/<file>.sql")``.

    Example::

        Step(
            "h010_auto_explain",
            "pg-hardening: auto_explain logs no parameter values.",
            changes="`auto_explain.log_parameter_max_length = 0` for the database",
            needs="database owner with SET on it",
            body="auto_explain",
        )
    """

    id: str
    title: str
    changes: str
    needs: str
    reads: tuple[str, ...] = ()
    in_effect: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    branch_labels: tuple[str, ...] | None = None
    down_revision: str | None = None

    @property
    def name(self) -> str:
        """The id without its number: ``h003_password_policy`` -> ``password_policy``."""
        return self.id.partition("_")[2]

    def upgrade(self) -> None:
        """Run the step's upgrade (the revision's ``upgrade``)."""
        if self.body is not None:
            self._body().upgrade(self.id)

    def downgrade(self) -> None:
        """Run the step's downgrade (the revision's ``downgrade``)."""
        if self.body is not None:
            self._body().downgrade(self.id)

    def _body(self) -> _Body:
        return cast(_Body, importlib.import_module(f"hardening.steps.{self.body}"))


def chain(*steps: Step) -> tuple[Step, ...]:
    """``steps`` in order, each revising the one before it (its ``down_revision``).

    Args:
        steps: the steps, oldest first.

    Example::

        STEPS = chain(Step("h000_base", ...), Step("h001_state", ...))
        STEPS[1].down_revision  # 'h000_base'
    """
    return tuple(
        dataclasses.replace(step, down_revision=steps[i - 1].id if i else None)
        for i, step in enumerate(steps)
    )
