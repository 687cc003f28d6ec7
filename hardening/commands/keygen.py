"""``hardening keygen``: print a fresh ``key_id:base64(32 random bytes)`` keyring entry.

Only the entry goes to stdout, so ``export HARDENING_KEYS="$(hardening keygen --id ID),..."``
never captures anything else: a bad ``--id`` is a ``KeyConfigError``, which ``hardening.cli``
prints as one line on stderr (exit 2).
"""

from __future__ import annotations

import argparse
from typing import Any

from hardening.keys import ENV_KEYS, generate_entry


def register(sub: Any) -> None:
    """Add ``keygen [--id ID]`` to the ``hardening`` parser.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        args = hardening.cli.build_parser("keygen").parse_args(["keygen", "--id", "2024-05"])
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "keygen",
        help=f"print a new encryption key entry for {ENV_KEYS} (prepend it to rotate)",
    )
    parser.add_argument("--id", dest="key_id", default=None, help="key id (default: random)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one keyring entry, ``key_id:base64(32 random bytes)``, and nothing else.

    Args:
        args: the parsed ``keygen`` arguments; ``key_id`` is the id to give the key, or None
            for a random one.

    Returns:
        0. A malformed id raises ``KeyConfigError`` (printed by ``hardening.cli``, exit 2).

    Example::

        hardening.cli.main(["keygen", "--id", "2024-05"])   # prints 2024-05:<44 base64 chars>
    """
    print(generate_entry(args.key_id))
    return 0
