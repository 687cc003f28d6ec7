"""One error root: every exception class the kit defines derives from HardeningError (warnings
from HardeningWarning), and the command line recognises the kit's errors by that root."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from types import ModuleType

import pytest

import hardening
from hardening import cli, errors
from hardening.errors import HardeningError, HardeningWarning


def _kit_modules() -> list[ModuleType]:
    modules = [hardening]
    for info in pkgutil.walk_packages(hardening.__path__, "hardening."):
        modules.append(importlib.import_module(info.name))
    return modules


def _defined_exceptions() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in _kit_modules():
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__.startswith("hardening"):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def test_the_walk_finds_the_kit_s_exception_classes() -> None:
    names = {cls.__name__ for cls in _defined_exceptions()}
    assert {"StepError", "DecryptionError", "PepperWarning", "VerifyError"} <= names
    assert len(names) >= 20


def test_every_exception_class_of_the_kit_is_under_the_root() -> None:
    outside = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _defined_exceptions()
        if not issubclass(cls, HardeningError | HardeningWarning)
    ]
    assert outside == []


def test_encryption_errors_are_not_wrapped_by_sqlalchemy() -> None:
    from sqlalchemy.exc import DontWrapMixin

    assert issubclass(errors.EncryptionError, DontWrapMixin)
    assert issubclass(errors.EnvelopeError, errors.EncryptionError)
    assert issubclass(errors.RotationStopped, errors.RewriteError)
    assert issubclass(errors.EncryptColumnError, errors.RewriteError)


def test_step_errors_are_alembic_command_errors() -> None:
    """Alembic's command line prints a CommandError as one FAILED: line (the kit as a branch
    of an application's history, whose env.py does not catch the kit's errors)."""
    from alembic.util import CommandError

    assert issubclass(errors.StepError, CommandError)
    assert issubclass(errors.StepError, errors.MigrationError)


def test_importing_the_errors_or_the_passwd_command_does_not_import_alembic() -> None:
    code = (
        "import sys, hardening.errors, hardening.commands.passwd, hardening.passwords; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "exc",
    [errors.SettingsError("setting x is bad"), errors.DecryptionError("t.c", "k1", "tampered")],
)
def test_the_cli_shows_any_kit_error_as_its_message(exc: HardeningError) -> None:
    assert cli.user_message(exc) == str(exc)


def test_the_cli_keeps_the_traceback_of_a_bug() -> None:
    assert cli.user_message(ValueError("a bug")) is None
