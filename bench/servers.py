"""The options every suite of ``python -m bench`` takes to find its PostgreSQL servers."""

from __future__ import annotations

import argparse
import os

__all__ = ["add_server_arguments"]


def add_server_arguments(parser: argparse.ArgumentParser, versions: bool = True) -> None:
    """Add ``--backend`` (docker, local or url), ``--url`` (default ``HARDENING_PG_URL``) and,
    unless ``versions`` is False, ``--versions`` (comma-separated majors, default 15,17).

    Args:
        parser: a suite's parser.
        versions: add ``--versions`` (a suite with versions of its own passes False).

    Example::

        parser = argparse.ArgumentParser(prog="python -m bench verify-scale")
        add_server_arguments(parser)
        parser.parse_args(["--versions", "17"]).versions    # '17'
    """
    parser.add_argument("--backend", default="docker", choices=("docker", "local", "url"))
    if versions:
        parser.add_argument("--versions", default="15,17", help="comma-separated major versions")
    parser.add_argument("--url", default=os.environ.get("HARDENING_PG_URL"))
