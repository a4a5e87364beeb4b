"""Labelling controller: start/stop a "generate" job, its progress, totals and errors."""

from __future__ import annotations

from typing import Any

from twt_backend import jobs
from twt_backend.store import Project
from twt_gui.pages.jobs_ctl import latest_job, start_job


class LabellingController:
    def __init__(self, project: Project):
        self.project = project

    def teachers(self) -> list[dict[str, Any]]:
        return self.project.rows(
            "SELECT id, name, provider, model, enabled FROM teachers ORDER BY id"
        )

    def query_count(self, split: str | None) -> int:
        if split:
            return int(self.project.scalar("SELECT COUNT(*) FROM queries WHERE split=?", (split,)))
        return int(self.project.scalar("SELECT COUNT(*) FROM queries"))

    def reattach(self) -> dict[str, Any] | None:
        """Mark dead workers interrupted, then return the labelling job to follow."""
        jobs.reap_stale(self.project)
        return latest_job(self.project, ("generate",))

    def start(
        self,
        teachers: list[str] | None,
        limit: int | None,
        split: str | None,
        budget_usd: float | None,
    ) -> int:
        config = {
            "teachers": teachers,
            "limit": limit,
            "split": split or "",  # "" = every split (None would mean the default, train)
            "budget_usd": budget_usd,
        }
        return start_job(self.project, "generate", config, name="label")

    def start_selection(self) -> int:
        import dataclasses

        from twt_backend.config import SelectionConfig
        from twt_backend.settings import load_config

        config = dataclasses.asdict(load_config(self.project, SelectionConfig))
        return start_job(self.project, "select", config, name="select")

    def job(self, job_id: int) -> dict[str, Any]:
        return jobs.get_job(self.project, job_id)

    def totals(self) -> dict[str, Any]:
        row = self.project.rows(
            "SELECT COUNT(*) AS n, SUM(status='ok') AS ok, SUM(status='failed') AS failed,"
            " COALESCE(SUM(tokens_in), 0) AS tokens_in, COALESCE(SUM(tokens_out), 0) AS tokens_out,"
            " COALESCE(SUM(cost_usd), 0) AS cost FROM generations WHERE purpose='label'"
        )[0]
        return {k: v or 0 for k, v in row.items()}

    def errors(self, limit: int = 500) -> list[dict[str, Any]]:
        return self.project.rows(
            "SELECT g.id, t.name AS teacher, g.query_id, g.attempts, g.error, g.updated_at"
            " FROM generations g JOIN teachers t ON t.id = g.teacher_id"
            " WHERE g.status='failed' AND g.purpose='label' ORDER BY g.id DESC LIMIT ?",
            (limit,),
        )

    def failed_teachers(self) -> list[str]:
        return [
            r["name"]
            for r in self.project.rows(
                "SELECT DISTINCT t.name FROM generations g JOIN teachers t ON t.id = g.teacher_id"
                " WHERE g.status='failed' AND g.purpose='label' ORDER BY t.name"
            )
        ]
