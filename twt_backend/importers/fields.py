"""Typed access to record fields; every fault is a RecordError naming the field."""

from __future__ import annotations

import ast
import builtins
import json
import warnings
from typing import Any

from twt_backend.tasks.math import math_reference_from_gsm8k, normalize_number

SPLITS = ("train", "test", "validation", "fewshot")
LABELS = "ABCDEFGHIJ"
_BUILTINS = frozenset(dir(builtins))


class RecordError(ValueError):
    """A record is malformed; the message is the reason (the caller adds FILE:LINE)."""


def get_text(record: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RecordError(
                f"missing field {name!r}" if value is None else f"field {name!r} is empty"
            )
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RecordError(f"field {name!r} must be text, got {_type_name(value)}")
    return str(value).replace("\r\n", "\n")


def get_text_list(record: dict[str, Any], name: str, required: bool = True) -> list[str]:
    """A list of strings; a CSV cell may hold a JSON list or one item per line."""
    value = record.get(name)
    if value is None or value == "":
        if required:
            raise RecordError(f"missing field {name!r}")
        return []
    if isinstance(value, str):
        value = _list_from_cell(value)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RecordError(f"field {name!r} must be a list of strings, got {_type_name(value)}")
    items = [item.replace("\r\n", "\n") for item in value if item.strip()]
    if required and not items:
        raise RecordError(f"field {name!r} is an empty list")
    return items


def _list_from_cell(cell: str) -> Any:
    if cell.lstrip().startswith("["):
        try:
            return json.loads(cell)
        except json.JSONDecodeError as exc:
            raise RecordError(f"invalid JSON list in a cell: {exc.msg}") from None
    return [line for line in cell.splitlines() if line.strip()]


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true/false", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def check_split(value: Any, name: str = "split") -> str:
    if not isinstance(value, str) or value.strip().lower() not in SPLITS:
        raise RecordError(f"field {name!r} must be one of {', '.join(SPLITS)}, got {value!r}")
    return value.strip().lower()


def source_id_of(value: Any, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        raise RecordError(f"field {name!r} must be a non-empty id (text or integer)")
    return str(value).strip()


def math_reference(value: str) -> str:
    """A reference number from `72`, `$1,250.50` or a GSM8K answer ending in `#### 72`."""
    if "####" in value:
        try:
            return math_reference_from_gsm8k(value)
        except ValueError as exc:
            raise RecordError(str(exc)) from None
    number = normalize_number(value)
    if number is None:
        raise RecordError(f"reference {value[:40]!r} is not a number")
    return number


def choice_list(value: Any, name: str = "choices") -> list[dict[str, str]]:
    """Options as [{"label", "text"}]: from that shape, a list of texts, or {label: text}."""
    if isinstance(value, str):
        value = _list_from_cell(value) if value.strip() else None
    if isinstance(value, dict):
        value = [{"label": str(k), "text": v} for k, v in value.items()]
    if not isinstance(value, list) or not value:
        raise RecordError(f"field {name!r} must be a non-empty list of options")
    if len(value) > len(LABELS):
        raise RecordError(f"field {name!r} has {len(value)} options; at most {len(LABELS)}")
    options = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            item = {"label": LABELS[index], "text": item}
        if not isinstance(item, dict):
            raise RecordError(f"option {index + 1} of {name!r} must be text or an object")
        label, text = item.get("label"), item.get("text")
        if not isinstance(label, str) or not isinstance(text, str) or not label.strip():
            raise RecordError(f"option {index + 1} of {name!r} needs a text 'label' and 'text'")
        options.append({"label": label.strip().upper(), "text": text.strip()})
    labels = [option["label"] for option in options]
    if len(set(labels)) != len(labels):
        raise RecordError(f"field {name!r} repeats an option label")
    return options


def choice_reference(value: Any, options: list[dict[str, str]], name: str) -> str | None:
    """The answer label; accepts the label in any case or the exact text of an option."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise RecordError(f"field {name!r} must be an option label, got {_type_name(value)}")
    wanted = value.strip()
    for option in options:
        if wanted.upper() == option["label"] or wanted.lower() == option["text"].lower():
            return option["label"]
    labels = ", ".join(option["label"] for option in options)
    raise RecordError(f"field {name!r} is {wanted!r}, not one of the option labels {labels}")


def entry_point(code: str | None, tests: list[str]) -> str | None:
    """The function the tests call: a function defined in the code, else the first call."""
    called = _called_names(tests)
    if code:
        tree = _parse_python(code)
        if tree is not None:
            defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
            for name in called:
                if name in defined:
                    return name
    return next((name for name in called if name not in _BUILTINS), None)


def _called_names(tests: list[str]) -> list[str]:
    names: list[str] = []
    for test in tests:
        tree = _parse_python(test)
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id not in names:
                    names.append(node.func.id)
    return names


def _parse_python(source: str) -> ast.Module | None:
    with warnings.catch_warnings():  # old data sets hold invalid escapes such as "\\d"
        warnings.simplefilter("ignore")
        try:
            return ast.parse(source)
        except (SyntaxError, ValueError):
            return None
