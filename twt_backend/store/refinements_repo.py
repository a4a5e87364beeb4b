"""SQL of the `refinements` table, and the rules that protect reviewed rows, in one place:

* PROTECTED rows (accepted, rejected) and hand-edited rows are never touched by the refine
  job: `plan_rows` marks them, `write_round`'s upsert skips them;
* what trains (`trained_texts`): ok and accepted rows, and a hand edit of any row that is
  not rejected; the edit wins over the rewrite; a rejected row never trains;
* review (ops/refinements.py) changes only the review columns (`update`), audited.
"""

from __future__ import annotations

from typing import Any

from twt_backend.store.project import Project, utcnow

STATUSES = ("pending", "ok", "failed", "accepted", "rejected")
PROTECTED = ("accepted", "rejected")
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


# ---- the refine job's rows -----------------------------------------------------------------
_UPSERT = """
INSERT INTO refinements(generation_id, round, method, student_output, refine_generation_id,
    refined_text, status, tokens_original, tokens_refined, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (generation_id, round) DO UPDATE SET method = excluded.method,
    student_output = excluded.student_output,
    refine_generation_id = excluded.refine_generation_id, refined_text = excluded.refined_text,
    status = excluded.status, tokens_original = excluded.tokens_original,
    tokens_refined = excluded.tokens_refined, updated_at = excluded.updated_at
WHERE refinements.status NOT IN ('accepted', 'rejected')
    AND COALESCE(refinements.edited_text, '') = ''
    AND (refinements.method IS NOT excluded.method
        OR refinements.status IS NOT excluded.status
        OR refinements.refined_text IS NOT excluded.refined_text
        OR refinements.student_output IS NOT excluded.student_output
        OR refinements.refine_generation_id IS NOT excluded.refine_generation_id
        OR refinements.tokens_refined IS NOT excluded.tokens_refined)
"""


def is_protected(row: dict[str, Any]) -> bool:
    """A reviewed row: the refine job keeps it as it is."""
    return row["status"] in PROTECTED or bool(row["edited_text"])


def write_round(project: Project, round_: int, rows: list[tuple[Any, ...]]) -> dict[str, int]:
    """Upsert (generation_id, round, method, student_output, refine_generation_id,
    refined_text, status, tokens_original, tokens_refined, created_at, updated_at) rows,
    leaving reviewed rows as they are; returns the round's status counts."""
    with project.transaction() as conn:
        conn.executemany(_UPSERT, rows)
    counted = project.rows(
        "SELECT status, COUNT(*) AS n FROM refinements WHERE round = ? GROUP BY status",
        (round_,),
    )
    return {row["status"]: row["n"] for row in counted}


def plan_rows(project: Project, round_: int) -> dict[int, dict[str, Any]]:
    """generation_id -> refinement row of the round, with its request's hash and status."""
    rows = project.rows(
        "SELECT r.*, g.request_hash AS prev_hash, g.status AS prev_status,"
        " g.parse_status AS prev_parse FROM refinements r"
        " LEFT JOIN generations g ON g.id = r.refine_generation_id WHERE r.round = ?",
        (round_,),
    )
    return {row["generation_id"]: row for row in rows}


def trained_texts(project: Project, round_: int) -> dict[int, str]:
    """generation_id -> the text a round's row trains on (see the module doc)."""
    rows = project.rows(
        "SELECT generation_id, COALESCE(NULLIF(edited_text, ''), refined_text) AS text "
        "FROM refinements WHERE round = ? AND (status IN ('ok', 'accepted') OR "
        "(COALESCE(edited_text, '') != '' AND status != 'rejected'))",
        (round_,),
    )
    return {row["generation_id"]: row["text"] for row in rows if row["text"]}
