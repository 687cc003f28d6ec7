"""pytest-alembic's built-in checks against the kit's migrations on real PostgreSQL."""

from pytest_alembic.tests import (
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

__all__ = ["test_single_head_revision", "test_up_down_consistency", "test_upgrade"]
