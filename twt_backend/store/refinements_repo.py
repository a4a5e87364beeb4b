"""SQL of the `refinements` table for review: listing, one row with the text it compressed,
and audited updates. (The refine job writes rows with hard/refine.py's upsert.)"""

from __future__ import annotations

from typing import Any

from twt_backend.store.project import Project, utcnow

STATUSES = ("pending", "ok", "failed", "accepted", "rejected")
COLUMNS = frozenset(("status", "edited_text", "tokens_refined"))

_LIST = (
    "SELECT r.id, r.generation_id, g.query_id, t.name AS teacher, r.round, r.method,"
    " r.status, r.tokens_original, r.tokens_refined,"
    " COALESCE(NULLIF(r.edited_text, ''), r.refined_text) AS refined,"
    " COALESCE(r.edited_text, '') != '' AS edited"
    " FROM refinements r JOIN generations g ON g.id = r.generation_id"
    " JOIN teachers t ON t.id = g.teacher_id WHERE r.id > ?"
)


def count(project: Project) -> int:
    return int(project.scalar("SELECT COUNT(*) FROM refinements"))


def page(
    project: Project,
    after_id: int = 0,
    limit: int = -1,
    round_: int | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Rows after `after_id` in id order (limit -1: all), optionally of one round/status."""
    sql, params = _LIST, [after_id]
    if round_ is not None:
        sql, params = sql + " AND r.round = ?", [*params, round_]
    if status is not None:
        sql, params = sql + " AND r.status = ?", [*params, status]
    return project.rows(sql + " ORDER BY r.id LIMIT ?", (*params, limit))


def get(project: Project, refinement_id: int) -> dict[str, Any] | None:
    """One row with `original`: the teacher's rationale as edited (latest sample edit)."""
    rows = project.rows(
        "SELECT r.*, COALESCE(e.rationale, g.rationale) AS original FROM refinements r"
        " JOIN generations g ON g.id = r.generation_id"
        " LEFT JOIN sample_edits e ON e.generation_id = g.id AND e.version ="
        " (SELECT MAX(version) FROM sample_edits WHERE generation_id = g.id)"
        " WHERE r.id = ?",
        (refinement_id,),
    )
    return rows[0] if rows else None


def update(
    project: Project,
    refinement_id: int,
    action: str,
    changes: dict[str, Any],
    before: dict[str, Any],
    note: str | None = None,
) -> None:
    """Change review columns of one row and record it in the audit log, in one transaction."""
    unknown = set(changes) - COLUMNS
    if unknown:
        raise ValueError(f"not a review column: {', '.join(sorted(unknown))}")
    assignments = ", ".join(f"{k} = ?" for k in changes)
    with project.transaction() as conn:
        conn.execute(
            f"UPDATE refinements SET {assignments}, updated_at = ? WHERE id = ?",
            (*changes.values(), utcnow(), refinement_id),
        )
        project.audit(action, "refinement", refinement_id, before, changes, note)


def active_jobs(project: Project, kind: str) -> int:
    """Jobs of this kind queued or running (reap stale workers first)."""
    return int(
        project.scalar(
            "SELECT COUNT(*) FROM jobs WHERE kind = ? AND status IN ('queued', 'running')",
            (kind,),
        )
    )


def refine_summary(project: Project, job_id: int) -> str | None:
    """The JSON summary a refine job recorded when it ended (its last `refine_done` event)."""
    rows = project.rows(
        "SELECT payload FROM job_events WHERE job_id = ? AND type = 'refine_done' ORDER BY id",
        (job_id,),
    )
    return rows[-1]["payload"] if rows else None
