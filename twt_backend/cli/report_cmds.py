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
        "report", help="Compare stages and baselines: HTML report with plots, CSV and JSON."
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
        help="Print the comparison rows as a JSON list (method, kind, n, correct, accuracy, "
        "ci_low, ci_high: its 95%% Wilson interval, mean_output_tokens, prompt_mode, ...); "
        "writes no report files unless --out is given.",
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
    from twt_backend.ops.runs import parse_runs

    runs = parse_runs(args.runs)
    if len(args.dir) > 1 or runs != ["main"]:
        return _report_runs(args, runs)
    with Project.open(args.dir[0], readonly=True) as project:
        if args.json:
            if args.out:
                write_report(project, Path(args.out))
            rows = [
                {"project": str(project.root), "run": "main", **row} for row in comparison(project)
            ]
            print(json.dumps(rows, indent=2, allow_nan=False))
            return 0
        out = Path(args.out) if args.out else project.artifacts / "report"
        html = _write(project, out)
        rows = comparison(project)
    _print_table(rows)
    if not rows:
        print(f"no evaluation results yet: start with `twt eval {args.dir[0]} --stage 0`")
    print(f"wrote {html} (and comparison.csv, comparison.json) in {html.parent}")
    return 0


def _report_runs(args: argparse.Namespace, runs: list[str]) -> int:
    """Several projects or runs: one row list (JSON) or one table and report per run."""
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
                    if not args.json:
                        out = (
                            Path(args.out) / project.root.name / run_name
                            if args.out
                            else run.artifacts / "report"
                        )
                        html = _write(run, out)
                        _print_table(run_rows, f"{project.name}, run {run_name}")
                        print(f"wrote {html}")
                rows += run_rows
    if args.json:
        print(json.dumps(rows, indent=2, allow_nan=False))
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


# the columns of report_html.TABLE_HEADERS, short enough for an 80-column terminal
CLI_HEADERS = ("Method", "n", "Acc %", "95% CI", "Δ acc", "Tokens", "Δ tokens")


def _print_table(rows: list[dict[str, Any]], what: str = "") -> None:
    if not rows:
        if what:
            print(f"{what}: no evaluation results yet")
        return
    from rich.console import Console
    from rich.table import Table

    from twt_backend.evaluation.report_html import comparison_cells

    table = Table(
        title=f"{what + ': ' if what else ''}Stages and baselines on {rows[0]['n']} common queries",
        caption="Δ: change against the best baseline (*); CI: 95% Wilson interval",
    )
    for i, header in enumerate(CLI_HEADERS):
        table.add_column(header, justify="left" if i == 0 else "right", no_wrap=i > 0)
    for row in rows:
        table.add_row(*comparison_cells(row, " *"), style="bold" if row["best_baseline"] else None)
    Console(soft_wrap=True).print(table)


def _export(args: argparse.Namespace) -> int:
    from twt_backend.evaluation.export import export_stage

    with Project.open(args.dir, readonly=True) as project:
        out = export_stage(project, args.stage, args.out, merged=args.merged)
    print(f"exported stage {args.stage} adapter and model card to {out / 'adapter'}")
    if args.merged:
        print(f"merged model (safetensors) and model card in {out / 'merged'}")
    return 0
