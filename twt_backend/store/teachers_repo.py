"""SQL of the `teachers` table: rows, one upsert by name, enable/disable, delete."""

from __future__ import annotations

from typing import Any

from twt_backend.store.project import Project, utcnow

_UPSERT = """
INSERT INTO teachers(name, provider, model, config, enabled, created_at)
VALUES (:name, :provider, :model, :config, :enabled, :now)
ON CONFLICT (name) DO UPDATE SET provider = excluded.provider, model = excluded.model,
    config = excluded.config, enabled = excluded.enabled
"""


def find_id(project: Project, name: str) -> int | None:
    found = project.scalar("SELECT id FROM teachers WHERE name = ?", (name,))
    return None if found is None else int(found)


def raw_config(project: Project, name: str) -> str | None:
    """The stored JSON config of a teacher (None: no such teacher)."""
    return project.scalar("SELECT config FROM teachers WHERE name = ?", (name,))


def upsert(
    project: Project, name: str, provider: str, model: str, config: str, enabled: bool
) -> int:
    """Insert a teacher, or replace every column but id and created_at of the one of that
    name. Returns its id."""
    params = {
        "name": name,
        "provider": provider,
        "model": model,
        "config": config,
        "enabled": int(enabled),
        "now": utcnow(),
    }
    with project.transaction() as conn:
        conn.execute(_UPSERT, params)
        return int(conn.execute("SELECT id FROM teachers WHERE name = ?", (name,)).fetchone()[0])


def insert_missing(project: Project, rows: list[tuple[str, str, str, str, bool]]) -> None:
    """Add (name, provider, model, config, enabled) rows, keeping teachers of the same name.
    Joins an open transaction of `project` (all or nothing with the caller's writes)."""
    now = utcnow()
    with project.transaction() as conn:
        conn.executemany(
            "INSERT OR IGNORE INTO teachers(name, provider, model, config, enabled, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(n, p, m, c, int(e), now) for n, p, m, c, e in rows],
        )


def set_enabled(project: Project, name: str, enabled: bool) -> bool:
    """Whether a teacher of that name was found."""
    with project.transaction() as conn:
        cursor = conn.execute(
            "UPDATE teachers SET enabled = ? WHERE name = ?", (int(enabled), name)
        )
        return cursor.rowcount > 0


def output_count(project: Project, name: str) -> int:
    return int(
        project.scalar(
            "SELECT COUNT(*) FROM generations g JOIN teachers t ON t.id = g.teacher_id"
            " WHERE t.name = ?",
            (name,),
        )
    )


def delete(project: Project, name: str) -> None:
    with project.transaction() as conn:
        conn.execute("DELETE FROM teachers WHERE name = ?", (name,))


def rows(project: Project) -> list[dict[str, Any]]:
    """Every teacher (id, name, provider, model, config JSON, enabled), in the order added."""
    return project.rows(
        "SELECT id, name, provider, model, config, enabled FROM teachers ORDER BY id"
    )


def names(project: Project) -> list[str]:
    return [r["name"] for r in project.rows("SELECT name FROM teachers ORDER BY name")]


def rows_with_totals(project: Project) -> list[dict[str, Any]]:
    """Teachers with their labelling totals: ok, failed, cost_usd."""
    return project.rows(
        "SELECT t.id, t.name, t.provider, t.model, t.config, t.enabled,"
        " SUM(g.status = 'ok') AS ok, SUM(g.status = 'failed') AS failed,"
        " COALESCE(SUM(g.cost_usd), 0) AS cost_usd"
        " FROM teachers t LEFT JOIN generations g ON g.teacher_id = t.id"
        " GROUP BY t.id ORDER BY t.id"
    )
