"""Standalone scoring of a predictions file against a dataset file (`twt score`).

The dataset is read with the importer (`twt_backend.importers.parse_file`), so every
format `twt import` accepts works here and query ids are the importer's: the record's
`task_id` (MBPP) or `id`, else `<file stem>-<record number>` (e.g. GSM8K's `test-1`).
Predictions are JSON Lines: `{"task_id": ..., "completion": "..."}` for code,
`{"id": ..., "answer": "..."}` otherwise (either id key and either text key is
accepted). Queries without a prediction count as wrong and are reported as missing.
Code is scored pass@1 by running the asserts in the sandbox.
"""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twt_backend.errors import DataError, UsageError

TASKS = ("code", "choice", "math")
ID_KEYS = {"code": ("task_id", "id"), "choice": ("id", "task_id"), "math": ("id", "task_id")}
TEXT_KEYS = {"code": ("completion", "answer"), "choice": ("answer", "completion")}


@dataclass(frozen=True)
class Prediction:
    line: int
    text: str


def read_predictions(path: str | Path, task: str) -> dict[str, Prediction]:
    """Predictions by query id; DataError (`FILE:LINE: reason`) on any malformed line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise DataError(str(path), None, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(str(path), None, f"cannot read: {exc}") from None
    id_keys, text_keys = ID_KEYS[task], TEXT_KEYS.get(task, TEXT_KEYS["choice"])
    found: dict[str, Prediction] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        record = _json_object(path, number, raw)
        key = _first_key(record, id_keys)
        text_key = _first_key(record, text_keys)
        if key is None:
            raise DataError(str(path), number, f"missing {id_keys[0]!r}")
        if text_key is None:
            raise DataError(str(path), number, f"missing {text_keys[0]!r}")
        query_id, text = record[key], record[text_key]
        if isinstance(query_id, bool) or not isinstance(query_id, str | int):
            raise DataError(str(path), number, f"{key!r} must be text or an integer")
        if text is not None and not isinstance(text, str):
            raise DataError(str(path), number, f"{text_key!r} must be text or null")
        if str(query_id) in found:
            first = found[str(query_id)].line
            raise DataError(
                str(path), number, f"duplicate {key} {query_id!r} (first on line {first})"
            )
        found[str(query_id)] = Prediction(number, text or "")
    return found


def _json_object(path: Path, number: int, raw: str) -> dict[str, Any]:
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(
            str(path), number, f"invalid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    if not isinstance(record, dict):
        raise DataError(str(path), number, f"expected a JSON object, got {type(record).__name__}")
    return record


def _first_key(record: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    return next((key for key in keys if key in record), None)


def _load_queries(task: str, dataset_path: str | Path) -> list[Any]:
    from twt_backend.importers import parse_file

    return parse_file(dataset_path, task).queries


def _in_split(queries: list[Any], split: str | None, dataset_path: str | Path) -> list[Any]:
    if split is None:
        return queries
    chosen = [q for q in queries if q.split == split]
    if not chosen:
        found = ", ".join(sorted({q.split for q in queries}))
        raise UsageError(f"{dataset_path}: no queries in split {split!r} (it has: {found})")
    return chosen


def _check_known(predictions: dict[str, Prediction], all_ids: set[str], path: str | Path) -> None:
    for query_id, prediction in predictions.items():
        if query_id not in all_ids:
            raise DataError(str(path), prediction.line, f"id {query_id!r} is not in the dataset")


def code_program(completion: str, payload: dict) -> str:
    """The test script for one completion: raw code as is, else the code extracted from it."""
    from twt_backend.tasks.code import build_test_program, extract_code, parse_python

    with warnings.catch_warnings():  # e.g. invalid escapes in the model's string literals
        warnings.simplefilter("ignore")
        is_plain_code = "```" not in completion and parse_python(completion) is not None
    code = completion if is_plain_code else extract_code(completion, payload.get("entry_point"))
    return build_test_program(code or "", payload)


def _score_code(
    queries: list[Any],
    predictions: dict[str, Prediction],
    workers: int,
    timeout_s: float,
    on_done: Callable[[int], None] | None,
) -> tuple[list[bool], list[str], dict[str, Any]]:
    from twt_backend.evaluation.sandbox import protections, run_many

    scored = [q for q in queries if q.source_id in predictions]
    programs = [code_program(predictions[q.source_id].text, q.payload) for q in scored]
    results = iter(run_many(programs, workers=workers, timeout_s=timeout_s, on_done=on_done))
    passed, reasons = [], []
    for query in queries:
        result = next(results) if query.source_id in predictions else None
        passed.append(bool(result and result.passed))
        reasons.append(result.reason if result else "missing")
    return passed, reasons, {"protections": protections()}


def _score_answers(
    task: str, queries: list[Any], predictions: dict[str, Prediction]
) -> tuple[list[bool], list[str], dict[str, Any]]:
    from twt_backend.tasks import get_task

    task_type = get_task(task)
    passed, reasons = [], []
    for query in queries:
        prediction = predictions.get(query.source_id)
        if prediction is None:
            passed.append(False)
            reasons.append("missing")
            continue
        answer = task_type.extract_answer(prediction.text, query.payload)
        correct = task_type.is_correct(answer, query.reference, query.payload)
        passed.append(correct)
        reasons.append("ok" if correct else ("no_answer" if answer is None else "wrong"))
    return passed, reasons, {}


def score_predictions(
    task: str,
    dataset_path: str | Path,
    predictions_path: str | Path,
    workers: int = 4,
    split: str | None = None,
    timeout_s: float = 10.0,
    on_done: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Accuracy (pass@1 for code) of a predictions file on a dataset file (see module doc)."""
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    started = time.monotonic()
    all_queries = _load_queries(task, dataset_path)
    predictions = read_predictions(predictions_path, task)
    _check_known(predictions, {q.source_id for q in all_queries}, predictions_path)
    queries = _in_split(all_queries, split, dataset_path)
    if task == "code":
        passed, reasons, extra = _score_code(queries, predictions, workers, timeout_s, on_done)
    else:
        passed, reasons, extra = _score_answers(task, queries, predictions)
    correct = sum(passed)
    return {
        "task": task,
        "dataset": str(dataset_path),
        "predictions": str(predictions_path),
        "split": split,
        "n": len(queries),
        "correct": correct,
        "accuracy": correct / len(queries),
        "missing": reasons.count("missing"),
        "outcomes": dict(Counter(reasons)),
        **extra,
        "duration_s": round(time.monotonic() - started, 3),
        "items": [
            {"id": q.source_id, "correct": ok, "outcome": why}
            for q, ok, why in zip(queries, passed, reasons, strict=True)
        ],
    }
