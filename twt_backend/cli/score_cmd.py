"""`twt score {code,choice,math} --dataset FILE --predictions FILE`: standalone scoring."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from twt_backend.config import finite_float
from twt_backend.errors import UsageError

SPLITS_HELP = "Score only the dataset's queries of this split (MBPP: test = task ids 11-510)."


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    score = sub.add_parser(
        "score",
        help="Score a predictions file against a dataset (code: pass@1 in the sandbox).",
        description=(
            'Predictions are JSON Lines: {"task_id": ..., "completion": "..."} for code, '
            '{"id": ..., "answer": "..."} otherwise. Ids are the dataset\'s task_id/id, '
            "else <file stem>-<record number> (GSM8K: test-1, test-2, ...). Queries without a "
            "prediction count as wrong."
        ),
    )
    score.add_argument("task", choices=("code", "choice", "math"), help="Task type.")
    score.add_argument(
        "--dataset", required=True, metavar="FILE", help="Dataset file (any `twt import` format)."
    )
    score.add_argument("--predictions", required=True, metavar="FILE", help="Predictions JSONL.")
    score.add_argument("--split", metavar="S", help=SPLITS_HELP)
    score.add_argument(
        "--workers", type=int, default=4, metavar="N", help="Parallel sandboxes (code; default 4)."
    )
    score.add_argument(
        "--timeout",
        type=finite_float,
        default=10.0,
        metavar="SECONDS",
        help="Per program (code; default 10).",
    )
    score.add_argument("--json", action="store_true", help="Print one JSON object.")
    score.add_argument(
        "--items", action="store_true", help="With --json: include per-query outcomes."
    )
    score.set_defaults(func=run)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from twt_backend.evaluation.scoring import score_predictions

    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout}")
    with _progress(enabled=not args.json and sys.stderr.isatty()) as on_done:
        result = score_predictions(
            args.task,
            args.dataset,
            args.predictions,
            workers=args.workers,
            split=args.split,
            timeout_s=args.timeout,
            on_done=on_done,
        )
    if args.json:
        if not args.items:
            result.pop("items")
        print(json.dumps(result, sort_keys=True))
    else:
        _print_table(result)
    return 0


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr for the sandboxed programs, when a terminal watches."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("running programs", total=None)
        yield lambda _index: bar.advance(task)


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("task", "queries", "correct", "accuracy", "missing", "outcomes", "seconds")
    outcomes = ", ".join(f"{name} {count}" for name, count in sorted(result["outcomes"].items()))
    table.add_row(
        result["task"],
        str(result["n"]),
        str(result["correct"]),
        f"{result['accuracy']:.4f}",
        str(result["missing"]),
        outcomes,
        f"{result['duration_s']:.1f}",
    )
    console = Console()
    console.print(table)
    protections = result.get("protections")
    if protections:
        console.print(f"sandbox: {protections['isolation']}; network {protections['network']}; "
                      f"files {protections['filesystem']}; processes {protections['process_limit']}",
                      highlight=False, markup=False)  # fmt: skip
        if "warning" in protections:
            Console(stderr=True).print(f"warning: {protections['warning']}", markup=False)
