"""The OpenAI Batch API for large runs (about half the price, results within 24 h).

Submit: the lane's pending requests go into a JSONL file (kept under
`artifacts/batches/`), uploaded and started as one batch per 50,000 requests; the open
batches are recorded in the store (`meta` key `openai_batches:<teacher id>`), so a later
run polls them instead of submitting again. Poll until each batch ends, then ingest its
results and drop it from the record in one transaction.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

from twt_backend import secrets
from twt_backend.errors import UsageError
from twt_backend.generation_lane import Lane, WorkItem
from twt_backend.generation_writer import Row, write_rows
from twt_backend.store import Project
from twt_backend.teachers import Completion, PermanentError, TeacherError, TransientError

MAX_PER_BATCH = 50_000
ENDED = ("completed", "failed", "expired", "cancelled")


def meta_key(teacher_id: int) -> str:
    return f"openai_batches:{teacher_id}"


def open_batches(project: Project, teacher_id: int) -> list[dict[str, Any]]:
    return list(json.loads(project.get_meta(meta_key(teacher_id)) or "[]"))


def _save_batches(project: Project, teacher_id: int, batches: list[dict[str, Any]]) -> None:
    project.set_meta(meta_key(teacher_id), json.dumps(batches))


def custom_id(item: WorkItem) -> str:
    return f"{item.query['id']}:{item.request_hash}"


def request_line(lane: Lane, item: WorkItem) -> str:
    cfg = lane.config
    body: dict[str, Any] = {
        "model": cfg.model,
        "messages": item.messages,
        "max_tokens": cfg.max_tokens,
        "temperature": cfg.temperature,
    }
    if cfg.logprobs:
        body["logprobs"] = True
    line = {
        "custom_id": custom_id(item),
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": body,
    }
    return json.dumps(line, ensure_ascii=False)


def completion_from_body(body: dict[str, Any]) -> Completion:
    try:
        choice = body["choices"][0]
        text = choice["message"]["content"]
        usage = body.get("usage") or {}
    except (KeyError, IndexError, TypeError) as exc:
        raise TransientError(f"malformed batch result: {exc}") from None
    content = (choice.get("logprobs") or {}).get("content") or []
    values = [t["logprob"] for t in content if t.get("logprob") is not None]
    return Completion(
        text=str(text or ""),
        tokens_in=int(usage.get("prompt_tokens") or 0),
        tokens_out=int(usage.get("completion_tokens") or 0),
        logprob_mean=sum(values) / len(values) if values else None,
    )


class BatchLane:
    """Drives one teacher's batches: submit what is not covered, poll, ingest."""

    def __init__(self, lane: Lane, project_dir: Path, poll_s: float, cancelled: threading.Event):
        if lane.config.provider != "openai":
            raise UsageError(
                f"teacher {lane.config.name}: the batch API is available for the openai provider"
            )
        self.lane = lane
        self.project = Project.open(project_dir)
        self.poll_s = poll_s
        self.cancelled = cancelled
        self.client: Any = getattr(lane.teacher, "client", None)
        self.folder = self.project.artifacts / "batches" / f"teacher-{lane.teacher_id}"
        self.items: dict[str, WorkItem] = {custom_id(item): item for item in lane.queue}

    async def run(self) -> None:
        try:
            batches = open_batches(self.project, self.lane.teacher_id)
            for batch in batches:
                self._claim(batch)
            await self._submit_rest()
            await self._poll_until_done()
        finally:
            self.project.close()

    def _claim(self, batch: dict[str, Any]) -> None:
        """Items already in an open batch are in flight, not to be submitted again."""
        covered = set(_custom_ids(Path(batch["input"]))) & self.items.keys()
        self.lane.stats.in_flight += len(covered)
        self.lane.stats.claimed += len(covered)
        kept = [item for item in self.lane.queue if custom_id(item) not in covered]
        self.lane.queue.clear()
        self.lane.queue.extend(kept)

    async def _submit_rest(self) -> None:
        lane = self.lane
        chosen: list[WorkItem] = []
        while lane.queue and lane.may_dispatch(lane):
            chosen.append(lane.queue.popleft())
            lane.stats.in_flight += 1
            lane.stats.claimed += 1
        for start in range(0, len(chosen), MAX_PER_BATCH):
            await self._submit(chosen[start : start + MAX_PER_BATCH])

    async def _submit(self, items: list[WorkItem]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"input-{time.time_ns()}.jsonl"
        path.write_text(
            "\n".join(request_line(self.lane, i) for i in items) + "\n", encoding="utf-8"
        )
        try:
            uploaded = await self.client.files.create(file=path, purpose="batch")
            batch = await self.client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        except Exception as exc:  # noqa: BLE001 - reported without the key
            raise UsageError(
                f"teacher {self.lane.config.name}: batch submit failed: {secrets.scrub(exc)}"
            ) from None
        with self.project.transaction():
            batches = open_batches(self.project, self.lane.teacher_id)
            batches.append({"id": batch.id, "input": str(path), "submitted": time.time()})
            _save_batches(self.project, self.lane.teacher_id, batches)

    async def _poll_until_done(self) -> None:
        while not self.cancelled.is_set():
            batches = open_batches(self.project, self.lane.teacher_id)
            if not batches:
                return
            for record in batches:
                try:
                    batch = await self.client.batches.retrieve(record["id"])
                except Exception:  # noqa: BLE001 - a failed poll is tried again next time
                    continue
                if batch.status in ENDED:
                    await self._ingest(record, batch)
            await self._sleep(self.poll_s)

    async def _sleep(self, seconds: float) -> None:
        """Wait between polls, waking early on cancel (open batches stay recorded)."""
        deadline = time.monotonic() + seconds
        while not self.cancelled.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, seconds))

    async def _ingest(self, record: dict[str, Any], batch: Any) -> None:
        results: dict[str, dict[str, Any]] = {}
        for file_id in (batch.output_file_id, getattr(batch, "error_file_id", None)):
            if file_id:
                content = await self.client.files.content(file_id)
                for line in content.text.splitlines():
                    if line.strip():
                        result = json.loads(line)
                        results[result["custom_id"]] = result
        rows = []
        for cid in _custom_ids(Path(record["input"])):
            item = self.items.get(cid)
            if item is not None:
                rows.append(self._row(item, results.get(cid), batch.status, record["submitted"]))
                self.lane.stats.in_flight -= 1
                self.lane.stats.claimed -= 1
        with self.project.transaction():
            write_rows(self.project, rows)
            remaining = [
                b
                for b in open_batches(self.project, self.lane.teacher_id)
                if b["id"] != record["id"]
            ]
            _save_batches(self.project, self.lane.teacher_id, remaining)

    def _row(
        self, item: WorkItem, result: dict[str, Any] | None, status: str, submitted: float
    ) -> Row:
        latency = time.time() - submitted
        error: TeacherError
        if result is None:
            error = PermanentError(f"batch ended {status} without a result for this request")
        elif result.get("response") and result["response"].get("status_code") == 200:
            try:
                completion = completion_from_body(result["response"]["body"])
            except TeacherError as exc:
                return self.lane._failed_row(item, exc, 1, latency)
            return self.lane._ok_row(item, completion, 1, latency)
        else:
            detail = result.get("error") or (result.get("response") or {}).get("body")
            error = TransientError(f"batch request failed: {json.dumps(detail)[:500]}")
        return self.lane._failed_row(item, error, 1, latency)


def _custom_ids(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["custom_id"] for line in lines if line.strip()]


async def run_batch_lane(
    lane: Lane, project_dir: Path, poll_s: float, cancelled: threading.Event
) -> None:
    await BatchLane(lane, project_dir, poll_s, cancelled).run()
