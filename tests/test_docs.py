"""The README stays a front door, the docs' links lead somewhere, and the public API says
how to call it.

README.md is what a newcomer reads to decide and start: short, opening with the two commands
that set everything up, linking to docs/ for the reference. A relative link that points at
nothing (a file moved, a doc renamed) fails here rather than in a reader's browser. Public
functions and classes document every parameter and give an example, the way alembic's
operations do (``Args:`` and ``Example::`` sections of the docstring).
"""

from __future__ import annotations

import enum
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import hardening.steps
import hardening.verify
import hardening.verify.controls
from hardening.cli import command_module, command_names

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 150

# [text](target) and ![alt](target), and reference definitions `[label]: target`.
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)  # https:, mailto:, //host


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code spans (code is not a link)."""
    kept, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(kept)


def relative_links(text: str) -> list[str]:
    """Every link target in the Markdown ``text`` that is a path in this repository (no URL,
    no bare ``#anchor``), without its ``#fragment``."""
    text = prose(text)
    targets = INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)
    return [
        target.split("#", 1)[0]
        for target in targets
        if not EXTERNAL.match(target) and not target.startswith("#")
    ]


def links_of(doc: Path) -> list[str]:
    return relative_links(doc.read_text(encoding="utf-8"))


def test_the_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines: keep it a front door (at most {MAX_README_LINES}) "
        "and move reference into docs/"
    )


def test_the_readme_opens_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    fence = next(i for i, line in enumerate(lines) if line.startswith("```"))
    before = lines[:fence]
    assert fence < 10, "the two commands come first, before any long introduction"
    assert not any(line.startswith("## ") for line in before), "the commands precede sections"
    end = next(i for i in range(fence + 1, len(lines)) if lines[i].startswith("```"))
    commands = [line.split("#", 1)[0].strip() for line in lines[fence + 1 : end]]
    assert commands == ["make demo", "make test"]


def test_the_readme_links_every_doc() -> None:
    linked = {(README.parent / target).resolve() for target in links_of(README)}
    assert DOCS, "docs/ holds the reference"
    missing = [doc.relative_to(ROOT).as_posix() for doc in DOCS if doc.resolve() not in linked]
    assert missing == [], "link these from README.md, so a reader can find them"


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_at_a_file_of_the_repository(doc: Path) -> None:
    broken = []
    for target in links_of(doc):
        path = (doc.parent / target).resolve()
        if not path.is_relative_to(ROOT):
            broken.append(f"{target} (outside the repository)")
        elif not path.exists():
            broken.append(target)
    assert broken == [], f"{doc.relative_to(ROOT)}: links to nothing: {broken}"


def test_the_link_reader_finds_what_markdown_links_to() -> None:
    # The check above is only as good as the reader it relies on.
    text = (
        'See [the docs](docs/a.md#part), ![a figure](img/f.png "title"), [web](https://x.org),\n'
        "[mail](mailto:a@b.c), [here](#section) and `[code](not/a/link.md)`.\n"
        "```\n[in code](also/not.md)\n```\n"
        "[ref]: ../other.md\n"
    )
    assert relative_links(text) == ["docs/a.md", "img/f.png", "../other.md"]


# The modules held to it so far; the others join as they are documented.
DOCUMENTED = [
    "hardening",
    "hardening.cli",
    "hardening.commands",
    *(command_module(name) for name in command_names()),
    "hardening.passwords",
    "hardening.sqlfiles",
    "hardening.ops",
    "hardening.migrate",
    "hardening.steps",
    # every module of hardening.steps: a new step's body is held to it too
    *(f"hardening.steps.{m.name}" for m in pkgutil.iter_modules(hardening.steps.__path__)),
    "hardening.testing.image",
    "hardening.verify",
    *(f"hardening.verify.{m.name}" for m in pkgutil.iter_modules(hardening.verify.__path__)),
    *(
        f"hardening.verify.controls.{m.name}"
        for m in pkgutil.iter_modules(hardening.verify.controls.__path__)
    ),
]
EXAMPLE = re.compile(r"^Example\b[^\n]*::$", re.MULTILINE)


def public_api(module: ModuleType) -> dict[str, Callable[..., Any]]:
    """The functions and classes ``module`` defines whose names do not start with ``_``."""
    found = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj) or inspect.isfunction(inspect.unwrap(obj)):  # cached too
            found[name] = obj
    return found


def documented_parameters(doc: str) -> set[str]:
    """The names an ``Args:`` section of the (dedented) docstring describes."""
    names: set[str] = set()
    inside = False
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Attributes:"):
            inside = True
        elif inside and line and not line.startswith(" "):
            inside = False
        elif inside and (match := re.match(r"^    (\*{0,2}\w+)( \([^)]*\))?:", line)):
            names.add(match.group(1).lstrip("*"))
    return names


def gaps(obj: Callable[..., Any]) -> list[str]:
    """What the docstring of ``obj`` lacks: an example, or a parameter's description."""
    doc = inspect.getdoc(obj) or ""
    missing = [] if EXAMPLE.search(doc) else ["an Example:: section"]
    try:
        signature = inspect.signature(obj)
    except ValueError:  # a class whose constructor is built in, e.g. an exception: no parameters
        params = []
    else:
        params = [p for p in signature.parameters if p not in ("self", "cls")]
    if inspect.isclass(obj) and issubclass(obj, enum.Enum):  # its members, not its call
        params = []
    described = documented_parameters(doc)
    missing += [f"parameter {p!r} under Args:" for p in params if p not in described]
    return missing


@pytest.mark.parametrize("name", DOCUMENTED)
def test_public_functions_and_classes_document_their_parameters_with_an_example(
    name: str,
) -> None:
    module = importlib.import_module(name)
    assert module.__doc__, f"{name} has no module docstring"
    lacking = {
        f"{name}.{attr}": missing
        for attr, obj in public_api(module).items()
        if (missing := gaps(obj))
    }
    assert lacking == {}


def test_the_docstring_reader_finds_parameters_and_examples() -> None:
    def sample(conn: object, role: str, *, password: str = "") -> None:
        """Do it.

        Args:
            conn: a connection.
            role: the role,
                over two lines.

        Example::

            sample(conn, "r")
        """

    assert gaps(sample) == ["parameter 'password' under Args:"]
    assert documented_parameters(inspect.getdoc(sample) or "") == {"conn", "role"}
