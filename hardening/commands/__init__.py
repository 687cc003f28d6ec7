"""Subcommands of the ``hardening`` command: one module each, each with ``register(subparsers)``.

A module here is found by ``hardening.cli`` on its own; adding a command means adding a module
with two functions:

- ``register(sub)`` adds the command's parser to ``sub``, the subparsers action of the
  ``hardening`` parser, and sets the parser's default ``func`` to ``run``;
- ``run(args)`` does the work for the parsed ``argparse.Namespace`` and returns the exit
  status: 0 done, 1 when the command's check found something (a control failed, rows remain),
  2 when it could not run. What it raises, ``hardening.cli.main`` prints as one line (exit 2).

Example (a command ``hello``, in ``hardening/commands/hello.py``)::

    def register(sub: Any) -> None:
        parser = sub.add_parser("hello", help="greet")
        parser.add_argument("--name", default="world")
        parser.set_defaults(func=run)

    def run(args: argparse.Namespace) -> int:
        print(f"hello, {args.name}")
        return 0
"""
