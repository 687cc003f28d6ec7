"""customers, with a serial id (inserting needs USAGE on its sequence), and invoice numbers.

Revision ID: s001_customers
Revises:
Create Date: 2026-12-01
"""

from alembic import op

revision = "s001_customers"
down_revision = None
branch_labels = ("shop",)
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL)")
    op.execute("CREATE SEQUENCE invoice_numbers")


def downgrade() -> None:
    op.execute("DROP SEQUENCE invoice_numbers")
    op.execute("DROP TABLE customers")
