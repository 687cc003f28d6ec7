"""Read the SQL a DBA reviews: files under the top-level ``sql/`` folder (shipped as
``hardening.sql``), never SQL strings scattered through Python."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load(relative: str) -> str:
    """The text of ``sql/<relative>``, read once and cached.

    Args:
        relative: the file's path under ``sql/``, with ``/`` separators, e.g.
            ``"checks/pgaudit_preloaded.sql"``.

    Returns:
        The file's text (UTF-8).

    Raises:
        FileNotFoundError: the kit ships no such file.

    Example::

        query = load("checks/pgaudit_preloaded.sql")   # the query of verify's control
    """
    path = resources.files("hardening.sql").joinpath(*relative.split("/"))
    if not path.is_file():
        raise FileNotFoundError(f"pg-hardening ships no SQL file sql/{relative}")
    return path.read_text(encoding="utf-8")
