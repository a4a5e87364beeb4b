"""Compare controller over `twt_backend.evaluation.report`: the comparison on the queries
every method answered (deltas against the best baseline), the per-query drill-down, and
the written report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twt_backend.evaluation import report
from twt_backend.store import Project, variants
from twt_gui.lazy_model import RowSource
from twt_gui.pages.projects_ctl import query_text


def signed(value: float | None, unit: str, digits: int = 1) -> str:
    """+1.5 pts / -40.0% style deltas; an em dash for none."""
    return "—" if value is None else f"{value:+.{digits}f}{unit}"


def interval(row: dict[str, Any]) -> str:
    """The 95% Wilson interval of the accuracy, "41.2–68.0%"; an em dash for none."""
    low, high = row.get("ci_low"), row.get("ci_high")
    return "—" if low is None or high is None else f"{low:.1%}–{high:.1%}"


def summary_cells(row: dict[str, Any]) -> list[str]:
    """The table cells of one comparison row (see `SUMMARY_HEADERS` of the page)."""
    n = f"{row['n']}" if row["n"] == row["n_total"] else f"{row['n']} of {row['n_total']}"
    accuracy = "—" if row["accuracy"] is None else f"{row['accuracy']:.1%}"
    tokens = row["mean_output_tokens"]
    best = row["best_baseline"]
    return [
        row["display"] + (" ★" if best else ""),
        row["kind"],
        n,
        str(row["correct"]),
        accuracy,
        interval(row),
        "best baseline" if best else signed(row["delta_accuracy_pts"], " pts"),
        "—" if tokens is None else f"{tokens:.1f}",
        "" if best else signed(row["delta_tokens_pct"], "%"),
    ]


class CompareController:
    """Over one run of the project (`twt run --name`): "main" is the project itself; another
    run's store is opened read-only beside it."""

    def __init__(self, project: Project, run: str = variants.MAIN):
        self.main = project
        self.run = run
        self.project = project if run == variants.MAIN else variants.open_run(project, run, True)

    def run_names(self) -> list[str]:
        return [r["name"] for r in variants.list_runs(self.main)]

    def close(self) -> None:
        if self.project is not self.main:
            self.project.close()

    def comparison(self) -> list[dict[str, Any]]:
        return report.comparison(self.project)

    def queries(self) -> RowSource:
        def fetch(after_id: int, limit: int) -> list[dict[str, Any]]:
            rows = self.project.rows(
                "SELECT q.id, q.source_id, q.reference, q.payload,"
                " GROUP_CONCAT(e.method || ':' || COALESCE(e.correct, '-'), ' ') AS results"
                " FROM queries q JOIN eval_results e ON e.query_id = q.id"
                " WHERE q.id > ? GROUP BY q.id ORDER BY q.id LIMIT ?",
                (after_id, limit),
            )
            for row in rows:
                row["text"] = query_text(row.pop("payload"))
                row["results"] = " ".join(
                    f"{part.split(':')[0]} {'✓' if part.endswith(':1') else '✗'}"
                    for part in sorted((row["results"] or "").split())
                )
            return rows

        return fetch

    def answers(self, query_id: int) -> list[dict[str, Any]]:
        """What each method answered for a query, baselines first, with display names."""
        answers = report.per_query(self.project, query_id)
        n_stages = int(self.project.get_meta("n_stages") or 3)
        return [
            {"method": method, "display": report.display_name(method, answers, n_stages)[0], **row}
            for method, row in answers.items()
        ]

    def export(self, folder: Path) -> Path:
        """report.html, comparison.csv/json and the plots into `folder` (a fresh connection,
        so it may run in a worker thread)."""
        with Project.open(self.project.root) as project:
            return report.write_report(project, folder)
