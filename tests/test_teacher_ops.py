"""One save operation for teachers: the CLI, the app's Setup controller and the demo write
the same row for the same teacher, `enabled` included, and refuse the same bad configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import make_project

from twt_backend.cli import main
from twt_backend.config import TeacherConfig
from twt_backend.errors import UsageError
from twt_backend.ops import teachers as ops
from twt_backend.store import Project
from twt_gui.pages.setup_ctl import SetupController

FLAGS = ["--provider", "openai", "--model", "gpt-x", "--base-url", "http://127.0.0.1:9/v1",
         "--api-key-env", "MY_KEY", "--concurrency", "3", "--temperature", "0.5"]  # fmt: skip
CONFIG = TeacherConfig(
    name="gpt",
    provider="openai",
    model="gpt-x",
    base_url="http://127.0.0.1:9/v1",
    api_key_env="MY_KEY",
    concurrency=3,
    temperature=0.5,
)


def _row(project: Project) -> dict[str, Any]:
    rows = project.rows("SELECT * FROM teachers")
    assert len(rows) == 1
    return {k: v for k, v in rows[0].items() if k != "created_at"}


def _cli(root: Path, *argv: str) -> int:
    return main(["teacher", "add", str(root), "gpt", *FLAGS, *argv])


def test_cli_and_app_write_the_same_row(tmp_path: Path, capsys) -> None:
    cli, app = make_project(tmp_path / "cli"), make_project(tmp_path / "app")
    assert _cli(cli.root) == 0
    SetupController(app).save_teacher(CONFIG)
    assert _row(cli) == _row(app)
    assert _row(cli)["enabled"] == 1


def test_readding_a_disabled_teacher_writes_the_same_row_everywhere(tmp_path: Path, capsys) -> None:
    """The app disables a teacher; saving it again from the CLI (--replace) or from the app
    gives one row: what the save says, not what the row held before."""
    cli, app = make_project(tmp_path / "cli"), make_project(tmp_path / "app")
    for project in (cli, app):
        SetupController(project).save_teacher(CONFIG, enabled=False)
        assert _row(project)["enabled"] == 0
    assert _cli(cli.root, "--replace") == 0
    SetupController(app).save_teacher(CONFIG)
    assert _row(cli) == _row(app)
    assert _row(cli)["enabled"] == 1


def test_the_demo_adds_through_the_same_operation(tmp_path: Path) -> None:
    from twt_backend.demo import configure_demo, demo_teachers

    demo, app = make_project(tmp_path / "demo"), make_project(tmp_path / "app")
    configure_demo(demo)
    for config, enabled in demo_teachers(demo.task):
        SetupController(app).save_teacher(config, enabled=enabled)
    strip = ("created_at",)
    rows = [[{k: v for k, v in r.items() if k not in strip} for r in p.rows(
        "SELECT * FROM teachers ORDER BY id")] for p in (demo, app)]  # fmt: skip
    assert rows[0] == rows[1] and rows[0]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--temperature", "nan"], "temperature"),
        (["--api-key-env", "sk-abcdefghijklmnopqrstuvwxyz0123456789"], "api_key_env"),
    ],
)
def test_bad_configs_are_refused_by_both_and_nothing_is_written(
    tmp_path: Path, capsys, flags: list[str], message: str
) -> None:
    project = make_project(tmp_path / "p")
    assert main(["teacher", "add", str(project.root), "gpt", *FLAGS[:4], *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "sk-abc" not in err
    bad = {"temperature": float("nan")} if message == "temperature" else {"api_key_env": flags[1]}
    config = TeacherConfig(name="gpt", provider="openai", model="gpt-x")
    for field, value in bad.items():
        object.__setattr__(config, field, value)
    with pytest.raises(UsageError, match=message):
        SetupController(project).save_teacher(config)
    assert project.rows("SELECT * FROM teachers") == []


def test_enable_disable_and_delete(project: Project) -> None:
    ops.save_teacher(project, CONFIG)
    ops.set_enabled(project, "gpt", False)
    assert ops.teacher_summaries(project)[0]["enabled"] == 0
    with pytest.raises(UsageError, match="no teacher named 'nope'"):
        ops.set_enabled(project, "nope", True)
    with pytest.raises(UsageError, match="exists; use --replace"):
        ops.save_teacher(project, CONFIG, replace=False)
    ops.delete_teacher(project, "gpt")
    assert ops.teacher_summaries(project) == []
