"""Compare controller: accuracy and mean output tokens per stage/baseline, drill-down, export."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from twt_backend.store import Project
from twt_gui.lazy_model import RowSource
from twt_gui.pages.projects_ctl import query_text


class CompareController:
    def __init__(self, project: Project):
        self.project = project

    def summary(self) -> list[dict[str, Any]]:
        return self.project.rows(
            "SELECT method, COUNT(*) AS n, SUM(correct) AS correct, AVG(correct) AS accuracy,"
            " AVG(tokens) AS mean_tokens FROM eval_results GROUP BY method ORDER BY method"
        )

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
                    for part in (row["results"] or "").split()
                )
            return rows

        return fetch

    def answers(self, query_id: int) -> list[dict[str, Any]]:
        return self.project.rows(
            "SELECT method, output, answer, tokens, correct FROM eval_results"
            " WHERE query_id=? ORDER BY method",
            (query_id,),
        )

    def export(self, folder: Path) -> list[Path]:
        """summary.json, summary.csv and per_query.csv into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        summary = self.summary()
        paths = [folder / "summary.json", folder / "summary.csv", folder / "per_query.csv"]
        paths[0].write_text(json.dumps(summary, indent=2), encoding="utf-8")
        _write_csv(paths[1], summary)
        _write_csv(
            paths[2],
            self.project.rows(
                "SELECT e.method, q.source_id, e.query_id, e.answer, q.reference, e.correct,"
                " e.tokens FROM eval_results e JOIN queries q ON q.id = e.query_id"
                " ORDER BY e.query_id, e.method"
            ),
        )
        return paths


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        if not rows:
            return
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
