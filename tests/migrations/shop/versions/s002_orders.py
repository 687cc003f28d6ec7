"""orders (identity id) and a view of each customer's total.

Revision ID: s002_orders
Revises: s001_customers
Create Date: 2026-12-02
"""

from alembic import op

revision = "s002_orders"
down_revision = "s001_customers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE orders (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "customer_id int NOT NULL REFERENCES customers, total numeric(10, 2) NOT NULL)"
    )
    op.execute(
        "CREATE VIEW customer_totals AS SELECT c.name, sum(o.total) AS total "
        "FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name"
    )


def downgrade() -> None:
    op.execute("DROP VIEW customer_totals")
    op.execute("DROP TABLE orders")
