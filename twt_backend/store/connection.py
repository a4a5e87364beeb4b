"""Opening project.sqlite: URIs that never create a file, read-only opening, writability.

`sqlite3.connect(path)` creates a missing file, which would silently turn a lost or
broken store into an empty project; every connection here names its mode in a `file:`
URI instead (`rwc` only for `twt init`). A read-only connection (`mode=ro`) of a WAL
store still needs the `-shm` file or a writable folder to create it; where neither
exists (a read-only share) it falls back to `immutable=1`, which reads the file as it is.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

DB_NAME = "project.sqlite"
ARTIFACTS = "artifacts"
BUSY_TIMEOUT_MS = 30_000


def absolute(path: str | Path) -> Path:
    """The absolute form of a folder given on a command line (`..` folded, links kept)."""
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def uri(db_path: Path, mode: str, immutable: bool = False) -> str:
    """A `file:` URI for sqlite3 (percent-encoded, so any folder name works)."""
    query = f"mode={mode}" + ("&immutable=1" if immutable else "")
    return f"{absolute(db_path).as_uri()}?{query}"


def connect(
    db_path: Path, mode: str = "rw", immutable: bool = False, wal: bool = True
) -> sqlite3.Connection:
    """A connection in autocommit mode; `mode` is `rw` (existing file), `ro` or `rwc`.
    `wal=False` leaves the journal mode alone (set it with `use_wal` once the file is known
    to be a TwT store: switching a foreign file to WAL would change it)."""
    conn = sqlite3.connect(
        uri(db_path, mode, immutable),
        uri=True,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if wal and mode != "ro":
            use_wal(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def use_wal(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")


def writable(path: Path) -> bool:
    """Whether this process may write `path` (False on a read-only mount or an immutable
    file or folder, also for root; `chmod` alone does not stop root)."""
    return os.access(path, os.W_OK)


def open_readonly(db_path: Path) -> sqlite3.Connection:
    """A read-only connection; `immutable=1` where the folder cannot hold the WAL index."""
    try:
        conn = connect(db_path, "ro")
    except sqlite3.OperationalError:
        if writable(db_path.parent):
            raise
    else:
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            conn.close()
            if writable(db_path.parent):
                raise
    return connect(db_path, "ro", immutable=True)
