"""Teacher outputs that already exist in a JSONL or CSV file, matched to queries by source id.

The teacher's `model` is the file, optionally followed by a field mapping:

    cose_train.jsonl#rationale=explanation.open-ended&answer=@reference&confidence=1

Keys: `id` (default `id`), `text` (a raw teacher output, parsed by the task), or
`rationale` / `answer` / `confidence` (a ready triplet). Values are field names, dotted
paths into nested JSON objects, `@reference` (the query's reference answer) or, for
`confidence`, a number. Without a mapping, common field names are recognised.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from twt_backend.config import TeacherConfig
from twt_backend.errors import DataError, UsageError
from twt_backend.teachers.base import Completion, PermanentError

MAPPING_KEYS = ("id", "text", "rationale", "answer", "confidence")
GUESSES = {
    "text": ("text", "raw_text", "output", "response", "completion"),
    "rationale": ("rationale", "explanation.open-ended", "explanation", "reasoning"),
    "answer": ("answer", "label"),
    "confidence": ("confidence", "score"),
}


def parse_source(model: str) -> tuple[Path, dict[str, str]]:
    """The file and the field mapping of a replay teacher's `model` string."""
    path_text, _, mapping_text = model.partition("#")
    mapping = dict(parse_qsl(mapping_text, keep_blank_values=False))
    unknown = sorted(set(mapping) - set(MAPPING_KEYS))
    if unknown:
        raise UsageError(
            f"replay mapping: unknown key(s) {', '.join(unknown)}; use {', '.join(MAPPING_KEYS)}"
        )
    return Path(path_text).expanduser(), mapping


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UsageError(f"{path}: replay file not found")
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(str(path), number, f"not JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise DataError(str(path), number, "expected a JSON object")
            records.append(record)
    return records


def lookup(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    if dotted in record:
        return record[dotted]
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def complete_mapping(mapping: dict[str, str], sample: dict[str, Any]) -> dict[str, str]:
    """The explicit mapping, with common field names guessed from a sample for the rest."""
    full = {"id": mapping.get("id", "id"), **mapping}
    if "text" in full or "rationale" in full:
        return full
    for key, names in GUESSES.items():
        if key not in full:
            found = next((n for n in names if lookup(sample, n) is not None), None)
            if found:
                full[key] = found
    if "text" in full:  # a raw output wins over guessed triplet fields
        return {k: v for k, v in full.items() if k in ("id", "text")}
    return full


class ReplayTeacher:
    def __init__(self, config: TeacherConfig):
        self.config = config
        self.path, self.mapping = parse_source(config.model)
        self.records: dict[str, dict[str, Any]] = {}

    async def load(self) -> None:
        records = read_records(self.path)
        self.mapping = complete_mapping(self.mapping, records[0] if records else {})
        if "text" not in self.mapping and "rationale" not in self.mapping:
            raise UsageError(f"{self.path}: no text or rationale field; give a mapping after '#'")
        for record in records:
            key = lookup(record, self.mapping["id"])
            if key is not None:
                self.records[str(key)] = record

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        logprobs: bool = False,
        query: dict[str, Any] | None = None,
    ) -> Completion:
        source_id = str((query or {}).get("source_id"))
        record = self.records.get(source_id)
        if record is None:
            raise PermanentError(f"no record with {self.mapping['id']}={source_id} in {self.path}")
        if "text" in self.mapping:
            return Completion(text=str(lookup(record, self.mapping["text"]) or ""))
        return self._triplet(record, query or {})

    def _triplet(self, record: dict[str, Any], query: dict[str, Any]) -> Completion:
        from twt_backend.tasks.base import ParsedOutput

        rationale = _text(lookup(record, self.mapping["rationale"]))
        answer = _text(self._field(record, query, "answer"))
        confidence, status = _confidence(self._field(record, query, "confidence"))
        if not answer:
            status = "no_answer"
        if not rationale and not answer:
            status = "empty"
        raw = json.dumps(record, ensure_ascii=False, sort_keys=True)
        return Completion(text=raw, parsed=ParsedOutput(rationale, answer, confidence, status))

    def _field(self, record: dict[str, Any], query: dict[str, Any], key: str) -> Any:
        source = self.mapping.get(key)
        if source is None:
            return None
        if source == "@reference":
            return query.get("reference")
        if key == "confidence":
            try:
                return float(source)
            except ValueError:
                pass
        return lookup(record, source)

    async def aclose(self) -> None:
        self.records.clear()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.strip() or None


def _confidence(value: Any) -> tuple[float | None, str]:
    if value is None or value == "":
        return None, "no_confidence"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, "no_confidence"
    if not 0.0 <= number <= 1.0:
        return None, "confidence_out_of_range"
    return number, "ok"
