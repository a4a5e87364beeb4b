"""Reads of the jobs, job events and metrics tables that the operations layer and the front
ends need (job rows are written by `twt_backend.jobs`)."""

from __future__ import annotations

from typing import Any

from twt_backend.store.project import Project

LIST_COLUMNS = (
    "id, kind, name, status, config, progress, created_at, started_at, finished_at, error"
)


def latest_of_kinds(project: Project, kinds: tuple[str, ...]) -> int | None:
    """The id of the newest job of these kinds, an active one first."""
    marks = ",".join("?" * len(kinds))
    return project.scalar(  # type: ignore[no-any-return]
        f"SELECT id FROM jobs WHERE kind IN ({marks}) ORDER BY "
        "status IN ('queued', 'running') DESC, id DESC LIMIT 1",
        kinds,
    )


def latest_with_lock(
    project: Project, kind: str, lock_key: str | None, exclude: int | None = None
) -> int | None:
    """The id of the newest job of this kind and target (its lock key: `train:3`,
    `eval:stage2`, `generate`...), other than `exclude`."""
    return project.scalar(  # type: ignore[no-any-return]
        "SELECT id FROM jobs WHERE kind=? AND lock_key IS ? AND id IS NOT ? "
        "ORDER BY id DESC LIMIT 1",
        (kind, lock_key, exclude),
    )


def rows_of_kinds(project: Project, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    """Job rows (config and progress as stored JSON text) of these kinds, newest first."""
    marks = ",".join("?" * len(kinds))
    return project.rows(
        f"SELECT {LIST_COLUMNS} FROM jobs WHERE kind IN ({marks}) ORDER BY id DESC", kinds
    )


def children(project: Project, parent_id: int) -> list[int]:
    """The ids of the jobs a job started (a pipeline's steps), oldest first."""
    rows = project.rows("SELECT id FROM jobs WHERE parent_id=? ORDER BY id", (parent_id,))
    return [int(row["id"]) for row in rows]


def metrics_since(
    project: Project, job_id: int, after_id: int
) -> list[tuple[int, float, str, float]]:
    """(row id, step, name, value) of a job's metrics written after row `after_id`."""
    return [
        tuple(row)
        for row in project.conn.execute(
            "SELECT id, step, name, value FROM metrics WHERE job_id=? AND id>? ORDER BY id",
            (job_id, after_id),
        ).fetchall()
    ]


def queries_in_split(project: Project, split: str) -> int:
    return int(project.scalar("SELECT COUNT(*) FROM queries WHERE split=?", (split,)) or 0)


def latest_label_time(project: Project) -> str | None:
    """When the newest ok label answer of a train query was written (None: there is none;
    test-split answers of `twt eval --teacher` are no training data)."""
    return project.scalar(  # type: ignore[no-any-return]
        "SELECT MAX(g.updated_at) FROM generations g JOIN queries q ON q.id = g.query_id "
        "WHERE g.purpose='label' AND g.status='ok' AND q.split='train'"
    )
