"""Refinement review: list, accept, reject, edit, redo; shared by `twt refinements` and the
app's Refinement page.

The rules that protect reviewed rows live with their SQL in store/refinements_repo.py
(the refine plan, the job's upsert and the training data all use them):

* the refine job never touches an accepted, rejected or hand-edited row;
* training on a round uses ok and accepted rows, and a hand edit of any row not rejected;
  a rejected row never trains;
* redo sets a row back to `pending` (dropping its edit and review): the next refine job
  asks its teacher again under a new cache key (hard/refine_plan.py).

So review refuses, with one line, what would be lost or have no effect: accepting a row
without text, editing a rejected row (the edit would never train) or with no text, a
second accept/reject/redo of the same row, a redo of a fixed-length row (the same
truncation again) or while a refine job runs (it would overwrite the redo).
"""

from __future__ import annotations

from typing import Any

from twt_backend.errors import UsageError
from twt_backend.store import Project
from twt_backend.store import refinements_repo as repo

STATUSES = repo.STATUSES


def token_count(text: str | None) -> int:
    """Whitespace word count: a cheap stand-in when the stored token counts are missing."""
    return len((text or "").split())


def count(project: Project) -> int:
    return repo.count(project)


def list_refinements(
    project: Project,
    round_: int | None = None,
    status: str | None = None,
    after_id: int = 0,
    limit: int = -1,
) -> list[dict[str, Any]]:
    """Rows in id order: id, generation_id, query_id, teacher, round, method, status,
    tokens, `refined` (the edit if any, else the rewrite) and `edited`."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
    rows = repo.page(project, after_id, limit, round_, status)
    for row in rows:
        row["edited"] = bool(row["edited"])
    return rows


def job_summary(project: Project, job_id: int) -> str | None:
    """The JSON summary of a finished refine job (None when it recorded none)."""
    return repo.refine_summary(project, job_id)


def _row(project: Project, refinement_id: int) -> dict[str, Any]:
    row = repo.get(project, refinement_id)
    if row is None:
        raise UsageError(f"no refinement {refinement_id} in {project.root}")
    return row


def detail(project: Project, refinement_id: int) -> dict[str, Any]:
    """One row with its `original` (the rationale it compressed), `refined` (edit first)
    and token counts (whitespace words where the job stored none)."""
    row = _row(project, refinement_id)
    row["refined"] = row["edited_text"] or row["refined_text"] or ""
    row["tokens_original"] = row["tokens_original"] or token_count(row["original"])
    row["tokens_refined"] = row["tokens_refined"] or token_count(row["refined"])
    row["tokens_student"] = token_count(row["student_output"])
    return row


def _refuse(row: dict[str, Any], reason: str) -> None:
    raise UsageError(f"refinement {row['id']}: {reason}")


def _change(
    project: Project,
    row: dict[str, Any],
    action: str,
    changes: dict[str, Any],
    note: str | None = None,
) -> None:
    before = {k: row[k] for k in changes}
    repo.update(project, row["id"], action, changes, before, note)


def accept(project: Project, refinement_id: int, note: str | None = None) -> None:
    row = _row(project, refinement_id)
    if row["status"] == "accepted":
        _refuse(row, "already accepted")
    if not (row["edited_text"] or row["refined_text"]):
        _refuse(row, f"no text to accept (status {row['status']}); edit it or redo it")
    _change(project, row, "accept", {"status": "accepted"}, note)


def reject(project: Project, refinement_id: int, note: str | None = None) -> None:
    row = _row(project, refinement_id)
    if row["status"] == "rejected":
        _refuse(row, "already rejected")
    _change(project, row, "reject", {"status": "rejected"}, note)


def edit(project: Project, refinement_id: int, text: str, note: str | None = None) -> None:
    row = _row(project, refinement_id)
    if not text.strip():
        _refuse(row, "the edited text is empty; reject the row instead")
    if row["status"] == "rejected":
        _refuse(row, "rejected rows never train; accept or redo it before editing")
    changes = {"edited_text": text, "tokens_refined": token_count(text)}
    _change(project, row, "edit", changes, note)


def redo(project: Project, refinement_id: int, note: str | None = None) -> None:
    """Ask the teacher again at the next refine job (drops the row's edit and review)."""
    from twt_backend import jobs

    row = _row(project, refinement_id)
    if row["method"] == "fixed-length":
        _refuse(row, "fixed-length truncation would give the same text; edit it instead")
    if row["status"] == "pending" and not row["edited_text"]:
        _refuse(row, "already waiting for the next refine job")
    if not project.readonly:
        jobs.reap_stale(project)
    if repo.active_jobs(project, "refine"):
        _refuse(row, "a refine job is running; redo it when the job has ended")
    _change(project, row, "redo", {"status": "pending", "edited_text": None}, note)
