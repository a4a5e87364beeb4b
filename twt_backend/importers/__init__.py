"""Import queries from data files into a project.

The whole file is read, parsed and validated first; only then are the queries
inserted, in one transaction. Any fault raises DataError (`FILE:LINE: reason`)
and leaves the project as it was: also a source id used twice in the file (scores are
matched by id), and a field or file above the limits (`limits.py`). Each query's content
hash covers its payload, reference and split, so importing the same file again adds
nothing.

Splits: `--split` wins; else a record's own `split` field (any format); else the
format's default (MBPP by task id, every other format `train`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twt_backend.errors import DataError, UsageError
from twt_backend.importers.fields import SPLITS, RecordError
from twt_backend.importers.formats import (
    COMMON_FIELDS,
    CONVERTERS,
    FORMAT_LABEL,
    FORMAT_TASK,
    GENERIC_FIELDS,
    Options,
    detect,
)
from twt_backend.importers.limits import DEFAULT_LIMITS, Limits, check_fields
from twt_backend.importers.readers import is_csv, read_records, read_text
from twt_backend.store import Project, utcnow

FORMATS = ("auto", "mbpp", "csqa", "gsm8k", "metamathqa", "jsonl", "csv")


@dataclass(frozen=True)
class Query:
    source_id: str
    split: str
    payload: dict[str, Any]
    reference: str | None

    @property
    def content_hash(self) -> str:
        content = {"payload": self.payload, "reference": self.reference, "split": self.split}
        text = json.dumps(content, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ParsedFile:
    path: Path
    format: str
    queries: list[Query]


@dataclass
class ImportResult:
    path: Path
    format: str
    read: int
    added: int
    present: int
    splits: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        splits = ", ".join(f"{name} {count}" for name, count in sorted(self.splits.items()))
        return (
            f"{self.path.name} ({FORMAT_LABEL[self.format]}): read {self.read}, "
            f"added {self.added}, already present {self.present} [{splits}]"
        )


def parse_mapping(items: list[str] | None, task: str) -> dict[str, str]:
    """`["question=problem", ...]` -> {"question": "problem"}; UsageError on a bad item."""
    valid = [*GENERIC_FIELDS[task], *COMMON_FIELDS]
    mapping: dict[str, str] = {}
    for item in items or []:
        target, sep, source = item.partition("=")
        target, source = target.strip(), source.strip()
        if not sep or not target or not source:
            raise UsageError(f"--map {item!r}: expected FIELD=COLUMN, e.g. question=problem")
        if target not in valid:
            raise UsageError(
                f"--map {item!r}: {target!r} is not a field of {task} queries; "
                f"use one of {', '.join(valid)}"
            )
        mapping[target] = source
    return mapping


def parse_file(
    path: str | Path,
    task: str,
    fmt: str = "auto",
    split: str | None = None,
    mapping: Mapping[str, str] | None = None,
    source_id_field: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ParsedFile:
    """Read and validate every record of a file; DataError on the first fault: a bad
    record, a field or the file above `limits`, or an id already used in the file."""
    path = Path(path)
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if split is not None and split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    text = read_text(path, limits.max_file_bytes)
    as_csv = fmt == "csv" or (fmt == "auto" and is_csv(path))
    records = read_records(path, text, as_csv)
    if fmt == "auto":
        fmt = detect(records[0][1]) or ("csv" if is_csv(path) else "jsonl")
    _check_task(path, fmt, task)
    opts = Options(
        task=task,
        stem=path.name.split(".")[0],
        mapping=dict(mapping or {}),
        source_id_field=source_id_field,
    )
    convert = CONVERTERS[fmt]
    queries = []
    first_line: dict[str, int] = {}  # source id -> line of its first record
    for index, (line, record) in enumerate(records, start=1):
        try:
            check_fields(record, limits)
            done = convert(record, index, opts)
        except RecordError as exc:
            raise DataError(str(path), line, str(exc)) from None
        if done.source_id in first_line:
            raise DataError(
                str(path),
                line,
                f"duplicate id {done.source_id} (first at line {first_line[done.source_id]})",
            )
        first_line[done.source_id] = line
        queries.append(
            Query(done.source_id, split or done.split or "train", done.payload, done.reference)
        )
    return ParsedFile(path, fmt, queries)


def _check_task(path: Path, fmt: str, task: str) -> None:
    expected = FORMAT_TASK.get(fmt)
    if expected is not None and expected != task:
        raise DataError(
            str(path),
            None,
            f"{FORMAT_LABEL[fmt]} data is for {expected} projects; this is a {task} project",
        )


def insert_queries(project: Project, parsed: ParsedFile) -> ImportResult:
    """Insert parsed queries in one transaction; existing ones (same hash) are skipped."""
    now = utcnow()
    source = f"{parsed.format}:{parsed.path.name}"
    rows = [
        (
            q.source_id,
            q.split,
            json.dumps(q.payload, ensure_ascii=False, sort_keys=True),
            q.reference,
            source,
            q.content_hash,
            now,
        )
        for q in parsed.queries
    ]
    with project.transaction() as conn:
        before = conn.total_changes
        conn.executemany(
            "INSERT OR IGNORE INTO queries"
            "(source_id, split, payload, reference, source, content_hash, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        added = conn.total_changes - before
    splits = Counter(q.split for q in parsed.queries)
    read = len(parsed.queries)
    return ImportResult(parsed.path, parsed.format, read, added, read - added, dict(splits))


def import_file(
    project: Project,
    path: str | Path,
    fmt: str = "auto",
    split: str | None = None,
    mapping: Mapping[str, str] | None = None,
    source_id_field: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ImportResult:
    """Parse and validate the whole file, then insert its queries; all or nothing."""
    parsed = parse_file(path, project.task, fmt, split, mapping, source_id_field, limits)
    return insert_queries(project, parsed)


__all__ = [
    "DEFAULT_LIMITS",
    "FORMATS",
    "ImportResult",
    "Limits",
    "ParsedFile",
    "Query",
    "import_file",
    "insert_queries",
    "parse_file",
    "parse_mapping",
]
