"""`twt init`, `twt import` and `twt queries`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from twt_backend.errors import UsageError
from twt_backend.importers import DEFAULT_LIMITS, FORMATS, Limits, parse_mapping
from twt_backend.importers.fields import SPLITS
from twt_backend.store import TASKS, Project


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    init = sub.add_parser("init", help="Create a project folder.")
    init.add_argument("dir", help="Project folder (created if missing).")
    init.add_argument("--task", required=True, choices=TASKS, help="Task type of the queries.")
    init.add_argument("--name", help="Display name (default: the folder name).")
    init.set_defaults(func=_init)

    imp = sub.add_parser("import", help="Import queries from a data file.")
    imp.add_argument("dir", help="Project folder.")
    imp.add_argument("file", help="Data file: JSON Lines, JSON array or CSV (optionally .gz).")
    imp.add_argument(
        "--format", default="auto", choices=FORMATS, help="Data format (default: detect)."
    )
    imp.add_argument(
        "--split",
        choices=("train", "test"),
        help="Put every query in this split (default: the record's `split` field, MBPP's "
        "split by task id, else train).",
    )
    imp.add_argument(
        "--map",
        action="append",
        metavar="FIELD=COLUMN",
        help="For generic JSON/CSV: read a query field from another column, e.g. "
        "question=problem, reference=solution. Repeatable.",
    )
    imp.add_argument("--source-id-field", metavar="COLUMN", help="Column holding each record's id.")
    imp.add_argument(
        "--max-field-bytes",
        type=int,
        default=DEFAULT_LIMITS.max_field_bytes,
        metavar="N",
        help="Refuse a record with a field larger than this (UTF-8 bytes; default "
        f"{DEFAULT_LIMITS.max_field_bytes}).",
    )
    imp.add_argument(
        "--max-file-bytes",
        type=int,
        default=DEFAULT_LIMITS.max_file_bytes,
        metavar="N",
        help="Refuse a file larger than this (unpacked for .gz; default "
        f"{DEFAULT_LIMITS.max_file_bytes}).",
    )
    imp.set_defaults(func=_import)

    queries = sub.add_parser("queries", help="List the queries of a project.")
    queries.add_argument("dir", help="Project folder.")
    queries.add_argument("--split", choices=SPLITS, help="Only this split.")
    queries.add_argument("--json", action="store_true", help="Print one JSON object per query.")
    queries.set_defaults(func=_queries)


def _init(args: argparse.Namespace) -> int:
    from twt_backend.ops.projects import create_project

    with create_project(args.dir, args.task, args.name) as project:
        print(f"created {project.task} project {project.name!r} in {project.root}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from twt_backend.ops.projects import import_queries, split_note

    for flag in ("max_field_bytes", "max_file_bytes"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')}: must be at least 1")
    limits = Limits(max_field_bytes=args.max_field_bytes, max_file_bytes=args.max_file_bytes)
    with Project.open(args.dir) as project:
        mapping = parse_mapping(args.map, project.task)
        result = import_queries(
            project, args.file, args.format, args.split, mapping,
            source_id_field=args.source_id_field, limits=limits,
        )  # fmt: skip
    print(result.summary())
    note = split_note(args.file, args.split, result)
    if note:
        print(f"note: {note}", file=sys.stderr)
    return 0


def summary_text(payload: dict[str, Any], width: int = 70) -> str:
    text = payload.get("question") or payload.get("stem") or payload.get("text") or ""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _queries(args: argparse.Namespace) -> int:
    from twt_backend.ops.projects import list_queries

    with Project.open(args.dir, readonly=True) as project:
        rows = list_queries(project, args.split)
    try:
        _print_queries(rows, args.json)
    except BrokenPipeError:  # e.g. `twt queries DIR | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _print_queries(rows: list[dict[str, Any]], as_json: bool) -> None:
    out = sys.stdout
    if as_json:
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        out.flush()
        return
    for row in rows:
        reference = (row["reference"] or "-").splitlines()[0] if row["reference"] else "-"
        reference = reference if len(reference) <= 20 else reference[:19] + "…"
        out.write(
            f"{row['id']:>6}  {row['split']:<10} {row['source_id']:<14} {reference:<20} "
            f"{summary_text(row['payload'])}\n"
        )
    out.flush()
    print(f"{len(rows)} queries", file=sys.stderr)
