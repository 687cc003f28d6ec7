"""The kit's steps are declared once (hardening.steps.STEPS), and everything that names them
agrees with the declarations: revision files, their order and branch label, the bodies, the
settings they read, and the SQL each revision installs (frozen once released)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from hardening import migrate, ops, settings, steps
from hardening.steps import state

ROOT = Path(__file__).resolve().parent.parent.parent
VERSIONS = ROOT / "migrations" / "versions"
SQL = ROOT / "sql" / "migrations"
MANIFEST = SQL / "SHA256SUMS"


def test_the_revision_files_are_the_steps_in_order_on_the_hardening_branch() -> None:
    assert sorted(p.name for p in VERSIONS.glob("*.py") if p.name != "__init__.py") == sorted(
        f"{step.id}.py" for step in steps.STEPS
    )
    script = ScriptDirectory.from_config(migrate.config())
    walked = [rev for rev in reversed(list(script.walk_revisions()))]
    assert [rev.revision for rev in walked] == [step.id for step in steps.STEPS]
    for rev, step in zip(walked, steps.STEPS, strict=True):
        assert rev.down_revision == step.down_revision
        assert rev.module.branch_labels == step.branch_labels
        assert rev.branch_labels == {"hardening"}  # declared on the first, alembic extends it
        assert rev.module.upgrade == step.upgrade
        assert rev.module.downgrade == step.downgrade
        assert rev.doc == step.title
    assert [rev.module.branch_labels for rev in walked] == [("hardening",)] + [None] * (
        len(walked) - 1
    )


def test_ids_are_numbered_in_order_and_names_are_unique() -> None:
    numbers = [int(re.fullmatch(r"h(\d{3})_[a-z0-9_]+", s.id)[1]) for s in steps.STEPS]  # type: ignore[index]
    assert numbers == list(range(len(steps.STEPS)))
    assert len({s.name for s in steps.STEPS}) == len(steps.STEPS)
    assert steps.named("password_policy") is steps.get("h003_password_policy")


@pytest.mark.parametrize("step", [s for s in steps.STEPS if s.body], ids=lambda s: s.id)
def test_each_body_is_a_module_with_upgrade_and_downgrade(step: steps.Step) -> None:
    body = step._body()
    assert callable(body.upgrade)
    assert callable(body.downgrade)
    assert Path(body.__file__ or "").parent == ROOT / "hardening" / "steps"  # type: ignore[attr-defined]


def test_every_setting_but_the_secrets_is_read_by_exactly_one_step() -> None:
    reads = [name for step in steps.STEPS for name in step.reads]
    assert len(reads) == len(set(reads))
    assert set(reads) == {s.name for s in settings.registry().values() if not s.env_only}


def test_what_a_step_puts_in_effect_is_what_migrate_compares() -> None:
    for step in steps.STEPS:
        assert set(step.in_effect) <= set(step.reads)
        assert all(":value" in query for query in step.in_effect.values())
        for name in step.in_effect:
            assert migrate.READ_BY[name] == step.id
            assert migrate.IN_EFFECT[name] == step.in_effect[name]
    # the server profile is checked at head by check_server_profile, not compared
    assert not set(steps.named("server_profile").reads) & set(migrate.READ_BY)


def test_naming_steps_loads_no_alembic_and_hardening_settings_names_them() -> None:
    code = (
        "import sys, hardening.steps, hardening.verify.controls, hardening.commands.settings; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    listed = subprocess.run(
        [sys.executable, "-m", "hardening.cli", "settings"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "password_min_length  (HARDENING_PASSWORD_MIN_LENGTH, default '14'; read by step " in (
        listed
    )
    assert "read by step h003_password_policy)" in listed
    assert "keys  (HARDENING_KEYS only, never -x, default '')" in listed


# --- the SQL a revision installs is frozen ------------------------------------------------------


def frozen_sql_problems(folder: Path) -> list[str]:
    """Each way ``folder`` (sql/migrations) differs from its manifest SHA256SUMS, as a message
    that says what to do."""
    lines = (folder / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    listed = {name: digest for digest, name in (line.split("  ", 1) for line in lines)}
    ids = {step.id for step in steps.STEPS}
    problems = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS"):
        name = path.relative_to(folder).as_posix()
        revision = name.partition("/")[0]
        if revision not in ids:
            problems.append(
                f"sql/migrations/{name} belongs to no step: put it in its step's folder"
            )
        elif name not in listed:
            problems.append(
                f"sql/migrations/{name} is not frozen: once revision {revision} is released, its "
                f"SQL never changes; add its line to sql/migrations/SHA256SUMS (cd sql/migrations "
                f"&& sha256sum {name} >> SHA256SUMS)"
            )
        elif hashlib.sha256(path.read_bytes()).hexdigest() != listed.pop(name):
            problems.append(
                f"sql/migrations/{name} changed, but revision {revision} is released: every "
                "database past it holds this SQL, and alembic never runs it again. Put the file "
                "back and add a new revision that replaces what you fix (ops.replace_function, "
                "see docs/migrations.md, Adding a step); a revision not released yet may update "
                "its line in SHA256SUMS instead"
            )
    problems += [f"sql/migrations/{name} is frozen but missing: put it back" for name in listed]
    return problems


def test_the_sql_of_released_revisions_is_frozen() -> None:
    assert frozen_sql_problems(SQL) == []


def test_editing_a_frozen_file_is_refused_with_what_to_do_instead(tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    for path in SQL.rglob("*"):
        if path.is_file():
            (copy / path.relative_to(SQL)).parent.mkdir(parents=True, exist_ok=True)
            (copy / path.relative_to(SQL)).write_bytes(path.read_bytes())
    grant = copy / "h001_state" / "grant_privilege.sql"
    grant.write_text(grant.read_text().replace("GRANT unless", "GRANT, unless"))
    (copy / "h009_stray").mkdir()
    (copy / "h009_stray" / "fix.sql").write_text("SELECT 1;\n")
    (copy / "h003_password_policy" / "drop_tables.sql").unlink()
    problems = frozen_sql_problems(copy)
    assert len(problems) == 3, problems
    assert any(
        "h001_state/grant_privilege.sql changed, but revision h001_state is released" in p
        and "add a new revision that replaces what you fix (ops.replace_function" in p
        for p in problems
    )
    assert "sql/migrations/h009_stray/fix.sql belongs to no step" in problems[1]
    assert any("h003_password_policy/drop_tables.sql is frozen but missing" in p for p in problems)


def test_the_state_step_runs_every_file_of_its_folder_once() -> None:
    folder = {p.name for p in (SQL / "h001_state").iterdir()}
    assert sorted([*state.UPGRADE, state.DOWNGRADE]) == sorted(folder)


def test_each_function_of_h001_is_a_file_the_kit_lists_and_a_later_revision_can_name() -> None:
    """kit_functions() (the REVOKE and the downgrade read it) names every function file, and
    each file defines one function with its body in dollar quotes (ops.replace_function)."""
    listed = re.findall(
        r"'hardening\.(\w+)\(", (SQL / "h001_state" / "kit_functions.sql").read_text()
    )
    files = [
        name
        for name in state.UPGRADE
        if "CREATE FUNCTION" in (SQL / "h001_state" / name).read_text()
    ]
    assert sorted(listed) == sorted(name.removesuffix(".sql") for name in files)
    for name in files:
        definition, body = ops._function_definition(f"h001_state/{name}")
        assert definition.startswith(("CREATE OR REPLACE FUNCTION", "--"))
        assert f"FUNCTION hardening.{name.removesuffix('.sql')}(" in definition
        assert body.strip()
