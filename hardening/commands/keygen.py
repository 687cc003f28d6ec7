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
    parser: argparse.ArgumentParser = sub.add_parser(
        "keygen",
        help=f"print a new encryption key entry for {ENV_KEYS} (prepend it to rotate)",
    )
    parser.add_argument("--id", dest="key_id", default=None, help="key id (default: random)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(generate_entry(args.key_id))
    return 0
