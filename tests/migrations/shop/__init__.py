"""An application with its own Alembic history (``versions/``: customers, orders, a view and a
sequence), for the tests of adopting the kit into an application that exists already. Its
environment is the example application's (``examples/app/migrations/env.py``: an env.py that
runs the kit as a branch); ``tests/migrations/test_adoption.py`` writes its alembic.ini, first
without the kit's versions, then with them, as a team adopting the kit edits theirs."""
