"""Subcommands of the ``hardening`` command: one module each, each with ``register(subparsers)``.

A module here is found by ``hardening.cli`` on its own; adding a command means adding a module.
"""
