"""Labelling controller: start/stop a "generate" job, its progress, totals and errors."""

from __future__ import annotations

from typing import Any

from twt_backend.ops import jobs, samples
from twt_backend.ops.projects import Project, query_count
from twt_backend.ops.teachers import teacher_summaries
from twt_gui.pages.jobs_ctl import latest_job, start_job


class LabellingController:
    def __init__(self, project: Project):
        self.project = project

    def teachers(self) -> list[dict[str, Any]]:
        return teacher_summaries(self.project)

    def query_count(self, split: str | None) -> int:
        return query_count(self.project, split)

    def reattach(self) -> dict[str, Any] | None:
        """Mark dead workers interrupted, then return the labelling job to follow."""
        jobs.reattach(self.project)
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
        from twt_backend.ops.settings import load_config

        config = dataclasses.asdict(load_config(self.project, SelectionConfig))
        return start_job(self.project, "select", config, name="select")

    def job(self, job_id: int) -> dict[str, Any]:
        return jobs.get_job(self.project, job_id)

    def totals(self) -> dict[str, Any]:
        return samples.label_totals(self.project)

    def errors(self, limit: int = 500) -> list[dict[str, Any]]:
        return samples.label_errors(self.project, limit)

    def failed_teachers(self) -> list[str]:
        return samples.failed_teachers(self.project)
