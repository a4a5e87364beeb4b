"""Per-project job locks: one job at a time per kind of work that spends money or writes
the same rows, and the liveness rules that free the lock of a dead job.

A job's lock key (`jobs.lock_key`, from `lock_key(kind, config)`) is taken when its row
becomes active (queued or running) inside the same `BEGIN IMMEDIATE` transaction that
checks for a conflicting active job, so two starts at the same moment cannot both win:

    generate -> "generate"          select -> "select"        refine -> "refine"
    train    -> "train:<stage or baseline>"                   infer -> "infer:<stage>"
    eval     -> "eval:<method>"     pipeline -> "*" (every key: it runs all of them)
    check    -> no lock

A job started by another job (`jobs.parent_id`: a pipeline's steps, a refinement's
student answers) runs under its ancestors' locks. A holder whose worker is gone
(`dead_reason`) is settled on the spot, so a killed job never holds a lock for long.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from typing import Any

WILDCARD = "*"
STALE_AFTER_S = 20.0  # a running job of another host silent this long is dead
LOCAL_STALE_AFTER_S = 600.0  # ... and on this host, where a live pid says more
QUEUED_GRACE_S = 120.0  # a worker must start within this (imports can take a while)

_NOUNS = {
    "generate": "labelling",
    "select": "selection",
    "refine": "refinement",
    "train": "training",
    "infer": "student-answers",
    "eval": "evaluation",
}


def lock_key(kind: str, config: Mapping[str, Any]) -> str | None:
    """The lock a job of this kind and config holds while active (None: no lock)."""
    if kind == "pipeline":
        return WILDCARD
    if kind in ("generate", "select", "refine"):
        return kind
    if kind == "train":
        return f"train:{config.get('baseline') or int(config.get('stage', 0))}"
    if kind == "infer":
        return f"infer:{int(config.get('stage', 1))}"
    if kind == "eval":
        method = config.get("method") or config.get("baseline")
        return f"eval:{method or 'stage' + str(int(config.get('stage', 0)))}"
    return None


def conflicts(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    return a == b or WILDCARD in (a, b)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (finished child not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def dead_reason(job: Mapping[str, Any], now: float, host: str) -> tuple[str, str] | None:
    """(status to record, why) for an active job whose worker is gone; None while it may
    live. On this host the worker's pid decides (a busy worker may miss heartbeats; a
    very old heartbeat covers a reused pid); elsewhere only the heartbeat can. A worker
    that exited while its job was still queued could not start (failed); one that died
    running, or never started, left a resumable job (interrupted)."""
    beat = job["heartbeat_at"] or 0.0
    here = job["host"] == host
    silent = now - beat
    if job["status"] == "running":
        if here and not pid_alive(job["pid"]):
            return "interrupted", "its worker process is gone"
        if silent > (LOCAL_STALE_AFTER_S if here else STALE_AFTER_S):
            return "interrupted", f"no heartbeat from its worker for {silent:.0f} s"
        return None
    if job["pid"] and here and not pid_alive(job["pid"]):
        return "failed", "its worker exited before the job started"
    if silent > max(STALE_AFTER_S, QUEUED_GRACE_S):
        return "interrupted", f"its worker did not start within {QUEUED_GRACE_S:.0f} s"
    return None


def _ancestors(conn: sqlite3.Connection, parent_id: int | None) -> set[int]:
    seen: set[int] = set()
    current = parent_id
    while current and current not in seen:
        seen.add(current)
        row = conn.execute("SELECT parent_id FROM jobs WHERE id=?", (current,)).fetchone()
        current = row[0] if row else None
    return seen


def holders(
    conn: sqlite3.Connection, key: str | None, parent_id: int | None, exclude_id: int | None
) -> list[dict[str, Any]]:
    """Active jobs whose lock conflicts with `key`, other than the new job's ancestors."""
    if key is None:
        return []
    allowed = _ancestors(conn, parent_id)
    cursor = conn.execute(
        "SELECT id, kind, name, status, pid, host, heartbeat_at, lock_key, artifact_dir"
        " FROM jobs WHERE status IN ('queued', 'running') AND lock_key IS NOT NULL"
        " AND id IS NOT ? ORDER BY id",
        (exclude_id,),
    )
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return [r for r in rows if r["id"] not in allowed and conflicts(key, r["lock_key"])]


def refusal(holder: Mapping[str, Any], root: str) -> str:
    """One line: which job holds the lock, and how to follow or cancel it."""
    held = holder["lock_key"]
    target = held.partition(":")[2]
    what = f" ({'stage ' + target if target.isdigit() else target})" if target else ""
    if held == WILDCARD:
        what = " (a pipeline runs every step of the project itself)"
    return (
        f"{_NOUNS.get(holder['kind'], holder['kind'])} job {holder['id']}{what} is already "
        f"{holder['status']} on this project; follow it with `twt runs {root}`, or cancel it "
        f"with `twt runs cancel {root} {holder['id']}`"
    )
