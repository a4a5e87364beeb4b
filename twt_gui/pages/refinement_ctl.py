"""Refinement controller: teacher-guided compressions, word-level diffs, accept/edit/redo."""

from __future__ import annotations

import dataclasses
import difflib
import html
import re
from typing import Any

from twt_backend.ops import refinements
from twt_backend.ops.projects import Project
from twt_backend.progress import job_progress
from twt_gui.lazy_model import RowSource
from twt_gui.pages.jobs_ctl import latest_job, start_job

_WORDS = re.compile(r"\S+|\s+")


def word_diff_html(old: str, new: str) -> str:
    """`new` as HTML with words removed from `old` struck out red and added words green."""
    a, b = _WORDS.findall(old or ""), _WORDS.findall(new or "")
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            out.append(
                f"<span style='color:#c0392b;text-decoration:line-through'>{html.escape(''.join(a[i1:i2]))}</span>"
            )
        if op in ("insert", "replace"):
            out.append(
                f"<span style='color:#1e8449;font-weight:bold'>{html.escape(''.join(b[j1:j2]))}</span>"
            )
        if op == "equal":
            out.append(html.escape("".join(a[i1:i2])))
    return "<div style='white-space:pre-wrap'>" + "".join(out) + "</div>"


class RefinementController:
    """The Refinement page's adapter over twt_backend.ops.refinements (as `twt refinements`)."""

    def __init__(self, project: Project):
        self.project = project

    def count(self) -> int:
        return refinements.count(self.project)

    def source(self) -> RowSource:
        def fetch(after_id: int, limit: int) -> list[dict[str, Any]]:
            return refinements.list_refinements(self.project, after_id=after_id, limit=limit)

        return fetch

    def detail(self, refinement_id: int) -> dict[str, Any]:
        return refinements.detail(self.project, refinement_id)

    def accept(self, refinement_id: int) -> None:
        refinements.accept(self.project, refinement_id)

    def reject(self, refinement_id: int) -> None:
        refinements.reject(self.project, refinement_id)

    def edit(self, refinement_id: int, text: str, note: str | None = None) -> None:
        refinements.edit(self.project, refinement_id, text, note)

    def redo(self, refinement_id: int) -> None:
        """Mark for another refinement request: the next refine job redoes pending rows."""
        refinements.redo(self.project, refinement_id)

    def job(self) -> dict[str, Any] | None:
        """The refinement job to follow: a running one, else the latest."""
        return latest_job(self.project, ("refine",))

    @staticmethod
    def job_text(job: dict[str, Any]) -> str:
        """ "Refinement job 7: running — refining · 40 of 120 items · 0:31 elapsed · ETA 1:02"."""
        readable = job_progress(job)
        detail = readable.after_status()
        text = f"Refinement job {job['id']}: {job['status']}"
        return (
            text
            + (f" — {detail}" if detail else "")
            + (f" ({job['error']})" if job.get("error") else "")
        )

    def start_refine_job(self) -> int:
        from twt_backend.config import RefineConfig

        return start_job(self.project, "refine", dataclasses.asdict(RefineConfig()), name="refine")
