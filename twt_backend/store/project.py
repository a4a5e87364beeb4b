"""One project = one folder: `project.sqlite` plus `artifacts/`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

from twt_backend.errors import StoreVersionError, UsageError
from twt_backend.store.schema import MIGRATIONS, SCHEMA_VERSION

DB_NAME = "project.sqlite"
ARTIFACTS = "artifacts"
TASKS = ("code", "choice", "math")
BUSY_TIMEOUT_MS = 30_000


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def connect(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _read_version(conn: sqlite3.Connection) -> int:
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, db_path: Path | str = DB_NAME) -> int:
    """Bring the schema up to date; refuse a project from a newer version."""
    version = _read_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreVersionError(
            f"{db_path}: this project was written by a newer TwT Studio (schema version "
            f"{version}; this version understands up to {SCHEMA_VERSION}). Upgrade TwT Studio "
            "to open it."
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[number - 1](conn)
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(number),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


class Project:
    """An open project store. Cheap to open; one per thread or process."""

    def __init__(self, root: Path, conn: sqlite3.Connection):
        self.root = root
        self.conn = conn
        self.db = sqlite_utils.Database(conn)

    # ---- lifecycle -------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, task: str, name: str | None = None) -> Project:
        root = Path(root)
        if task not in TASKS:
            raise UsageError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
        if (root / DB_NAME).exists():
            raise UsageError(f"{root}: a project already exists here")
        root.mkdir(parents=True, exist_ok=True)
        (root / ARTIFACTS).mkdir(exist_ok=True)
        conn = connect(root / DB_NAME)
        migrate(conn, root / DB_NAME)
        project = cls(root, conn)
        with project.transaction():
            project.set_meta("task", task)
            project.set_meta("name", name or root.resolve().name)
            project.set_meta("created_at", utcnow())
        return project

    @classmethod
    def open(cls, root: str | Path) -> Project:
        root = Path(root)
        db_path = root / DB_NAME
        if not db_path.exists():
            raise UsageError(
                f"{root}: not a TwT project (no {DB_NAME}); create one with `twt init`"
            )
        conn = connect(db_path)
        try:
            migrate(conn, db_path)
        except BaseException:
            conn.close()
            raise
        (root / ARTIFACTS).mkdir(exist_ok=True)
        return cls(root, conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transactions ----------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction: everything inside lands, or nothing does."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ---- metadata --------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @property
    def task(self) -> str:
        return self.get_meta("task") or "math"

    @property
    def name(self) -> str:
        return self.get_meta("name") or self.root.name

    @property
    def artifacts(self) -> Path:
        return self.root / ARTIFACTS

    # ---- helpers ---------------------------------------------------------------------------
    def rows(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def scalar(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def audit(
        self,
        action: str,
        entity: str,
        entity_id: int | None,
        before: Any = None,
        after: Any = None,
        note: str | None = None,
        actor: str = "user",
    ) -> None:
        """Record a manual change. Call inside the transaction that makes the change."""
        self.conn.execute(
            "INSERT INTO audit_log(time, actor, action, entity, entity_id, before, after, note)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                utcnow(),
                actor,
                action,
                entity,
                entity_id,
                None if before is None else json.dumps(before, sort_keys=True),
                None if after is None else json.dumps(after, sort_keys=True),
                note,
            ),
        )

    def integrity_ok(self) -> bool:
        return self.scalar("PRAGMA integrity_check") == "ok"
