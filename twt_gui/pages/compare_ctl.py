"""Compare controller over `twt_backend.ops.report`: the comparison on the queries every
current method answered (deltas against the best baseline, McNemar p-values, stale rows
marked, the majority-class row of a choice task, predicted-answer distributions), the
per-query drill-down, and the written report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twt_backend.ops import report as ops_report
from twt_backend.ops import runs
from twt_backend.ops.projects import Project
from twt_gui.lazy_model import RowSource
from twt_gui.pages.projects_ctl import query_text


def signed(value: float | None, unit: str, digits: int = 1) -> str:
    """+1.5 pts / -40.0% style deltas; an em dash for none."""
    return "—" if value is None else f"{value:+.{digits}f}{unit}"


def interval(row: dict[str, Any]) -> str:
    """The 95% Wilson interval of the accuracy, "41.2–68.0%"; an em dash for none."""
    low, high = row.get("ci_low"), row.get("ci_high")
    return "—" if low is None or high is None else f"{low:.1%}–{high:.1%}"


def p_value(value: float | None) -> str:
    """A McNemar p-value: "p=0.031", "p<0.001"; an em dash for none."""
    if value is None:
        return "—"
    return "p<0.001" if value < 0.001 else f"p={value:.3f}"


def distribution(row: dict[str, Any], shown: int = 4) -> str:
    """The predicted answers' shares, most frequent first: "C 100%", "A 60% · B 40%"."""
    counts = row.get("answer_distribution") or {}
    total = sum(counts.values())
    if not total:
        return "—"
    parts = [f"{answer} {count / total:.0%}" for answer, count in list(counts.items())[:shown]]
    if len(counts) > shown:
        parts.append(f"+{len(counts) - shown} more")
    return " · ".join(parts)


def summary_cells(row: dict[str, Any]) -> list[str]:
    """The table cells of one comparison row (see `SUMMARY_HEADERS` of the page)."""
    n = f"{row['n']}" if row["n"] == row["n_total"] else f"{row['n']} of {row['n_total']}"
    accuracy = "—" if row["accuracy"] is None else f"{row['accuracy']:.1%}"
    tokens = row["mean_output_tokens"]
    median, p90 = row.get("median_output_tokens"), row.get("p90_output_tokens")
    spread = "—" if median is None or p90 is None else f"{median:.0f} / {p90:.0f}"
    best = row["best_baseline"]
    name = row["display"] + (" ★" if best else "")
    if row.get("stale"):
        name += " ⚠ stale"
    elif row.get("n_stale"):
        name += f" ({row['n_stale']} stale left out)"
    return [
        name,
        row["kind"],
        n,
        str(row["correct"]),
        accuracy,
        interval(row),
        p_value(row.get("p_vs_stage1")),
        "best baseline" if best else signed(row["delta_accuracy_pts"], " pts"),
        p_value(row.get("p_vs_best_baseline")),
        "—" if tokens is None else f"{tokens:.1f}",
        spread,
        "" if best else signed(row["delta_tokens_pct"], "%"),
        distribution(row),
    ]


def side_by_side(rows: list[dict[str, Any]], runs: list[str]) -> tuple[list[str], list[list[str]]]:
    """Rows of several runs (`ops.report.report_rows`) grouped method x run: the headers
    ("Method", then one per run) and one line of cells per method, in the order the methods
    first appear; a cell is "accuracy [95% interval] · mean output tokens", an em dash
    where the run has no result for the method."""
    cells: dict[str, dict[str, str]] = {}
    names: dict[str, str] = {}
    for row in rows:
        names.setdefault(row["method"], row.get("display") or row["method"])
        cells.setdefault(row["method"], {})[row["run"]] = run_cell(row)
    lines = [[names[m], *(cells[m].get(run, "—") for run in runs)] for m in cells]
    return ["Method", *runs], lines


def run_cell(row: dict[str, Any]) -> str:
    accuracy = "—" if row["accuracy"] is None else f"{row['accuracy']:.1%}"
    low, high = row.get("ci_low"), row.get("ci_high")
    ci = "" if low is None or high is None else f" [{low:.1%}–{high:.1%}]"
    tokens = row["mean_output_tokens"]
    text = f"{accuracy}{ci} · {'—' if tokens is None else f'{tokens:.0f}'} tokens"
    return text + (" ⚠ stale" if row.get("stale") else "")


class CompareController:
    """Over one run of the project (`twt run --name`): "main" is the project itself; another
    run's store is opened read-only beside it."""

    def __init__(self, project: Project, run: str = runs.MAIN):
        self.main = project
        self.run = run
        self.project = project if run == runs.MAIN else runs.open_run(project, run, True)

    def run_names(self) -> list[str]:
        return [r["name"] for r in runs.list_runs(self.main)]

    def runs_side_by_side(self) -> tuple[list[str], list[list[str]]]:
        """Every run of the project, method x run (see `side_by_side`)."""
        runs = self.run_names()
        rows = ops_report.report_rows([(self.main.root, run) for run in runs])
        return side_by_side(rows, runs)

    def close(self) -> None:
        if self.project is not self.main:
            self.project.close()

    def comparison(self) -> list[dict[str, Any]]:
        return ops_report.project_rows(self.project)

    def split_sizes(self) -> dict[str, int]:
        return ops_report.split_sizes(self.project)

    def queries(self) -> RowSource:
        def fetch(after_id: int, limit: int) -> list[dict[str, Any]]:
            rows = ops_report.queries_with_results(self.project, after_id, limit)
            for row in rows:
                row["text"] = query_text(row.pop("payload"))
                row["results"] = " ".join(
                    f"{method} {'✓' if correct else '✗'}"
                    for method, correct in sorted(row["results"].items())
                )
            return rows

        return fetch

    def answers(self, query_id: int) -> list[dict[str, Any]]:
        """What each method answered for a query, baselines first, with display names."""
        answers = ops_report.per_query(self.project, query_id)
        n_stages = int(self.project.get_meta("n_stages") or 3)
        return [
            {
                "method": method,
                "display": ops_report.display_name(method, answers, n_stages)[0],
                **row,
            }
            for method, row in answers.items()
        ]  # each with "stale": not of the method's current provenance

    def export(self, folder: Path) -> Path:
        """report.html, comparison.csv/json and the plots into `folder` (a fresh connection,
        so it may run in a worker thread)."""
        with Project.open(self.project.root) as project:
            return ops_report.write_report(project, folder)
