"""Project operations: create, open, import queries (the CLI's `twt import` and the app's
import dialog), list queries, and what a project holds."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twt_backend.importers import (
    DEFAULT_LIMITS,
    FORMATS,
    ImportResult,
    ParsedFile,
    insert_queries,
    parse_file,
)
from twt_backend.importers.formats import COMMON_FIELDS, GENERIC_FIELDS
from twt_backend.importers.readers import is_csv, read_records, read_text
from twt_backend.store import DB_NAME, TASKS, Project, absolute, queries_repo

# what the front ends name: the project class, its database file, its tasks, the import formats
__all__ = ["DB_NAME", "FORMATS", "TASKS", "ImportResult", "ParsedFile", "Project", "absolute"]

_TEST_LIKE = re.compile(r"(^|[^a-z])(test|dev)([^a-z]|$)", re.IGNORECASE)


def create_project(root: str | Path, task: str, name: str | None = None) -> Project:
    return Project.create(root, task, name or None)


def open_project(root: str | Path, readonly: bool = False) -> Project:
    return Project.open(root, readonly=readonly)


# ---- import --------------------------------------------------------------------------------
def parse_import(
    project: Project,
    path: str | Path,
    fmt: str = "auto",
    split: str | None = None,
    mapping: Mapping[str, str] | None = None,
    **options: Any,
) -> ParsedFile:
    """Read and check every record of a data file for this project's task (nothing is
    written); DataError `FILE:LINE: reason` on the first fault. `options`:
    source_id_field, limits (importers.parse_file)."""
    mapping = {k: v for k, v in (mapping or {}).items() if v} or None
    return parse_file(path, project.task, fmt, split, mapping, **options)


def insert_parsed(project: Project, parsed: ParsedFile) -> ImportResult:
    """Insert checked queries in one transaction (ones already there are skipped)."""
    return insert_queries(project, parsed)


def import_queries(project: Project, path: str | Path, *args: Any, **kwargs: Any) -> ImportResult:
    """Parse the whole file (the arguments of `parse_import`), then insert its queries:
    all or nothing."""
    return insert_parsed(project, parse_import(project, path, *args, **kwargs))


def split_note(path: str | Path, split: str | None, result: ImportResult) -> str | None:
    """A warning when a file named like a test or dev set went to the train split."""
    name = Path(path).name
    if split is None and result.splits.get("train") and _TEST_LIKE.search(name):
        return (
            f"{name} looks like a test or dev file but its queries went to the train split; "
            "import it again with --split test if it is for evaluation"
        )
    return None


def import_fields(task: str) -> list[str]:
    """The query fields a generic file's columns can map to."""
    return [*GENERIC_FIELDS[task], *COMMON_FIELDS]


def file_columns(path: Path) -> list[str]:
    """Column names of a file to import (keys of its first record)."""
    text = read_text(path, DEFAULT_LIMITS.max_file_bytes)
    records = read_records(path, text, is_csv(path))
    return list(records[0][1]) if records else []


# ---- reading ---------------------------------------------------------------------------------
def list_queries(
    project: Project, split: str | None = None, after_id: int = 0, limit: int = -1
) -> list[dict[str, Any]]:
    """Queries in id order with their payload decoded."""
    rows = queries_repo.page(project, split, after_id, limit)
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows


def queries_page(
    project: Project, split: str | None = None, after_id: int = 0, limit: int = -1
) -> list[dict[str, Any]]:
    """Like `list_queries`, the payload left as stored (JSON text): for paged tables."""
    return queries_repo.page(project, split, after_id, limit)


def query(project: Project, query_id: int) -> dict[str, Any] | None:
    """One query (payload as stored), or None."""
    return queries_repo.get(project, query_id)


def query_count(project: Project, split: str | None = None) -> int:
    return queries_repo.count(project, split)


def project_summary(project: Project) -> dict[str, Any]:
    """Name, task, folder, queries per split and in all, teachers, generations."""
    splits = queries_repo.split_counts(project)
    return {
        "name": project.name,
        "task": project.task,
        "root": str(project.root),
        "splits": splits,
        "queries": sum(splits.values()),
        **queries_repo.totals(project),
    }
