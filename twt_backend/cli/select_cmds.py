"""`twt select` and `twt samples` (listing, override, edit)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from twt_backend.cli.flags import Flags
from twt_backend.config import SelectionConfig
from twt_backend.errors import UsageError
from twt_backend.store import Project

SAMPLE_ACTIONS = ("override", "edit")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    select = sub.add_parser(
        "select",
        help="Run the selection (DCRS by default) over the teachers' outputs.",
        description="Flags override the project's saved selection settings for this run.",
    )
    select.add_argument("dir", help="Project folder.")
    Flags(SelectionConfig, dest_prefix="").add_to(select)
    select.add_argument("--json", action="store_true", help="Print the result as one JSON object.")
    select.set_defaults(func=_select)

    samples = sub.add_parser(
        "samples",
        help="List samples: `twt samples DIR`; `twt samples override DIR ID --accept|--reject`; "
        "`twt samples edit DIR ID --rationale TEXT --answer TEXT`.",
    )
    samples.add_argument(
        "words", nargs="+", metavar="[ACTION] DIR [ID]", help="DIR, or override|edit DIR ID."
    )
    samples.add_argument("--query", type=int, help="Only this query id.")
    which = samples.add_mutually_exclusive_group()
    which.add_argument("--selected", action="store_true", help="Only effectively selected.")
    which.add_argument("--rejected", action="store_true", help="Only effectively rejected.")
    samples.add_argument("--json", action="store_true", help="Print one JSON object per sample.")
    decision = samples.add_mutually_exclusive_group()
    decision.add_argument("--accept", action="store_true", help="override: keep it.")
    decision.add_argument("--reject", action="store_true", help="override: drop it.")
    decision.add_argument("--clear", action="store_true", help="override: back to automatic.")
    samples.add_argument("--note", help="override/edit: why (kept in the audit log).")
    samples.add_argument("--rationale", help="edit: the new rationale.")
    samples.add_argument("--rationale-file", type=Path, help="edit: read the new rationale here.")
    samples.add_argument("--answer", help="edit: the new answer.")
    samples.set_defaults(func=_samples)


# ---- twt select -----------------------------------------------------------------------------
def _select(args: argparse.Namespace) -> int:
    from twt_backend import jobs
    from twt_backend.cli.follow import run_foreground
    from twt_backend.settings import load_config, with_overrides

    names = [f.name for f in dataclasses.fields(SelectionConfig)]
    with Project.open(args.dir) as project:
        cfg = with_overrides(
            load_config(project, SelectionConfig), {n: getattr(args, n) for n in names}
        )
        job_id = jobs.create_job(project, "select", dataclasses.asdict(cfg), name="select")
        code = run_foreground(project, job_id, quiet=args.json)
        if code != 0:
            return code
        if args.json:
            print(project.get_meta("selection.last_run"))
        else:
            _print_summary(project)
    return 0


def _print_summary(project: Project) -> None:
    from twt_backend.selection.stats import reason_counts, teacher_summary

    last = json.loads(project.get_meta("selection.last_run") or "{}")
    result = last.get("result", {})
    columns = {
        "outputs": "outputs", "parse_failed": "unparsed", "below_quality": "low",
        "disagreeing": "disagree", "not_diverse": "similar", "auto_kept": "auto kept",
        "accepted": "+hand", "rejected": "-hand", "kept": "kept",
    }  # fmt: skip
    table = Table("teacher", *columns.values(), "mean conf", title=_title(last.get("config", {})))
    totals = dict.fromkeys(columns, 0)
    for row in teacher_summary(project):
        mean = row["mean_confidence"]
        table.add_row(
            row["teacher"], *(str(row[c]) for c in columns), "" if mean is None else f"{mean:.3f}"
        )
        totals = {c: totals[c] + row[c] for c in columns}
    table.add_section()
    table.add_row("total", *(str(totals[c]) for c in columns), "")
    console = Console(width=max(Console().width, 110))
    console.print(table)
    counts = reason_counts(project)
    for side in ("kept", "rejected"):
        parts = ", ".join(f"{r} {n}" for r, n in sorted(counts[side].items()))
        console.print(f"{side} by reason: {parts or '-'}")
    console.print(
        f"diversity applied to {result.get('diversity_queries', 0)} of {result.get('queries', 0)} "
        f"queries; rationales encoded {result.get('encoded', 0)}, from cache "
        f"{result.get('cached', 0)}; {result.get('seconds', 0.0):.2f} s"
    )


def _title(cfg: dict[str, Any]) -> str:
    strategy = cfg.get("strategy", "?")
    detail = f"threshold {cfg.get('threshold')}" if strategy in ("dcrs", "quality") else ""
    if strategy == "logprob":
        detail = f"logprob threshold {cfg.get('logprob_threshold')}"
    return f"selection: {strategy} {detail}".strip()


# ---- twt samples ----------------------------------------------------------------------------
def _samples(args: argparse.Namespace) -> int:
    words = args.words
    if words[0] in SAMPLE_ACTIONS and len(words) == 3:
        action, args.dir, raw_id = words
        try:
            args.id = int(raw_id)
        except ValueError:
            raise UsageError(
                f"twt samples {action}: generation id must be a number, not {raw_id!r}"
            ) from None
        _refuse(args, ("query", "selected", "rejected", "json"), action)
        return _override(args) if action == "override" else _edit(args)
    if len(words) != 1:
        raise UsageError("twt samples: expected DIR, or override DIR ID, or edit DIR ID")
    args.dir = words[0]
    _refuse(
        args,
        ("accept", "reject", "clear", "note", "rationale", "rationale_file", "answer"),
        "listing",
    )
    return _list(args)


def _refuse(args: argparse.Namespace, names: tuple[str, ...], action: str) -> None:
    given = [n for n in names if getattr(args, n) not in (None, False)]
    if given:
        flags = ", ".join("--" + n.replace("_", "-") for n in given)
        raise UsageError(f"twt samples: {flags} cannot be used with {action}")


def _override(args: argparse.Namespace) -> int:
    from twt_backend.ops.samples import override

    if args.rationale or args.rationale_file or args.answer:
        raise UsageError("twt samples override: use `twt samples edit` to change a sample")
    if not (args.accept or args.reject or args.clear):
        raise UsageError("twt samples override: give --accept, --reject or --clear")
    decision = "accept" if args.accept else "reject" if args.reject else None
    with Project.open(args.dir) as project:
        override(project, [args.id], decision, args.note)
    print(f"generation {args.id}: {decision or 'automatic decision'}")
    return 0


def _edit(args: argparse.Namespace) -> int:
    from twt_backend.ops.samples import edit

    if args.accept or args.reject or args.clear:
        raise UsageError("twt samples edit: use `twt samples override` to accept or reject")
    if args.rationale is not None and args.rationale_file is not None:
        raise UsageError("twt samples edit: give --rationale or --rationale-file, not both")
    rationale = args.rationale
    if args.rationale_file is not None:
        try:
            rationale = args.rationale_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{args.rationale_file}: {exc.strerror}") from None
    with Project.open(args.dir) as project:
        version = edit(project, args.id, rationale, args.answer, args.note)
    print(f"generation {args.id}: version {version}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from twt_backend.ops.samples import list_samples

    selected = True if args.selected else False if args.rejected else None
    with Project.open(args.dir, readonly=True) as project:
        rows = list_samples(project, query_id=args.query, selected=selected)
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
        return 0
    table = Table(
        "id", "query", "teacher", "conf", "parse", "selected", "override", "reason", "rationale"
    )
    for row in rows:
        conf = row["confidence"]
        table.add_row(
            str(row["id"]),
            str(row["query_id"]),
            row["teacher"],
            "" if conf is None else f"{conf:.2f}",
            row["parse_status"] or "",
            "yes" if row["selected"] else "no",
            row["override"] or "",
            row["reason"] or "",
            (row["rationale"] or "").replace("\n", " ")[:60],
        )
    Console().print(table)
    return 0
