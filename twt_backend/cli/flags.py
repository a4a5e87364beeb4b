"""The one flag builder: config dataclass fields -> argparse flags, and the parsed namespace
back to a partial config (the approach of TRL's `HfArgumentParser`).

Each command says which dataclass it takes flags from, with `Flags(cls, ...)`: a flag prefix
(`lora-` -> `--lora-rank`), the fields it exposes (`only`/`exclude`), where the values go in
the namespace (`dest_prefix`), and what an unset flag means: the project's saved setting
(the usual case), something else named by `unset_means` (e.g. a teacher's stored value for
an edit), or, with `unset_means=None`, the dataclass default (`teacher add`). Names, types,
choices, bounds and help come from `config.field_specs`, the same metadata the app's forms
are built from (twt_gui/forms.py): one new field = one edit in config.py.

    TRAIN = Flags(TrainingConfig, dest_prefix="cfg__training__")
    TRAIN.add_to(parser)           # --epochs X, --lr X, --group-by-length/--no-group-...
    TRAIN.values(args)             # {"lr": 0.001}: only the flags given
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from twt_backend.config import FieldSpec, check_choice_and_bounds, field_specs
from twt_backend.errors import UsageError


def _number(spec: FieldSpec) -> Callable[[str], Any]:
    """An argparse `type`: a whole or finite number within the field's bounds."""

    def parse(text: str) -> Any:
        try:
            value = spec.kind(text)
        except ValueError:
            what = "a whole number" if spec.kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number ({spec.name})")
        try:
            check_choice_and_bounds(spec, value)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None
        return value

    parse.__name__ = spec.kind.__name__
    return parse


@dataclass(frozen=True)
class Flags:
    """The flags one command takes from one config dataclass."""

    cls: type
    prefix: str = ""  # flag prefix: "lora-" -> --lora-rank
    only: tuple[str, ...] | None = None  # the fields exposed (default: all)
    exclude: tuple[str, ...] = ()
    dest_prefix: str | None = None  # namespace name: dest_prefix + field (default: flag name)
    required: tuple[str, ...] = ()
    # what an unset flag means, for the help; None: the dataclass default (shown)
    unset_means: str | None = "the project's setting"
    helps: Mapping[str, str] = field(default_factory=dict)  # command-specific help texts

    def __post_init__(self) -> None:
        names = {s.name for s in field_specs(self.cls)}
        unknown = set(self.only or ()) | set(self.exclude) | set(self.required) | set(self.helps)
        if unknown - names:
            raise TypeError(f"{self.cls.__name__} has no field(s) {sorted(unknown - names)}")

    def specs(self) -> list[FieldSpec]:
        """The exposed fields, in declaration order."""
        return [
            s
            for s in field_specs(self.cls)
            if (self.only is None or s.name in self.only) and s.name not in self.exclude
        ]

    def flag(self, spec: FieldSpec) -> str:
        return "--" + (self.prefix + spec.flag).replace("_", "-")

    def dest(self, spec: FieldSpec) -> str:
        if self.dest_prefix is None:
            return (self.prefix + spec.flag).replace("-", "_")
        return self.dest_prefix + spec.name

    def help(self, spec: FieldSpec) -> str:
        text = self.helps[spec.name] if spec.name in self.helps else spec.help_with_range()
        default = _shown(spec.default)
        if spec.name in self.helps:
            pass  # a command's own help text says what its default is
        elif self.unset_means is not None and spec.default is None:
            text += f" (default: {self.unset_means})"
        elif self.unset_means is not None:
            text += f" (default: {self.unset_means}; initially {default})"
        elif spec.default is not None and spec.name not in self.required:
            text += f" (default: {default})"
        return text.replace("%", "%%")

    def add_to(self, parser: argparse.ArgumentParser | Any) -> None:
        """One flag per exposed field; an unset flag leaves None in the namespace. The parser
        keeps the list of its flag sets (`config_flags`: the docs and tests read it)."""
        if not hasattr(parser, "config_flags"):
            parser.config_flags = []
        parser.config_flags.append(self)
        for spec in self.specs():
            common: dict[str, Any] = {
                "dest": self.dest(spec),
                "default": None,
                "help": self.help(spec),
            }
            if spec.name in self.required:
                common["required"] = True
            if spec.kind is bool:
                parser.add_argument(
                    self.flag(spec), action=argparse.BooleanOptionalAction, **common
                )
                continue
            if spec.choices is not None:
                parser.add_argument(self.flag(spec), type=spec.kind, choices=spec.choices, **common)
                continue
            parser.add_argument(
                self.flag(spec),
                type=_number(spec) if spec.kind in (int, float) else str,
                metavar=spec.flag.upper(),
                **common,
            )

    def values(self, args: argparse.Namespace) -> dict[str, Any]:
        """The fields whose flag was given: a partial config (field name -> value; an Enum
        field reads back as its value, the form configs are stored in as JSON)."""
        out = {}
        for spec in self.specs():
            value = getattr(args, self.dest(spec), None)
            if value is not None:
                out[spec.name] = value
        return out


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def add_flags(parser: argparse.ArgumentParser | Any, *sets: Flags) -> None:
    for flags in sets:
        flags.add_to(parser)
