"""Automatic backups of project.sqlite, and `twt doctor --restore`.

Before every migration and before each destructive step (reselection, a refinement
rerun, a stage retrain) the store is copied with SQLite's online backup API (a
consistent snapshot, also while workers write) into `artifacts/backups/`, keeping the
newest N (`TWT_KEEP_BACKUPS`, default 5; 0 turns backups off). A restore takes the
newest backup that passes `PRAGMA integrity_check`, moves the current store (with its
`-wal`/`-shm` files) aside into `artifacts/backups/replaced-<time>/` and never deletes it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from twt_backend.errors import UsageError
from twt_backend.store.connection import ARTIFACTS, DB_NAME, open_readonly
from twt_backend.store.health import MISSING, file_problem, schema_version, store_problem
from twt_backend.store.locks import dead_reason

BACKUPS = "backups"
KEEP_ENV = "TWT_KEEP_BACKUPS"
DEFAULT_KEEP = 5
_PREFIX, _SUFFIX = "project-", ".sqlite"


def backups_dir(root: Path) -> Path:
    return Path(root) / ARTIFACTS / BACKUPS


def keep_count() -> int:
    """How many backups to keep: `TWT_KEEP_BACKUPS` (0 = none), else DEFAULT_KEEP."""
    raw = os.environ.get(KEEP_ENV, "").strip()
    if not raw:
        return DEFAULT_KEEP
    if not raw.isdigit():
        raise UsageError(f"{KEEP_ENV}={raw!r}: expected a whole number >= 0 (0: no backups)")
    return int(raw)


def list_backups(root: Path) -> list[Path]:
    """The backups of a project, newest first."""
    folder = backups_dir(root)
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"{_PREFIX}*{_SUFFIX}"), key=lambda p: p.name, reverse=True)


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def backup(conn: sqlite3.Connection, root: Path, reason: str) -> Path | None:
    """Copy the store behind `conn` into artifacts/backups/ and prune old copies.
    Returns the new file (None when backups are off)."""
    keep = keep_count()
    if keep == 0:
        return None
    folder = backups_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", reason.lower()).strip("-") or "backup"
    target = folder / f"{_PREFIX}{_stamp()}-{slug}{_SUFFIX}"
    partial = target.with_name(target.name + ".part")
    dest = sqlite3.connect(partial, isolation_level=None)
    try:
        conn.backup(dest)
        dest.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    finally:
        dest.close()
    os.replace(partial, target)
    prune(root, keep)
    return target


def backup_project(project: object, reason: str) -> Path | None:
    """`backup()` for an open Project (anything with `.conn` and `.root`)."""
    return backup(project.conn, project.root, reason)  # type: ignore[attr-defined]


def prune(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups (never anything else)."""
    removed = list_backups(root)[keep:]
    for path in removed:
        path.unlink(missing_ok=True)
    for partial in backups_dir(root).glob(f"{_PREFIX}*{_SUFFIX}.part"):
        if time.time() - partial.stat().st_mtime > 3600:  # an interrupted copy
            partial.unlink(missing_ok=True)
    return removed


def broken_store_message(root: Path, problem: str) -> str:
    """One line: what is wrong, that nothing was changed, and how to recover."""
    backups = list_backups(root)
    if backups:
        how = (
            f"restore the newest backup ({backups[0].name}, {len(backups)} kept) with "
            f"`twt doctor {root} --restore`"
        )
    else:
        how = (
            f"there is no backup in {backups_dir(root)}: restore the file from a copy of "
            f"yours, or move it aside and create the project again with `twt init {root}`"
        )
    return f"{problem}; it was left as it is. To recover, {how}"


def missing_store_message(root: Path) -> str:
    message = f"{root}: not a TwT project (no {DB_NAME}); create one with `twt init`"
    if list_backups(root):
        message += f", or bring back its last backup with `twt doctor {root} --restore`"
    return message


# ---- restore --------------------------------------------------------------------------------
@dataclass
class Restored:
    backup: Path  # the backup that is now project.sqlite
    aside: Path | None  # where the replaced store went (None: there was none)
    replaced_problem: str | None  # what was wrong with it (None: it was healthy)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # unusable newer backups


def usable_backup(path: Path, newest_version: int) -> str | None:
    """Why a backup cannot be restored (None: it can)."""
    problem = store_problem(path, thorough=True)
    if problem is not None:
        return problem
    conn = open_readonly(path)
    try:
        version, problem = schema_version(conn, path)
    finally:
        conn.close()
    if version is not None and version > newest_version:
        return f"{path.name} was written by a newer TwT Studio (schema version {version})"
    return problem


def _running_jobs(db_path: Path) -> list[int]:
    conn = open_readonly(db_path)
    try:
        cursor = conn.execute(
            "SELECT id, status, pid, host, heartbeat_at FROM jobs"
            " WHERE status IN ('queued', 'running')"
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()
    now, host = time.time(), socket.gethostname()
    return [r["id"] for r in rows if dead_reason(r, now, host) is None]


def restore(root: Path, newest_version: int) -> Restored:
    """Bring back the newest good backup; the current store is moved aside, not deleted."""
    root = Path(root)
    db_path = root / DB_NAME
    backups = list_backups(root)
    if not backups:
        raise UsageError(f"{root}: no backup in {backups_dir(root)}; nothing was changed")
    skipped: list[tuple[Path, str]] = []
    chosen = None
    for path in backups:
        problem = usable_backup(path, newest_version)
        if problem is None:
            chosen = path
            break
        skipped.append((path, problem))
    if chosen is None:
        raise UsageError(
            f"{root}: none of the {len(backups)} backup(s) in {backups_dir(root)} passes the "
            f"integrity check (newest: {skipped[0][1]}); nothing was changed"
        )
    current = file_problem(db_path)
    if current is None:
        current = store_problem(db_path)
    if current is None:
        running = _running_jobs(db_path)
        if running:
            raise UsageError(
                f"{root}: job {running[0]} is running on this store; cancel it "
                f"(`twt runs cancel {root} {running[0]}`) before restoring a backup"
            )
    elif current == MISSING:
        current = f"no {db_path}"
    aside = _move_aside(root)
    staging = root / f"{DB_NAME}.restoring"
    shutil.copyfile(chosen, staging)
    os.replace(staging, db_path)
    _note(aside, chosen, current)
    return Restored(chosen, aside, current, skipped)


def _move_aside(root: Path) -> Path | None:
    files = [root / f"{DB_NAME}{suffix}" for suffix in ("", "-wal", "-shm")]
    present = [f for f in files if f.exists()]
    if not present:
        return None
    folder = backups_dir(root) / f"replaced-{_stamp()}"
    folder.mkdir(parents=True)
    for path in present:
        shutil.move(str(path), str(folder / path.name))
    return folder


def _note(aside: Path | None, chosen: Path, problem: str | None) -> None:
    if aside is None:
        return
    note = {"replaced_by": chosen.name, "problem": problem, "at": _stamp()}
    (aside / "RESTORE.json").write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
