"""Every command's config flags come from the one flag builder (cli/flags.py): each field of
the dataclasses a command takes maps to its flag with the right type, choices, default and
bounds, and the parsed namespace reads back into a partial config. The expected fields are
read from `dataclasses.fields`, not from the builder: a field added to a config class
without a flag fails here."""

from __future__ import annotations

import argparse
import dataclasses
import enum
from typing import Literal

import pytest

from twt_backend import config as cfg
from twt_backend.cli import build_parser
from twt_backend.cli.flags import Flags
from twt_backend.errors import UsageError

ALL = None  # every field of the class


def _all_but(cls: type, *names: str) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)} - set(names)


# command -> base argv (required arguments) and {config class: (flag prefix, fields exposed)}
COMMANDS: dict[tuple[str, ...], tuple[list[str], dict[type, tuple[str, set[str] | None]]]] = {
    ("train",): (
        ["--stage", "1"],
        {
            cfg.TrainingConfig: ("", ALL),
            cfg.LoraConfig: ("lora-", ALL),
            cfg.LaunchConfig: ("", ALL),
        },
    ),
    ("select",): ([], {cfg.SelectionConfig: ("", ALL)}),
    ("teacher", "add"): (
        ["NAME", "--provider", "openai", "--model", "m"],
        {cfg.TeacherConfig: ("", _all_but(cfg.TeacherConfig, "name"))},  # name: positional
    ),
    ("refine",): (
        [],
        {
            cfg.RefineConfig: ("", ALL),
            cfg.TrainingConfig: ("", {"student"}),
            cfg.GenerationConfig: ("", {"max_new_tokens", "engine"}),
        },
    ),
    ("run",): (
        [],
        {
            cfg.TrainingConfig: (
                "",
                {"student", "epochs", "max_steps", "batch_size", "lr", "max_length"},
            ),
            cfg.LoraConfig: ("lora-", {"rank"}),
            cfg.GenerationConfig: ("", {"max_new_tokens", "engine"}),
            cfg.RefineConfig: ("refine-", {"method"}),
            cfg.SelectionConfig: ("", {"strategy", "threshold"}),  # a named run's own
        },
    ),
    ("eval",): (
        ["--stage", "0"],
        {
            cfg.TrainingConfig: ("", {"student"}),
            cfg.GenerationConfig: ("", {"max_new_tokens", "batch_size", "temperature", "engine"}),
        },
    ),
}
# values every parse of the command holds (its required flags)
BASE_VALUES = {("teacher", "add"): {"provider": "openai", "model": "m"}}
# hand-written flags that share a field's name on purpose
OWN_FLAGS = {
    # eval's prompt mode also takes full/compressed/answer and defaults to the stage's own
    ("eval",): {"--prompt-mode"},
}
CASES = [
    (command, cls, name)
    for command, (_, classes) in COMMANDS.items()
    for cls, (_, names) in classes.items()
    for name in sorted(names if names is not ALL else _all_but(cls))
]


@pytest.fixture(scope="module")
def parsers() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        found[path] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, (*path, name))

    walk(build_parser(), ())
    return found


def _flag(prefix: str, spec: cfg.FieldSpec) -> str:
    return "--" + (prefix + spec.flag).replace("_", "-")


def _spec(cls: type, name: str) -> cfg.FieldSpec:
    return next(s for s in cfg.field_specs(cls) if s.name == name)


def _action(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    matches = [a for a in parser._actions if flag in a.option_strings]
    assert matches, f"{parser.prog}: no flag {flag}"
    return matches[0]


def _flag_set(parser: argparse.ArgumentParser, cls: type, name: str) -> Flags:
    sets = [f for f in getattr(parser, "config_flags", []) if f.cls is cls]
    found = [f for f in sets if any(s.name == name for s in f.specs())]
    assert len(found) == 1, f"{parser.prog}: {cls.__name__}.{name} is not built by cli/flags.py"
    return found[0]


def _valid_text(spec: cfg.FieldSpec) -> str:
    """A value of the field that differs from its default and lies within its bounds."""
    if spec.choices:
        return str(next(c for c in reversed(spec.choices) if c != spec.default))
    if spec.kind is int:
        low = int(spec.min) if spec.min is not None else 0
        value = max(low, (spec.default or 0) + 1)
        return str(min(value, int(spec.max)) if spec.max is not None else value)
    if spec.kind is float:
        high = spec.max if spec.max is not None else 10.0
        low = spec.min if spec.min is not None else 0.0
        return repr((low + high) / 2)
    return "some-text"


def _id(value: object) -> str:
    return " ".join(value) if isinstance(value, tuple) else getattr(value, "__name__", str(value))


@pytest.mark.parametrize(("command", "cls", "name"), CASES, ids=_id)
def test_each_field_maps_to_its_flag(parsers, command, cls, name) -> None:
    parser = parsers[command]
    prefix, _ = COMMANDS[command][1][cls]
    spec = _spec(cls, name)
    flags = _flag_set(parser, cls, name)
    flag = _flag(prefix, spec)
    assert flags.flag(spec) == flag
    action = _action(parser, flag)
    assert action.dest == flags.dest(spec)
    assert action.default is None  # unset: the project's setting or the dataclass default
    assert spec.help.split(" (")[0][:30] in (action.help or "") or name in flags.helps
    if spec.kind is bool:
        assert isinstance(action, argparse.BooleanOptionalAction)
        assert f"--no-{flag[2:]}" in action.option_strings
        return
    if spec.choices:
        assert tuple(action.choices) == spec.choices
    else:
        assert action.choices is None

    text = _valid_text(spec)
    args = parser.parse_args(["DIR", *COMMANDS[command][0], flag, text])
    value = getattr(args, action.dest)
    assert type(value) is spec.kind and str(value) == text
    assert flags.values(args) == {**BASE_VALUES.get(command, {}), name: value}


@pytest.mark.parametrize("command", COMMANDS, ids=_id)
def test_no_flag_given_reads_back_as_an_empty_partial_config(parsers, command) -> None:
    parser = parsers[command]
    args = parser.parse_args(["DIR", *COMMANDS[command][0]])
    values: dict[str, object] = {}
    for flags in parser.config_flags:
        values.update(flags.values(args))
    assert values == BASE_VALUES.get(command, {})


@pytest.mark.parametrize("command", COMMANDS, ids=_id)
def test_config_flags_are_exactly_the_exposed_fields(parsers, command) -> None:
    """No extra field slips in unexpected, and no hand-written flag shadows a field's."""
    parser = parsers[command]
    expected = {
        (cls, name)
        for cls, (_, names) in COMMANDS[command][1].items()
        for name in (names if names is not ALL else _all_but(cls))
    }
    built = {(f.cls, s.name) for f in parser.config_flags for s in f.specs()}
    assert built == expected
    config_options = {
        option
        for f in parser.config_flags
        for s in f.specs()
        for option in _action(parser, f.flag(s)).option_strings
    }
    for action in parser._actions:
        hand_written = not set(action.option_strings) & config_options
        if set(action.option_strings) & OWN_FLAGS.get(command, set()):
            continue
        for cls, (prefix, _) in COMMANDS[command][1].items():
            for spec in cfg.field_specs(cls):
                if hand_written:
                    assert _flag(prefix, spec) not in action.option_strings, (
                        f"{parser.prog}: {action.option_strings} is written by hand"
                    )


def test_the_exposure_check_catches_a_field_without_a_flag(parsers) -> None:
    """What the test above sees when a class gains a field the command does not take."""

    @dataclasses.dataclass
    class Grown(cfg.SelectionConfig):
        new_knob: int = 3

    parser = parsers[("select",)]
    names = {s.name for f in parser.config_flags for s in f.specs()}
    assert {f.name for f in dataclasses.fields(Grown)} - names == {"new_knob"}


BOUNDED = [
    (command, cls, spec.name)
    for command, (_, classes) in COMMANDS.items()
    for cls, (_, names) in classes.items()
    for spec in cfg.field_specs(cls)
    if spec.min is not None and spec.kind in (int, float) and (names is ALL or spec.name in names)
]


@pytest.mark.parametrize(("command", "cls", "name"), BOUNDED, ids=_id)
def test_numbers_outside_the_bounds_are_refused_naming_the_flag(
    parsers, command, cls, name
) -> None:
    parser = parsers[command]
    prefix, _ = COMMANDS[command][1][cls]
    spec = _spec(cls, name)
    flag = _flag(prefix, spec)
    bad = [spec.min - 1, "x"] + ([spec.max + 1] if spec.max is not None else [])
    bad += ["nan", "inf"] if spec.kind is float else ["1.5"]
    for value in bad:
        text = str(int(value) if spec.kind is int and not isinstance(value, str) else value)
        with pytest.raises(UsageError, match=f"argument {flag}"):
            parser.parse_args(["DIR", *COMMANDS[command][0], flag, text])
    within = str(spec.min if spec.kind is float else int(spec.min))
    args = parser.parse_args(["DIR", *COMMANDS[command][0], flag, within])
    assert _flag_set(parser, cls, name).values(args)[name] == spec.min


def test_flags_refuse_unknown_field_names() -> None:
    with pytest.raises(TypeError, match="no field"):
        Flags(cfg.GenerationConfig, only=("max_new_token",))


def test_help_says_what_an_unset_flag_means(parsers) -> None:
    epochs = _action(parsers[("train",)], "--epochs").help or ""
    assert "the project's setting" in epochs and "4.0" in epochs and "at least 0" in epochs
    timeout = _action(parsers[("teacher", "add")], "--timeout").help or ""
    assert "project" not in timeout and "(default: 120.0)" in timeout


# ---- the values reach the job config ---------------------------------------------------------
def _argv_for(flags: Flags, spec: cfg.FieldSpec) -> list[str]:
    flag = flags.flag(spec)
    if spec.kind is bool:
        return [flag if not spec.default else f"--no-{flag[2:]}"]
    return [flag, _valid_text(spec)]


def _expected(spec: cfg.FieldSpec, argv: list[str]) -> object:
    return (not spec.default) if spec.kind is bool else spec.kind(argv[1])


def test_every_train_flag_reaches_the_config_sections(parsers) -> None:
    from twt_backend.cli.train_cmds import config_from_args

    parser = parsers[("train",)]
    sections = {cfg.TrainingConfig: "training", cfg.LoraConfig: "lora", cfg.LaunchConfig: "launch"}
    for flags in parser.config_flags:
        for spec in flags.specs():
            argv = _argv_for(flags, spec)
            config = config_from_args(parser.parse_args(["DIR", "--stage", "1", *argv]))
            assert config[sections[flags.cls]] == {spec.name: _expected(spec, argv)}, argv


def test_every_run_flag_reaches_the_pipeline_options(parsers) -> None:
    from twt_backend.cli import pipeline_cmds

    # the flags -> pipeline options function (named pipeline_options on the ops branch)
    pipeline_config = (
        getattr(pipeline_cmds, "pipeline_options", None) or pipeline_cmds.pipeline_config
    )
    parser = parsers[("run",)]
    sections = {
        cfg.TrainingConfig: "training",
        cfg.LoraConfig: "lora",
        cfg.GenerationConfig: "generation",
        cfg.RefineConfig: "refine",
    }
    for flags in parser.config_flags:
        if flags.cls is cfg.SelectionConfig:
            continue  # only with --name (a named run's selection; tests/test_runs.py)
        for spec in flags.specs():
            argv = _argv_for(flags, spec)
            config = pipeline_config(parser.parse_args(["DIR", *argv]))
            got = (
                config["student"]
                if spec.name == "student"
                else config[sections[flags.cls]][spec.name]  # type: ignore[index]
            )
            assert got == _expected(spec, argv), argv


def test_every_refine_flag_reaches_the_job_config(parsers, project) -> None:
    from twt_backend.cli.refine_cmds import refine_job_config

    parser = parsers[("refine",)]
    for flags in parser.config_flags:
        for spec in flags.specs():
            argv = _argv_for(flags, spec)
            config = refine_job_config(project, parser.parse_args(["DIR", *argv]))
            got = config["generation"][spec.name] if flags.cls is cfg.GenerationConfig else None
            got = config[spec.name] if got is None else got  # type: ignore[index]
            assert got == _expected(spec, argv), argv


# TeacherConfig values the generic sample value would not pass (checked when saved)
TEACHER_VALUES = {"api_key_env": "MY_TEACHER_KEY", "base_url": "http://127.0.0.1:9/v1"}


def test_every_teacher_add_flag_reaches_the_stored_teacher(parsers, project, capsys) -> None:
    import json

    from twt_backend.cli import main

    flags = next(iter(parsers[("teacher", "add")].config_flags))
    expected: dict[str, object] = {}
    for i, spec in enumerate(flags.specs()):
        argv = _argv_for(flags, spec)
        if spec.name in TEACHER_VALUES:
            argv[1] = TEACHER_VALUES[spec.name]
        base = ["--provider", "openai", "--model", "m"]
        assert main(["teacher", "add", str(project.root), f"t{i}", *base, *argv]) == 0
        expected[f"t{i}"] = {**BASE_VALUES[("teacher", "add")], spec.name: _expected(spec, argv)}
    capsys.readouterr()
    assert main(["teacher", "list", str(project.root), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == len(expected)
    for row in rows:
        for name, value in expected[row["name"]].items():  # type: ignore[union-attr]
            assert row["config"][name] == value, (row["name"], name)


# ---- the builder on its own ------------------------------------------------------------------
class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Knobs:
    mode: Literal["fast", "exact"] = dataclasses.field(
        default="fast", metadata={"help": "How.", "label": "Mode of work"}
    )
    color: Color = dataclasses.field(default=Color.RED, metadata={"help": "Which."})
    steps: int | None = dataclasses.field(default=None, metadata={"help": "N.", "min": 1})
    ratio: float = dataclasses.field(default=0.5, metadata={"help": "R.", "max": 1.0})
    verbose: bool = dataclasses.field(default=False, metadata={"help": "Talk.", "flag": "loud"})


def test_literal_enum_optional_and_renamed_fields() -> None:
    specs = {s.name: s for s in cfg.field_specs(Knobs)}
    assert specs["mode"].choices == ("fast", "exact") and specs["mode"].label == "Mode of work"
    assert specs["color"].choices == ("red", "blue")
    assert specs["steps"].kind is int and specs["steps"].optional
    parser = argparse.ArgumentParser()
    flags = Flags(Knobs, prefix="k-", unset_means="the stored value")
    flags.add_to(parser)
    args = parser.parse_args(["--k-mode", "exact", "--k-color", "blue", "--k-steps", "3"])
    assert flags.values(args) == {"mode": "exact", "color": "blue", "steps": 3}
    assert flags.values(parser.parse_args(["--k-loud", "--k-ratio", "1"])) == {
        "verbose": True,
        "ratio": 1.0,
    }
    assert "(default: the stored value; initially 0.5)" in _action(parser, "--k-ratio").help
    assert "(default: the stored value)" in _action(parser, "--k-steps").help
    with pytest.raises(SystemExit):  # plain argparse: exit 2 after its message
        parser.parse_args(["--k-ratio", "1.5"])
