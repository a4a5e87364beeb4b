"""`twt report DIR [--out DIR] [--json]` and `twt export DIR --stage N [--out DIR] [--merged]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from twt_backend.errors import UsageError
from twt_backend.store import Project


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = sub.add_parser(
        "report",
        help="Compare stages and baselines: HTML report with plots, CSV and JSON.",
        epilog="With --json, one or several project folders: a JSON list of rows, one per "
        "(project, run, method), each compared within its project on the queries every "
        "current method answered. Keys: project (folder), run ('main'), method, kind "
        "(baseline|twt|teacher), n, correct, accuracy, ci_low and ci_high (95% Wilson "
        "interval), mean_output_tokens, median_output_tokens, p90_output_tokens, "
        "prompt_mode, adapter_sha256 (sha256 of the adapter weights; null for an untrained "
        "student), stale (true: every output of the method was made by an older adapter, "
        "or its training data changed since; such a row stands on its own queries and is "
        "compared with nothing), p_vs_stage1 (McNemar exact test against stage 1 on the "
        "common queries; null for stage 1 or without it); and p_vs_best_baseline, "
        "answer_distribution (predicted answer -> count), n_stale (outputs of an older "
        "provenance left out), stale_reason, display, n_total, best_baseline, "
        "delta_accuracy_pts, delta_tokens_pct. A choice task, and a math task whose gold "
        "answers repeat (one answer for 10% or more of 20 or more queries), have a "
        "'majority' row: always the most frequent gold answer of the compared queries.",
    )
    report.add_argument("dir", nargs="+", help="Project folder(s).")
    report.add_argument(
        "--out", metavar="DIR", help="Output folder (default: DIR/artifacts/report)."
    )
    report.add_argument(
        "--runs",
        metavar="A,B",
        help="Named runs to report, comma-separated (`twt variants DIR` lists them; default "
        "main, the project's own); every row names its project and run.",
    )
    report.add_argument(
        "--json",
        action="store_true",
        help="Print the comparison rows as a JSON list (keys below); writes no report "
        "files unless --out is given.",
    )
    report.set_defaults(func=_report)

    export = sub.add_parser(
        "export", help="Export a stage's adapter (and merged model) with a model card."
    )
    export.add_argument("dir", help="Project folder.")
    export.add_argument(
        "--stage",
        type=int,
        required=True,
        choices=range(1, 5),
        metavar="{1,2,3,4}",
        help="Stage whose adapter to export.",
    )
    export.add_argument(
        "--out", metavar="DIR", help="Output folder (default: DIR/artifacts/export/stageN)."
    )
    export.add_argument(
        "--merged", action="store_true", help="Also save base + adapter merged (safetensors)."
    )
    export.set_defaults(func=_export)


def _report(args: argparse.Namespace) -> int:
    from twt_backend.evaluation.report import comparison, write_report
    from twt_backend.ops.report import report_rows
    from twt_backend.ops.runs import parse_runs

    runs = parse_runs(args.runs)
    if args.json:
        if args.out:
            if len(args.dir) > 1 or runs != ["main"]:
                raise UsageError("--out with --json: one project folder and its main run only")
            with Project.open(args.dir[0], readonly=True) as project:
                write_report(project, Path(args.out))
        rows = report_rows([(folder, run) for folder in args.dir for run in runs])
        print(json.dumps(rows, indent=2, allow_nan=False))
        return 0
    if len(args.dir) > 1 or runs != ["main"]:
        return _report_runs(args, runs)
    with Project.open(args.dir[0], readonly=True) as project:
        out = Path(args.out) if args.out else project.artifacts / "report"
        html = _write(project, out)
        rows = comparison(project)
    _print_table(rows)
    if not rows:
        print(f"no evaluation results yet: start with `twt eval {args.dir[0]} --stage 0`")
    print(f"wrote {html} (and comparison.csv, comparison.json) in {html.parent}")
    return 0


def _report_runs(args: argparse.Namespace, runs: list[str]) -> int:
    """Several projects or runs (without --json): one table and report per run."""
    from twt_backend.evaluation.report import comparison
    from twt_backend.ops.runs import open_runs

    rows: list[dict[str, Any]] = []
    for folder in args.dir:
        with Project.open(folder, readonly=True) as project:
            for run_name, run in open_runs(project, runs):
                with run:
                    run_rows = [
                        {"project": str(project.root), "run": run_name, **row}
                        for row in comparison(run)
                    ]
                    out = (
                        Path(args.out) / project.root.name / run_name
                        if args.out
                        else run.artifacts / "report"
                    )
                    html = _write(run, out)
                    _print_table(run_rows, f"{project.name}, run {run_name}")
                    print(f"wrote {html}")
                rows += run_rows
    return 0


def _write(project: Project, out: Path) -> Path:
    from twt_backend.evaluation.report import write_report

    try:
        return write_report(project, out)
    except OSError as exc:  # e.g. a read-only project folder
        raise UsageError(
            f"{out}: cannot write the report there ({exc.strerror}); choose a writable "
            "folder with --out"
        ) from None


# the columns of report_html.TABLE_HEADERS short enough for an 80-column terminal (p-values
# and the token median / p90 follow the table)
CLI_COLUMNS = (0, 1, 2, 3, 4, 6, 8)
CLI_HEADERS = ("Method", "n", "Acc %", "95% CI", "Δ acc", "Tokens", "Δ tokens")


def _print_table(rows: list[dict[str, Any]], what: str = "") -> None:
    if not rows:
        if what:
            print(f"{what}: no evaluation results yet")
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from twt_backend.evaluation.report_html import comparison_cells, p_value

    current = [r for r in rows if not r["stale"]]
    table = Table(
        title=f"{what + ': ' if what else ''}Stages and baselines on "
        f"{current[0]['n'] if current else 0} common queries",
        caption="Δ: change against the best baseline (*); CI: 95% Wilson interval; "
        + escape("[stale]: made by an older adapter (or on changed data), compared with nothing"),
    )
    for i, header in enumerate(CLI_HEADERS):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=i > 0)
    for row in rows:
        cells = comparison_cells(row, " *")
        table.add_row(
            *(escape(cells[i]) for i in CLI_COLUMNS),
            style="bold" if row["best_baseline"] else None,
        )
    console = Console(soft_wrap=True)
    console.print(table)
    for key, label in (
        ("p_vs_stage1", "McNemar p vs stage 1"),
        ("p_vs_best_baseline", "McNemar p vs the best baseline"),
    ):
        values = [f"{r['method']} {p_value(r[key])}" for r in rows if r.get(key) is not None]
        if values:
            console.print(f"{label}: {', '.join(values)}", highlight=False)
    spread = [
        f"{r['method']} {r['median_output_tokens']:.0f}/{r['p90_output_tokens']:.0f}"
        for r in rows
        if r.get("median_output_tokens") is not None
    ]
    if spread:
        console.print(f"Output tokens median/p90: {', '.join(spread)}", highlight=False)


def _export(args: argparse.Namespace) -> int:
    from twt_backend.evaluation.export import export_stage

    with Project.open(args.dir, readonly=True) as project:
        out = export_stage(project, args.stage, args.out, merged=args.merged)
    print(f"exported stage {args.stage} adapter and model card to {out / 'adapter'}")
    if args.merged:
        print(f"merged model (safetensors) and model card in {out / 'merged'}")
    return 0
