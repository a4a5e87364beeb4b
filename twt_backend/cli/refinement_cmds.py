"""`twt refinements list|accept|reject|edit|redo`: review the teachers' refinements (the
same operations as the app's Refinement page, twt_backend.ops.refinements)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from twt_backend.errors import UsageError
from twt_backend.store import Project
from twt_backend.store.refinements_repo import STATUSES


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    refinements = sub.add_parser(
        "refinements", help="Review the teachers' refinements: list, accept, reject, edit, redo."
    )
    actions = refinements.add_subparsers(dest="refinements_command", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser("list", help="List the refinements of a project.")
    listing.add_argument("dir", help="Project folder.")
    listing.add_argument("--round", type=int, help="Only this refinement round.")
    listing.add_argument("--status", choices=STATUSES, help="Only rows of this status.")
    listing.add_argument("--json", action="store_true", help="Print one JSON object per row.")
    listing.set_defaults(func=_list)

    helps = {
        "accept": "Keep a refinement as it is (the refine job no longer touches it).",
        "reject": "Leave a refinement out of training.",
        "edit": "Replace a refinement's text by hand.",
        "redo": "Ask the teacher again at the next refine job (drops the edit and review).",
    }
    for action, help_text in helps.items():
        parser = actions.add_parser(action, help=help_text)
        parser.add_argument("dir", help="Project folder.")
        parser.add_argument("id", type=int, help="Refinement id (see `twt refinements list`).")
        if action == "edit":
            text = parser.add_mutually_exclusive_group(required=True)
            text.add_argument("--text", help="The new text.")
            text.add_argument("--text-file", type=Path, help="Read the new text from this file.")
        parser.add_argument("--note", help="Why (kept in the audit log).")
        parser.set_defaults(func=_review, action=action)


def _list(args: argparse.Namespace) -> int:
    from twt_backend.ops.refinements import list_refinements

    with Project.open(args.dir, readonly=True) as project:
        rows = list_refinements(project, round_=args.round, status=args.status)
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True, allow_nan=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "generation", "query", "teacher", "round", "method", "status",
                  "tokens", "edited", "refined")  # fmt: skip
    for row in rows:
        table.add_row(
            str(row["id"]), str(row["generation_id"]), str(row["query_id"]), row["teacher"],
            str(row["round"]), row["method"], row["status"],
            f"{row['tokens_original'] or '?'} -> {row['tokens_refined'] or '?'}",
            "yes" if row["edited"] else "", (row["refined"] or "").replace("\n", " ")[:50],
        )  # fmt: skip
    Console().print(table)
    return 0


def _text(args: argparse.Namespace) -> str:
    if args.text_file is None:
        return str(args.text)
    try:
        return args.text_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"{args.text_file}: {reason}") from None


def _review(args: argparse.Namespace) -> int:
    from twt_backend.ops import refinements

    with Project.open(args.dir) as project:
        if args.action == "edit":
            refinements.edit(project, args.id, _text(args), args.note)
        else:
            getattr(refinements, args.action)(project, args.id, args.note)
    done = {"accept": "accepted", "reject": "rejected", "edit": "edited", "redo": "set to redo"}
    print(f"refinement {args.id}: {done[args.action]}")
    return 0
