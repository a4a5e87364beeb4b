"""Every number is finite: NaN and infinities are refused with the field's name (exit 2 from
the CLI) on every way in: flags, saved settings, configs read back from a project."""

from __future__ import annotations

import dataclasses
import json
import math
import typing

import pytest
from fake_openai import add_teacher, seed_queries

from twt_backend import config as cfg
from twt_backend.cli import main
from twt_backend.errors import UsageError
from twt_backend.generation import LabelOptions
from twt_backend.settings import load_config, save_config
from twt_backend.store import Project

CONFIG_CLASSES = [
    cfg.TeacherConfig,
    cfg.SelectionConfig,
    cfg.LoraConfig,
    cfg.TrainingConfig,
    cfg.LaunchConfig,
    cfg.GenerationConfig,
    cfg.RefineConfig,
    LabelOptions,
]
BAD = [math.nan, math.inf, -math.inf]


def _float_fields(cls: type) -> list[str]:
    hints = typing.get_type_hints(cls)
    return [
        f.name
        for f in dataclasses.fields(cls)
        if float in (typing.get_args(hints[f.name]) or (hints[f.name],))
    ]


CASES = [(cls, name) for cls in CONFIG_CLASSES for name in _float_fields(cls)]


def test_every_config_class_has_float_fields_to_check() -> None:
    assert {cls for cls, _ in CASES} == set(CONFIG_CLASSES) - {cfg.RefineConfig, cfg.LaunchConfig}
    assert (cfg.TeacherConfig, "timeout_s") in CASES and (LabelOptions, "budget_usd") in CASES


@pytest.mark.parametrize(("cls", "name"), CASES, ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("bad", BAD, ids=str)
def test_non_finite_floats_are_refused_with_the_field_name(cls, name, bad) -> None:
    base = {"name": "t", "model": "m"} if cls is cfg.TeacherConfig else {}
    with pytest.raises(UsageError, match=rf"^{name}: .*finite"):
        cfg.from_dict(cls, {**base, name: bad})


@pytest.mark.parametrize("value", ["0.5", "nan", True, [1]])
def test_a_float_field_holding_something_else_is_refused(value) -> None:
    with pytest.raises(UsageError, match="^threshold: .*not a number"):
        cfg.from_dict(cfg.SelectionConfig, {"threshold": value})


def test_finite_values_still_pass() -> None:
    obj = cfg.from_dict(cfg.SelectionConfig, {"threshold": 1, "logprob_threshold": -3.5})
    assert obj.threshold == 1
    cfg.from_dict(cfg.TeacherConfig, {"name": "t", "model": "m", "temperature": 0.0})


# ---- the CLI -------------------------------------------------------------------------------------
def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "field"),
    [
        ("--temperature", "nan", "temperature"),
        ("--timeout", "nan", "timeout_s"),
        ("--timeout", "inf", "timeout_s"),
        ("--price-in", "nan", "price_in"),
        ("--price-out", "-inf", "price_out"),
    ],
)
def test_teacher_add_refuses_non_finite_flags(project, capsys, flag, value, field) -> None:
    root = str(project.root)
    argv = ["teacher", "add", root, "t", "--provider", "openai", "--model", "m", f"{flag}={value}"]
    code, err = _run(argv, capsys)
    assert code == 2 and field in err and "finite" in err, err
    assert project.scalar("SELECT COUNT(*) FROM teachers") == 0


def test_generate_budget_nan_is_refused_before_any_job(project, capsys) -> None:
    seed_queries(project, 2)
    add_teacher(project, "t", base_url="http://127.0.0.1:9/v1", price_in=1.0)
    for value in ("nan", "inf", "-inf"):
        code, err = _run(["generate", str(project.root), f"--budget={value}"], capsys)
        assert code == 2 and "budget" in err and "finite" in err, err
    assert project.scalar("SELECT COUNT(*) FROM jobs") == 0


def test_other_commands_refuse_non_finite_flags(project, capsys) -> None:
    root = str(project.root)
    seed_queries(project, 2, split="test")
    for argv, name in [
        (["select", root, "--threshold", "nan"], "threshold"),
        (["eval", root, "--stage", "0", "--temperature", "nan"], "temperature"),
        (["refine", root, "--budget", "nan"], "budget"),
        (["train", root, "--stage", "1", "--lr", "inf"], "lr"),
        (["run", root, "--lr", "nan"], "lr"),
    ]:
        code, err = _run(argv, capsys)
        assert code == 2 and name in err and "finite" in err, (argv, err)
    assert project.scalar("SELECT COUNT(*) FROM jobs") == 0


# ---- read back from a project ----------------------------------------------------------------------
def test_saved_settings_with_nan_are_refused_on_load_and_save(project) -> None:
    with pytest.raises(UsageError, match="^threshold: .*finite"):
        save_config(project, cfg.SelectionConfig(threshold=math.nan))
    with project.transaction():  # a received project, edited by hand or by an old version
        project.set_meta("config.SelectionConfig", '{"threshold": NaN}')
    with pytest.raises(UsageError, match="^threshold: .*finite"):
        load_config(project, cfg.SelectionConfig)
    code = main(["select", str(project.root)])
    assert code == 2


def _store_raw_teacher(project: Project, name: str, raw_config: str) -> None:
    with project.transaction() as conn:
        conn.execute(
            "INSERT INTO teachers(name, provider, model, config, created_at) "
            "VALUES (?, 'openai', 'm', ?, '2025-01-01')",
            (name, raw_config),
        )


def test_teacher_list_json_never_prints_invalid_json(project, capsys) -> None:
    add_teacher(project, "good", base_url="http://127.0.0.1:9/v1")
    good = json.loads(project.scalar("SELECT config FROM teachers WHERE name='good'"))
    _store_raw_teacher(project, "bad", json.dumps({**good, "name": "bad", "temperature": math.nan}))
    code, err = _run(["teacher", "list", str(project.root), "--json"], capsys)
    assert code == 2 and "teacher bad: temperature" in err and "finite" in err, err
    assert "teacher add" in err  # says how to repair it


def test_teacher_list_json_lines_are_strict_json(project, capsys) -> None:
    add_teacher(project, "a", base_url="http://127.0.0.1:9/v1", price_in=0.15)
    assert main(["teacher", "list", str(project.root), "--json"]) == 0
    for line in capsys.readouterr().out.splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_generate_refuses_a_stored_teacher_with_nan(project, capsys) -> None:
    seed_queries(project, 2)
    add_teacher(project, "ok", base_url="http://127.0.0.1:9/v1")
    good = json.loads(project.scalar("SELECT config FROM teachers"))
    _store_raw_teacher(project, "bad", json.dumps({**good, "name": "bad", "price_in": math.inf}))
    code, err = _run(["generate", str(project.root)], capsys)
    assert code == 2 and "price_in" in err and "finite" in err, err
    assert project.scalar("SELECT COUNT(*) FROM jobs") == 0
