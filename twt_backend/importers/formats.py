"""Record converters: one per known data set, and a generic one driven by a field mapping.

Each converter turns one raw record into the payload of the project's task type
(see `twt_backend.tasks`) and its reference answer, or raises RecordError.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from twt_backend.importers.fields import (
    LABELS,
    RecordError,
    check_split,
    choice_list,
    choice_reference,
    entry_point,
    get_text,
    get_text_list,
    math_reference,
    source_id_of,
)
from twt_backend.tasks.math import normalize_number

# Generic formats: payload field -> the record fields tried, in order, when not mapped.
GENERIC_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "math": {"question": ("question", "problem"), "reference": ("reference", "answer")},
    "choice": {
        "stem": ("stem", "question"),
        "choices": ("choices", "options"),
        "concept": ("concept", "question_concept"),
        "reference": ("reference", "answerKey", "answer", "label"),
    },
    "code": {
        "text": ("text", "prompt", "description"),
        "tests": ("tests", "test_list"),
        "test_setup": ("test_setup", "test_setup_code"),
        "entry_point": ("entry_point",),
        "reference": ("reference", "code", "solution"),
    },
}
COMMON_FIELDS: dict[str, tuple[str, ...]] = {"split": ("split",)}
ID_FIELDS = ("id", "task_id")


@dataclass(frozen=True)
class Options:
    """What a converter needs besides the record."""

    task: str
    stem: str  # file name stem, for ids of records that have none
    mapping: Mapping[str, str] = field(default_factory=dict)
    source_id_field: str | None = None


@dataclass(frozen=True)
class Converted:
    source_id: str
    payload: dict[str, Any]
    reference: str | None
    split: str | None  # from the record or the format's default; None means "train"


Converter = Callable[[dict[str, Any], int, Options], Converted]


def _record_split(record: dict[str, Any], name: str = "split") -> str | None:
    value = record.get(name)
    return None if value is None or value == "" else check_split(value, name)


def _source_id(record: dict[str, Any], index: int, opts: Options, names: tuple[str, ...]) -> str:
    if opts.source_id_field:
        if record.get(opts.source_id_field) is None:
            raise RecordError(f"missing id field {opts.source_id_field!r}")
        return source_id_of(record[opts.source_id_field], opts.source_id_field)
    for name in names:
        if record.get(name) not in (None, ""):
            return source_id_of(record[name], name)
    return f"{opts.stem}-{index}"


def mbpp_split(task_id: Any) -> str | None:
    """MBPP's own split by task id: 1-10 few-shot, 11-510 test, 511-600 validation, 601+ train."""
    try:
        number = int(task_id)
    except (TypeError, ValueError):
        return None
    if number <= 10:
        return "fewshot"
    if number <= 510:
        return "test"
    return "validation" if number <= 600 else "train"


def convert_mbpp(record: dict[str, Any], index: int, opts: Options) -> Converted:
    """MBPP jsonl (`text`, `test_setup_code`) or sanitized MBPP (`prompt`, `test_imports`)."""
    text_field = "text" if "text" in record or "prompt" not in record else "prompt"
    text = get_text(record, text_field)
    tests = get_text_list(record, "test_list")
    if "test_imports" in record:
        setup = "\n".join(get_text_list(record, "test_imports", required=False))
    else:
        setup = get_text(record, "test_setup_code", required=False) or ""
    code = get_text(record, "code", required=False)
    payload = {
        "text": (text or "").strip(),
        "tests": tests,
        "test_setup": setup,
        "entry_point": entry_point(code, tests),
    }
    split = _record_split(record) or mbpp_split(record.get("task_id"))
    return Converted(_source_id(record, index, opts, ("task_id",)), payload, code, split)


def convert_csqa(record: dict[str, Any], index: int, opts: Options) -> Converted:
    question = record.get("question")
    if not isinstance(question, dict):
        raise RecordError("field 'question' must be an object with 'stem' and 'choices'")
    choices = choice_list(question.get("choices"), "question.choices")
    payload = {
        "stem": (get_text(question, "stem") or "").strip(),
        "choices": choices,
        "concept": get_text(question, "question_concept", required=False),
    }
    reference = choice_reference(record.get("answerKey"), choices, "answerKey")
    return Converted(
        _source_id(record, index, opts, ("id",)), payload, reference, _record_split(record)
    )


def convert_gsm8k(record: dict[str, Any], index: int, opts: Options) -> Converted:
    question = get_text(record, "question") or ""
    answer = get_text(record, "answer") or ""
    if "####" not in answer:
        raise RecordError("field 'answer' has no '#### <number>' line")
    payload = {"question": question.strip()}
    reference = math_reference(answer)
    return Converted(
        _source_id(record, index, opts, ("id",)), payload, reference, _record_split(record)
    )


METAMATH_MARKER = "The answer is:"


def convert_metamathqa(record: dict[str, Any], index: int, opts: Options) -> Converted:
    """MetaMathQA (`query`, `response`, `type`, `original_question`): the reference is the
    final answer after the response's last "The answer is:", not its first number."""
    query = get_text(record, "query") or ""
    response = get_text(record, "response") or ""
    if METAMATH_MARKER not in response:
        raise RecordError(f"field 'response' has no {METAMATH_MARKER!r} line")
    answer = response.rsplit(METAMATH_MARKER, 1)[1].strip()
    if not answer:
        raise RecordError(f"field 'response' has nothing after {METAMATH_MARKER!r}")
    reference = _single_number(answer)
    if reference is None:
        kind = record.get("type")
        what = f" ({kind} record)" if isinstance(kind, str) and kind else ""
        raise RecordError(
            f"the answer {answer[:40]!r}{what} is not a number; a math project needs "
            "numeric answers (filter such records out first)"
        )
    payload = {"question": query.strip()}
    return Converted(
        _source_id(record, index, opts, ID_FIELDS), payload, reference, _record_split(record)
    )


_UNIT_TEXT = re.compile(r"\\(?:text|mathrm|textbf|mathbf)\s*\{[^{}]*\}")
_HARMLESS = re.compile(r"\\(?:[dt]?frac|left|right|[,;:! $%])")
_NOT_ONE_NUMBER = re.compile(r"[A-Za-z\\()\[\]=^*]|,(?!\d{3})|\d\s*[-+]\s*\d|\d\s+\d")


def _single_number(answer: str) -> str | None:
    """The answer as a normalised number when it is one number (`18`, `$1,250`, `\\frac{3}{4}`,
    `25\\%`, `5 \\text{cm}`); None for an expression, a tuple, an interval or text."""
    rest = _HARMLESS.sub(" ", _UNIT_TEXT.sub(" ", answer))
    rest = rest.replace("}{", "/").replace("{", " ").replace("}", " ").strip().rstrip(".")
    if _NOT_ONE_NUMBER.search(rest):
        return None
    return normalize_number(answer)


def _resolve(record: dict[str, Any], target: str, opts: Options) -> str:
    """The record field that feeds a payload field: the mapped one, else the first present."""
    if target in opts.mapping:
        return opts.mapping[target]
    candidates = GENERIC_FIELDS[opts.task].get(target) or COMMON_FIELDS[target]
    return next((name for name in candidates if name in record), candidates[0])


def convert_generic(record: dict[str, Any], index: int, opts: Options) -> Converted:
    """Any JSON Lines / JSON / CSV file whose fields are named or mapped to the payload's."""
    fields = {target: _resolve(record, target, opts) for target in GENERIC_FIELDS[opts.task]}
    view = {target: record.get(name) for target, name in fields.items()}
    if opts.task == "math":
        payload: dict[str, Any] = {"question": _named(view, fields, "question").strip()}
        raw = _named(view, fields, "reference", required=False)
        reference = math_reference(raw) if raw else None
    elif opts.task == "choice":
        if view["choices"] is None and "choices" not in opts.mapping:
            view["choices"] = _letter_columns(record)
        try:
            choices = choice_list(view["choices"], fields["choices"])
        except RecordError:
            if view["choices"] is None:
                raise RecordError(
                    f"missing field {fields['choices']!r} (or columns A, B, ...)"
                ) from None
            raise
        payload = {
            "stem": _named(view, fields, "stem").strip(),
            "choices": choices,
            "concept": _named(view, fields, "concept", required=False),
        }
        reference = choice_reference(view["reference"], choices, fields["reference"])
    else:
        tests = _named_list(view, fields, "tests")
        reference = _named(view, fields, "reference", required=False)
        payload = {
            "text": _named(view, fields, "text").strip(),
            "tests": tests,
            "test_setup": _named(view, fields, "test_setup", required=False) or "",
            "entry_point": _named(view, fields, "entry_point", required=False)
            or entry_point(reference, tests),
        }
    split = _record_split(record, _resolve(record, "split", opts))
    return Converted(_source_id(record, index, opts, ID_FIELDS), payload, reference, split)


def _letter_columns(record: dict[str, Any]) -> list[dict[str, str]] | None:
    options = [{"label": x, "text": record[x]} for x in LABELS if record.get(x) not in (None, "")]
    return options or None


def _named(view: dict[str, Any], fields: dict[str, str], target: str, required: bool = True) -> Any:
    """Read a payload field under its source name, so errors name the user's column."""
    return get_text({fields[target]: view[target]}, fields[target], required)


def _named_list(view: dict[str, Any], fields: dict[str, str], target: str) -> list[str]:
    return get_text_list({fields[target]: view[target]}, fields[target])


CONVERTERS: dict[str, Converter] = {
    "mbpp": convert_mbpp,
    "csqa": convert_csqa,
    "gsm8k": convert_gsm8k,
    "metamathqa": convert_metamathqa,
    "jsonl": convert_generic,
    "csv": convert_generic,
}
FORMAT_TASK = {"mbpp": "code", "csqa": "choice", "gsm8k": "math", "metamathqa": "math"}
FORMAT_LABEL = {
    "mbpp": "MBPP",
    "csqa": "CommonsenseQA",
    "gsm8k": "GSM8K",
    "metamathqa": "MetaMathQA",
    "jsonl": "generic JSON",
    "csv": "generic CSV",
}


def detect(record: dict[str, Any]) -> str | None:
    """The known data set a record looks like, or None."""
    question = record.get("question")
    if isinstance(question, dict) and "stem" in question and "choices" in question:
        return "csqa"
    if isinstance(question, str) and isinstance(record.get("answer"), str):
        if "####" in record["answer"]:
            return "gsm8k"
    if isinstance(record.get("query"), str) and isinstance(record.get("response"), str):
        if "original_question" in record or METAMATH_MARKER in record["response"]:
            return "metamathqa"
    if "test_list" in record and ("text" in record or "prompt" in record) and "code" in record:
        return "mbpp"
    return None
