"""Refinement controller: teacher-guided compressions, word-level diffs, accept/edit/redo."""

from __future__ import annotations

import dataclasses
import difflib
import html
import re
from typing import Any

from twt_backend.progress import job_progress
from twt_backend.store import Project, utcnow
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


def token_count(text: str | None) -> int:
    """Whitespace word count: a cheap stand-in when the stored token counts are missing."""
    return len((text or "").split())


class RefinementController:
    def __init__(self, project: Project):
        self.project = project

    def count(self) -> int:
        return int(self.project.scalar("SELECT COUNT(*) FROM refinements"))

    def source(self) -> RowSource:
        def fetch(after_id: int, limit: int) -> list[dict[str, Any]]:
            return self.project.rows(
                "SELECT r.id, r.generation_id, g.query_id, t.name AS teacher, r.round, r.method,"
                " r.status, r.tokens_original, r.tokens_refined"
                " FROM refinements r JOIN generations g ON g.id = r.generation_id"
                " JOIN teachers t ON t.id = g.teacher_id WHERE r.id > ? ORDER BY r.id LIMIT ?",
                (after_id, limit),
            )

        return fetch

    def detail(self, refinement_id: int) -> dict[str, Any]:
        row = self.project.rows(
            "SELECT r.*, COALESCE(e.rationale, g.rationale) AS original FROM refinements r"
            " JOIN generations g ON g.id = r.generation_id"
            " LEFT JOIN sample_edits e ON e.generation_id = g.id AND e.version ="
            " (SELECT MAX(version) FROM sample_edits WHERE generation_id = g.id)"
            " WHERE r.id = ?",
            (refinement_id,),
        )[0]
        row["refined"] = row["edited_text"] or row["refined_text"] or ""
        row["tokens_original"] = row["tokens_original"] or token_count(row["original"])
        row["tokens_refined"] = row["tokens_refined"] or token_count(row["refined"])
        row["tokens_student"] = token_count(row["student_output"])
        return row

    def _update(
        self, refinement_id: int, action: str, changes: dict[str, Any], note: str | None = None
    ) -> None:
        before = self.project.rows(
            f"SELECT {', '.join(changes)} FROM refinements WHERE id=?", (refinement_id,)
        )[0]
        assignments = ", ".join(f"{k}=?" for k in changes)
        with self.project.transaction() as conn:
            conn.execute(
                f"UPDATE refinements SET {assignments}, updated_at=? WHERE id=?",
                (*changes.values(), utcnow(), refinement_id),
            )
            self.project.audit(action, "refinement", refinement_id, before, changes, note)

    def accept(self, refinement_id: int) -> None:
        self._update(refinement_id, "accept", {"status": "accepted"})

    def reject(self, refinement_id: int) -> None:
        self._update(refinement_id, "reject", {"status": "rejected"})

    def edit(self, refinement_id: int, text: str, note: str | None = None) -> None:
        self._update(
            refinement_id, "edit", {"edited_text": text, "tokens_refined": token_count(text)}, note
        )

    def redo(self, refinement_id: int) -> None:
        """Mark for another refinement request: the next refine job redoes pending rows."""
        self._update(refinement_id, "redo", {"status": "pending", "edited_text": None})

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
