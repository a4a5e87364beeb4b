"""Named runs (variants) of the pipeline inside one project.

A run is a name and its settings (selection, teachers, stage and refinement settings).
"main" is the project itself: its tables and `artifacts/stages`, as every project had
before runs existed. Every other run is a store of its own in `artifacts/runs/NAME/`, so
all the code that works on a project (selection, training, refinement, inference,
evaluation, reports, the app) works on a run unchanged, and a run's adapters, selection,
rewrites, student answers and evaluations can never mix with another's.

A run shares the project's labelled data: when it is made, its store is seeded from the
project's queries, teachers, label answers with their manual edits and overrides, and the
embedding cache (nothing is asked of a teacher again, nothing re-embedded). Later label
answers of the project do not flow into an existing run (its selection would silently
change); the project's queries, embeddings and teacher evaluations do, at each `twt run`.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from twt_backend.errors import UsageError
from twt_backend.store.connection import DB_NAME, uri
from twt_backend.store.project import Project, utcnow

MAIN = "main"
RUNS_FOLDER = Path("artifacts") / "runs"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

# Seeded once, when the run is made: (table, columns or "*", WHERE clause); the label
# answers of the run's teachers only (`:teachers`, a JSON list; empty: every teacher).
_SEED = (
    ("teachers", "*", ""),
    ("generations", "*", "WHERE purpose = 'label' AND (json_array_length(:teachers) = 0 OR "
     "teacher_id IN (SELECT t.id FROM src.teachers t, json_each(:teachers) j "
     "WHERE t.name = j.value))"),
    ("sample_edits", "*", "WHERE generation_id IN (SELECT id FROM main.generations)"),
)  # fmt: skip
# Copied again at every sync (never written by a run itself, so ids cannot collide).
_SHARED = (
    ("queries", "*", ""),
    ("embeddings", "*", ""),
    ("similarities", "*", ""),
)
_OVERRIDE_COLUMNS = "generation_id, query_id, override, override_note, override_at"


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise UsageError(
            f"run name {name!r}: use letters, digits, '.', '_' or '-' (at most 64, "
            "starting with a letter or digit)"
        )
    return name


def run_root(project: Project, name: str) -> Path:
    """The folder of a run's store: the project folder itself for main."""
    if check_name(name) == MAIN:
        return project.root
    return project.root / RUNS_FOLDER / name


def list_runs(project: Project) -> list[dict[str, Any]]:
    rows = project.rows("SELECT * FROM variants ORDER BY name != 'main', created_at, name")
    for row in rows:
        row["settings"] = json.loads(row["settings"] or "{}")
        row["path"] = str((project.root / row["folder"]).resolve())
    return rows


def get_run(project: Project, name: str) -> dict[str, Any] | None:
    return next((r for r in list_runs(project) if r["name"] == name), None)


def open_run(project: Project, name: str, readonly: bool = False) -> Project:
    """The open store of a run (the project itself for main: a second connection)."""
    if name != MAIN and get_run(project, name) is None:
        known = ", ".join(r["name"] for r in list_runs(project))
        raise UsageError(f"{project.root}: no run named {name!r} (runs: {known})")
    return Project.open(run_root(project, name), readonly=readonly)


def create_run(project: Project, name: str, settings: dict[str, Any]) -> Project:
    """Make run `name`'s store, seeded from the project, and record it; the open store.
    With ``settings["teachers"]``, only those teachers' label answers are shared (the
    others stay in the run's teacher list, disabled).

    All or nothing: a failure removes the half-made folder and records nothing."""
    if check_name(name) == MAIN or get_run(project, name) is not None:
        raise UsageError(f"run {name!r} exists already")
    root = run_root(project, name)
    if root.exists():
        raise UsageError(f"{root}: exists but is no run of this project; move it away")
    try:
        run = Project.create(root, project.task, name=f"{project.name}/{name}")
        try:
            _seed(run, project, list(settings.get("teachers") or []))
        except BaseException:
            run.close()
            raise
        now = utcnow()
        with project.transaction() as conn:
            conn.execute(
                "INSERT INTO variants(name, folder, settings, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, str(RUNS_FOLDER / name), json.dumps(settings, sort_keys=True), now, now),
            )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return run


def _attached(run: Project, project: Project) -> _Attach:
    return _Attach(run.conn, project.root / DB_NAME)


class _Attach:
    """The project's store attached read-only to a run's connection as `src`."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn, self.path = conn, path

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("ATTACH DATABASE ? AS src", (uri(self.path, "ro"),))
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.execute("DETACH DATABASE src")


def _copy(
    conn: sqlite3.Connection, table: str, columns: str, where: str, verb: str, **params: Any
) -> None:
    conn.execute(
        f"INSERT OR {verb} INTO main.{table} SELECT {columns} FROM src.{table} {where}",  # noqa: S608
        params,
    )


def _seed(run: Project, project: Project, teachers: list[str]) -> None:
    with _attached(run, project) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT OR REPLACE INTO main.meta SELECT key, value FROM src.meta "
                "WHERE key LIKE 'config.%'"
            )
            for table, columns, where in _SHARED + _SEED:  # queries before what refers to them
                chosen = {"teachers": json.dumps(teachers)} if ":teachers" in where else {}
                _copy(conn, table, columns, where, "IGNORE", **chosen)
            conn.execute(
                f"INSERT INTO main.selections({_OVERRIDE_COLUMNS}) "  # noqa: S608
                f"SELECT {_OVERRIDE_COLUMNS} FROM src.selections WHERE override IS NOT NULL "
                "AND generation_id IN (SELECT id FROM main.generations)"
            )
            if teachers:
                marks = ",".join("?" * len(teachers))
                conn.execute(f"UPDATE teachers SET enabled = (name IN ({marks}))", teachers)  # noqa: S608
            _copy_teacher_evals(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def sync_run(project: Project, run: Project) -> None:
    """Bring the project's queries, embeddings and teacher evaluations into a run."""
    with _attached(run, project) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table, columns, where in _SHARED:
                _copy(conn, table, columns, where, "IGNORE")
            _copy_teacher_evals(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _copy_teacher_evals(conn: sqlite3.Connection) -> None:
    """The teachers' answers to the test split (`twt eval --teacher`): the same for every
    run, so each run's report has the teacher rows. Keyed by (method, query), not id."""
    columns = "method, query_id, job_id, output, answer, tokens, correct, prompt_mode, created_at"
    conn.execute("DELETE FROM main.eval_results WHERE method LIKE 'teacher:%'")
    conn.execute(
        f"INSERT INTO main.eval_results({columns}) SELECT {columns} "  # noqa: S608
        "FROM src.eval_results WHERE method LIKE 'teacher:%'"
    )


def forget_run(project: Project, name: str) -> None:
    """Remove a run's record and folder (a run whose making failed half-way)."""
    if check_name(name) == MAIN:
        raise UsageError("the main run is the project itself")
    with project.transaction() as conn:
        conn.execute("DELETE FROM variants WHERE name = ?", (name,))
    shutil.rmtree(run_root(project, name), ignore_errors=True)


def update_settings(project: Project, name: str, settings: dict[str, Any]) -> None:
    with project.transaction() as conn:
        conn.execute(
            "UPDATE variants SET settings = ?, updated_at = ? WHERE name = ?",
            (json.dumps(settings, sort_keys=True), utcnow(), name),
        )
