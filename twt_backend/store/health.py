"""Is project.sqlite a usable TwT store? A cheap `stat` first, then SQLite's own checks.

Each check returns None when fine, else one line saying what is wrong with the file.
The file itself is never opened with anything but SQLite: closing any other descriptor
of it would drop the POSIX locks of this process's SQLite connections, and another
process could then delete the WAL under them (their later commits would be lost).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from twt_backend.store.connection import open_readonly

MISSING = "missing"


def file_problem(db_path: Path) -> str | None:
    """What is wrong with the file itself (absent, not a file, empty), from `stat` only.
    Returns MISSING when there is no file at all."""
    if not db_path.exists():
        return MISSING
    if not db_path.is_file():
        return f"{db_path} is not a file"
    try:
        size = db_path.stat().st_size
    except OSError as exc:
        return f"{db_path} cannot be read ({exc.strerror})"
    if size == 0:
        return f"{db_path} is empty (0 bytes)"
    return None


def open_error(db_path: Path, exc: sqlite3.DatabaseError) -> str:
    """One line for what SQLite said when opening or reading the file."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_NOTADB" or "not a database" in str(exc):
        try:
            size = f" ({db_path.stat().st_size} bytes of something else)"
        except OSError:
            size = ""
        return f"{db_path} is not an SQLite database{size}"
    if name.startswith("SQLITE_CORRUPT") or "malformed" in str(exc):
        return f"{db_path} is damaged ({exc})"
    return f"{db_path} cannot be opened ({exc})"


def schema_version(conn: sqlite3.Connection, db_path: Path) -> tuple[int | None, str | None]:
    """(version, None) of a TwT store, or (None, what is wrong)."""
    try:
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if not has_meta:
            return None, f"{db_path} is an SQLite database but not a TwT project store"
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        return None, open_error(db_path, exc)
    if not row or not str(row[0]).isdigit():
        return None, f"{db_path} is not a TwT project store (no schema version)"
    return int(row[0]), None


def store_problem(db_path: Path, thorough: bool = False) -> str | None:
    """Everything above plus SQLite's quick_check (integrity_check when `thorough`)."""
    problem = file_problem(db_path)
    if problem is not None:
        return f"no {db_path}" if problem == MISSING else problem
    try:
        conn = open_readonly(db_path)
    except sqlite3.DatabaseError as exc:
        return open_error(db_path, exc)
    try:
        _, problem = schema_version(conn, db_path)
        if problem is not None:
            return problem
        pragma = "integrity_check" if thorough else "quick_check"
        result = [str(row[0]) for row in conn.execute(f"PRAGMA {pragma}").fetchmany(3)]
    except sqlite3.DatabaseError as exc:
        return open_error(db_path, exc)
    finally:
        conn.close()
    if result != ["ok"]:
        return f"{db_path} is damaged ({'; '.join(result)})"
    return None
