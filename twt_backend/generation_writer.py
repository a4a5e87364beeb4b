"""Batched writes of generation results: one short transaction every ~0.2 s or N rows.

Results are upserted on the cache key (teacher_id, request_hash). A stored `ok` row is
never overwritten; a `failed` row becomes `ok` when a later attempt succeeds, and its
attempts add up. Writes run in a worker thread on the writer's own connection, so a
busy database never blocks the event loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from twt_backend.store import Project

COLUMNS = (
    "query_id",
    "teacher_id",
    "purpose",
    "request_hash",
    "status",
    "raw_text",
    "rationale",
    "answer",
    "confidence",
    "parse_status",
    "logprob_mean",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "latency_s",
    "attempts",
    "error",
    "job_id",
    "created_at",
    "updated_at",
)
_KEEP_ON_UPDATE = ("query_id", "teacher_id", "purpose", "request_hash", "created_at")
_UPDATES = ", ".join(
    "attempts = generations.attempts + excluded.attempts"
    if name == "attempts"
    else f"{name} = excluded.{name}"
    for name in COLUMNS
    if name not in _KEEP_ON_UPDATE
)
UPSERT_SQL = (
    f"INSERT INTO generations ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    f"ON CONFLICT (teacher_id, request_hash) DO UPDATE SET {_UPDATES} "
    "WHERE generations.status != 'ok'"
)

Row = tuple[Any, ...]


def write_rows(project: Project, rows: list[Row]) -> None:
    with project.transaction() as conn:
        conn.executemany(UPSERT_SQL, rows)


class ResultWriter:
    """Collects rows from the event loop and flushes them in short transactions."""

    def __init__(self, project_dir: Path, flush_s: float = 0.2, flush_rows: int = 256):
        self.project = Project.open(project_dir)
        self.flush_s = flush_s
        self.flush_rows = flush_rows
        self.written = 0
        self._rows: list[Row] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="generation-writer")

    def put(self, row: Row) -> None:
        self._rows.append(row)
        if len(self._rows) >= self.flush_rows:
            self._wake.set()

    async def _run(self) -> None:
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_s)
            except TimeoutError:
                pass
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        await asyncio.to_thread(write_rows, self.project, rows)
        self.written += len(rows)

    async def close(self) -> None:
        """Write what is left and close the connection (also after a cancel)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.shield(self._task)
            except asyncio.CancelledError:
                pass
        if self._rows:
            write_rows(self.project, self._rows)
            self.written += len(self._rows)
            self._rows = []
        self.project.close()
