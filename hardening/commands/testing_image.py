"""``hardening testing-image build [VERSION ...]``: find or build the PostgreSQL + pgaudit image
the pytest plugin's docker backend runs, ahead of the test run (a CI step, say).

It is the image the plugin would build on first use: ``pg-hardening/postgres:{version}-{context}``
from the Dockerfile this package carries (``hardening.testing.image`` says how the base is
chosen). Only the image names go to stdout, one a line, so ``docker save $(hardening
testing-image build 15)`` works; progress goes to stderr. A version that cannot be built is a
one-line error naming what was tried (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from hardening.errors import ImageUnavailableError


def register(sub: Any) -> None:
    """Add ``testing-image build [VERSION ...] [--image TEMPLATE] [--base IMAGE]``.

    Args:
        sub: the subparsers action of the ``hardening`` parser (``add_subparsers()``).

    Example::

        args = hardening.cli.build_parser("testing-image").parse_args(
            ["testing-image", "build", "17"]
        )
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        "testing-image",
        help="build the PostgreSQL + pgaudit image of the pytest plugin's docker backend",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build", help="find or build the image of each VERSION; print the image names"
    )
    build.add_argument(
        "versions", nargs="*", metavar="VERSION", help="PostgreSQL 15 and/or 17 (default: both)"
    )
    build.add_argument(
        "--image",
        default=None,
        help="name template with {version} and {context} (default: HARDENING_PG_IMAGE, else "
        "pg-hardening/postgres:{version}-{context})",
    )
    build.add_argument(
        "--base",
        default=None,
        help="build from this image: the official postgres:VERSION (or a mirror of it), or a "
        "Debian whose archive packages PostgreSQL VERSION (default: chosen as documented)",
    )
    build.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Find or build the image of each version; print each image's name on stdout.

    Args:
        args: the parsed ``testing-image build`` arguments: ``versions`` (strings, none for
            15 and 17), ``image`` (a template with ``{version}`` and ``{context}``, or None
            for HARDENING_PG_IMAGE, else the default) and ``base`` (an image to build from,
            or None to choose as ``hardening.testing.image`` documents).

    Returns:
        0. A version that has no image, a template without ``{context}``, or an image that
        cannot be had raises ``ImageUnavailableError`` (printed by ``hardening.cli``, exit 2).

    Example::

        hardening.cli.main(["testing-image", "build", "17"])   # pg-hardening/postgres:17-…
    """
    from hardening.testing import image

    versions = args.versions or [str(v) for v in image.SUITES]
    unknown = [v for v in versions if not v.isdigit() or int(v) not in image.SUITES]
    if unknown:
        raise ImageUnavailableError(
            f"no test image for PostgreSQL {', '.join(unknown)}: choose among "
            f"{' '.join(str(v) for v in image.SUITES)}"
        )
    template = args.image or os.environ.get("HARDENING_PG_IMAGE") or image.DEFAULT_TEMPLATE
    if not image.is_kit_template(template):
        raise ImageUnavailableError(
            f"--image {template!r} has no {{context}}: the kit builds only images named by the "
            "hash of what they are built from"
        )
    builder = image.ImageBuilder.from_env(lambda line: print(line, file=sys.stderr, flush=True))
    for version in versions:
        print(builder.ensure(int(version), template, args.base), flush=True)
    return 0
