"""Import controller: read a data file, preview its queries with a column mapping, insert."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twt_backend.ops import projects
from twt_backend.ops.projects import ImportResult, ParsedFile, Project

PREVIEW_ROWS = 50


@dataclass
class ImportPlan:
    path: Path
    fmt: str = "auto"
    split: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)


def target_fields(task: str) -> list[str]:
    """The query fields a generic file's columns can map to."""
    return projects.import_fields(task)


def file_columns(path: Path) -> list[str]:
    """Column names of a file (keys of its first record)."""
    return projects.file_columns(path)


class ImportController:
    def __init__(self, project: Project):
        self.project = project

    def parse(self, plan: ImportPlan) -> ParsedFile:
        """Parse and validate the whole file; raises DataError (`FILE:LINE: reason`)."""
        return projects.parse_import(self.project, plan.path, plan.fmt, plan.split, plan.mapping)

    @staticmethod
    def preview_rows(parsed: ParsedFile) -> list[dict[str, Any]]:
        return [
            {"source_id": q.source_id, "split": q.split, "reference": q.reference, **q.payload}
            for q in parsed.queries[:PREVIEW_ROWS]
        ]

    def run(self, parsed: ParsedFile) -> ImportResult:
        return projects.insert_parsed(self.project, parsed)

    @staticmethod
    def note(plan: ImportPlan, result: ImportResult) -> str | None:
        """A warning when a test-like file went to the train split (as `twt import`)."""
        return projects.split_note(plan.path, plan.split, result)
