"""One project = one folder: `project.sqlite` plus `artifacts/`.

Only `Project.create` (`twt init`) makes a store; `Project.open` refuses a missing,
empty, foreign or damaged file with what is wrong and how to recover (see `backup`),
and never creates or rebuilds one. `Project.open(..., readonly=True)` is for commands
that only read: it works on a project the user cannot write (a shared folder).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

from twt_backend.errors import (
    BrokenStoreError,
    ReadOnlyProjectError,
    StoreVersionError,
    UsageError,
)
from twt_backend.store import backup as backups
from twt_backend.store.connection import (
    ARTIFACTS,
    BUSY_TIMEOUT_MS,
    DB_NAME,
    absolute,
    connect,
    open_readonly,
    use_wal,
    writable,
)
from twt_backend.store.health import MISSING, file_problem, open_error, schema_version
from twt_backend.store.schema import MIGRATIONS, SCHEMA_VERSION

TASKS = ("code", "choice", "math")
__all__ = ["ARTIFACTS", "BUSY_TIMEOUT_MS", "DB_NAME", "TASKS", "Project", "connect", "migrate"]


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _read_version(conn: sqlite3.Connection) -> int:
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 0


def _newer(db_path: Path | str, version: int) -> StoreVersionError:
    return StoreVersionError(
        f"{db_path}: this project was written by a newer TwT Studio (schema version "
        f"{version}; this version understands up to {SCHEMA_VERSION}). Upgrade TwT Studio "
        "to open it."
    )


def migrate(conn: sqlite3.Connection, db_path: Path | str = DB_NAME) -> int:
    """Bring the schema up to date; refuse a project from a newer version. An existing
    store is backed up (artifacts/backups/) before its first migration step."""
    version = _read_version(conn)
    if version > SCHEMA_VERSION:
        raise _newer(db_path, version)
    if 0 < version < SCHEMA_VERSION:
        root = Path(db_path).parent
        backups.backup(conn, root, f"before-migration-v{version}-to-v{SCHEMA_VERSION}")
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


def read_only_message(root: Path) -> str:
    return (
        f"{root}: the project is read-only here (its folder or {DB_NAME} cannot be written) "
        "and this command changes it; read commands (queries, samples, teacher list, runs, "
        "report, doctor) still work, or copy the folder somewhere writable"
    )


def _checked_version(conn: sqlite3.Connection, root: Path, db_path: Path) -> int:
    version, problem = schema_version(conn, db_path)
    if version is None:
        raise BrokenStoreError(backups.broken_store_message(root, str(problem)))
    if version > SCHEMA_VERSION:
        raise _newer(db_path, version)
    return version


def _publish(building: Path, db_path: Path, root: Path) -> None:
    """Give the finished store its name, unless another process made one meanwhile."""
    try:
        os.link(building, db_path)
    except FileExistsError:
        raise UsageError(f"{root}: a project already exists here") from None
    except OSError:  # a file system without hard links
        if db_path.exists():
            raise UsageError(f"{root}: a project already exists here") from None
        os.replace(building, db_path)


class Project:
    """An open project store. Cheap to open; one per thread or process."""

    def __init__(self, root: Path, conn: sqlite3.Connection, readonly: bool = False):
        self.root = root
        self.conn = conn
        self.readonly = readonly
        self.db = sqlite_utils.Database(conn)

    # ---- lifecycle -------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, task: str, name: str | None = None) -> Project:
        """Make a new store. It is built beside the final name and linked into place when
        complete, so no other process ever sees a half-made project.sqlite."""
        root = absolute(root)
        if task not in TASKS:
            raise UsageError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
        db_path = root / DB_NAME
        if db_path.exists() or db_path.is_symlink():
            raise UsageError(f"{root}: a project already exists here")
        root.mkdir(parents=True, exist_ok=True)
        (root / ARTIFACTS).mkdir(exist_ok=True)
        building = root / f"{DB_NAME}.creating-{os.getpid()}"
        conn = connect(building, "rwc")
        try:
            migrate(conn, building)
            conn.execute("BEGIN IMMEDIATE")
            for key, value in (
                ("task", task),
                ("name", name or root.name),
                ("created_at", utcnow()),
            ):
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
            conn.execute("COMMIT")
            conn.close()  # checkpoints the WAL into the file
            _publish(building, db_path, root)
        finally:
            conn.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{building}{suffix}").unlink(missing_ok=True)
        return cls.open(root)

    @classmethod
    def open(cls, root: str | Path, readonly: bool = False) -> Project:
        """Open an existing store (never creates one). `readonly` opens it with
        `mode=ro` and writes nothing, also where the folder cannot be written."""
        root = absolute(root)
        db_path = root / DB_NAME
        problem = file_problem(db_path)
        if problem == MISSING:
            raise BrokenStoreError(backups.missing_store_message(root))
        if problem is not None:
            raise BrokenStoreError(backups.broken_store_message(root, problem))
        can_write = writable(db_path) and writable(root)
        if not readonly and not can_write:
            raise ReadOnlyProjectError(read_only_message(root))
        try:
            conn = open_readonly(db_path) if readonly else connect(db_path, "rw", wal=False)
        except sqlite3.DatabaseError as exc:
            raise BrokenStoreError(
                backups.broken_store_message(root, open_error(db_path, exc))
            ) from None
        try:
            version = _checked_version(conn, root, db_path)
            if not readonly:
                use_wal(conn)
            if version < SCHEMA_VERSION and not readonly:
                migrate(conn, db_path)
            elif version < SCHEMA_VERSION and can_write:
                cls.open(root).close()  # upgrade once; this read-only view then sees it
        except BaseException:
            conn.close()
            raise
        if not readonly:
            (root / ARTIFACTS).mkdir(exist_ok=True)
        return cls(root, conn, readonly)

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
        if self.readonly:
            raise ReadOnlyProjectError(
                f"{self.root}: opened read-only; this step would change the project"
            )
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
