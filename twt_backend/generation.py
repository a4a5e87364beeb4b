"""The async labelling engine: every teacher labels every query, at once, resumably.

A (teacher config, prompt) pair with a stored `ok` answer is never requested again:
the cache key is `request_hash()`, unique per teacher in `generations`. Only finished
requests are written (batched, short transactions), so after a crash or `kill -9` a
rerun repeats at most the requests that were in flight or not yet flushed. Failed
generations are stored with their error and retried by the next run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twt_backend.config import TeacherConfig, from_dict, stored_teacher
from twt_backend.errors import UsageError
from twt_backend.generation_lane import CHARS_PER_TOKEN, Lane, ParseFn, WorkItem
from twt_backend.generation_writer import ResultWriter
from twt_backend.store import Project
from twt_backend.teachers import Teacher, make_teacher

# Fields of a teacher config that change what it answers (not where or how fast).
GENERATION_FIELDS = ("provider", "model", "temperature", "max_tokens", "logprobs")
PAPER_TOP_P = 0.95
ProgressFn = Callable[[dict[str, Any]], None]
# (project, teacher id, config) -> (work items to send, count already answered): what a
# run does for one teacher. The default labels queries; refinement plans its own requests.
Planner = Callable[[Project, int, TeacherConfig], tuple[list[WorkItem], int]]


@dataclass
class LabelOptions:
    teachers: list[str] | None = field(default=None, metadata={"help": "Teacher names (all)."})
    limit: int | None = field(default=None, metadata={"help": "Label the first N queries."})
    split: str | None = field(default="train", metadata={"help": "Query split (empty: all)."})
    budget_usd: float | None = field(default=None, metadata={"help": "Stop at this spend."})
    backoff_initial_s: float = field(default=0.5, metadata={"help": "First retry wait."})
    backoff_max_s: float = field(default=30.0, metadata={"help": "Longest retry wait."})
    flush_s: float = field(default=0.2, metadata={"help": "Write results at least this often."})
    flush_rows: int = field(default=256, metadata={"help": "...or every this many rows."})
    progress_s: float = field(default=0.5, metadata={"help": "Progress snapshot period."})
    batch_poll_s: float = field(default=30.0, metadata={"help": "Batch API polling period."})


@dataclass
class Summary:
    bars: dict[str, dict[str, Any]]
    estimate_usd: float
    spent_usd: float
    stopped: str | None  # None, "budget" or "cancelled"
    not_sent: int
    errors: dict[str, str] = field(default_factory=dict)  # "teacher N" -> first error (scrubbed)

    @property
    def message(self) -> str:
        ok = sum(b["done"] for b in self.bars.values())
        total = sum(b["total"] for b in self.bars.values())
        failed = sum(b["failed"] for b in self.bars.values())
        text = f"labelled {ok}/{total}, {failed} failed, cost ${self.spent_usd:.4f}"
        if failed:
            text += " (run again to retry the failed ones)"
        if self.stopped == "budget":
            text += f"; budget reached, {self.not_sent} request(s) not sent"
        elif self.stopped == "cancelled":
            text += "; cancelled"
        return text


def request_hash(config: TeacherConfig, messages: list[dict[str, Any]]) -> str:
    """The cache key of a request: the teacher's generation settings and the messages."""
    settings = {name: getattr(config, name) for name in GENERATION_FIELDS}
    if config.top_p != PAPER_TOP_P:
        # top-p joined the key when it started being sent: at its default it stays out,
        # so answers cached before then stay valid (no label is bought twice)
        settings["top_p"] = config.top_p
    text = json.dumps([settings, messages], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---- reading the project ---------------------------------------------------------------------
def load_teachers(
    project: Project, names: list[str] | None = None
) -> list[tuple[int, TeacherConfig]]:
    rows = project.rows("SELECT id, name, config, enabled FROM teachers ORDER BY id")
    known = {row["name"] for row in rows}
    missing = sorted(set(names or ()) - known)
    if missing:
        raise UsageError(f"no teacher named {', '.join(missing)} in {project.root}")
    chosen = [r for r in rows if (r["name"] in names if names else r["enabled"])]
    if not chosen:
        raise UsageError(f"{project.root}: no teachers; add one with `twt teacher add`")
    return [(int(r["id"]), stored_teacher(r["name"], r["config"])) for r in chosen]


def load_queries(project: Project, split: str | None, limit: int | None) -> list[dict[str, Any]]:
    sql = "SELECT id, source_id, payload, reference FROM queries"
    params: tuple[Any, ...] = ()
    if split:
        sql, params = sql + " WHERE split = ?", (split,)
    sql += " ORDER BY id"
    if limit is not None:
        sql, params = sql + " LIMIT ?", (*params, int(limit))
    queries = project.rows(sql, params)
    for query in queries:
        query["payload"] = json.loads(query["payload"])
    return queries


def ok_hashes(project: Project, teacher_id: int) -> set[str]:
    """The cache keys of a teacher's stored ok answers (any purpose)."""
    return {
        row[0]
        for row in project.conn.execute(
            "SELECT request_hash FROM generations WHERE teacher_id = ? AND status = 'ok'",
            (teacher_id,),
        )
    }


def make_item(
    query: dict[str, Any],
    messages: list[dict[str, Any]],
    key: str,
    purpose: str = "label",
    parse: ParseFn | None = None,
) -> WorkItem:
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    return WorkItem(query, messages, key, chars // CHARS_PER_TOKEN + 1, purpose, parse)


def plan(
    project: Project, teacher_id: int, config: TeacherConfig, queries: list[dict[str, Any]]
) -> tuple[list[WorkItem], int]:
    """The work items of one teacher that have no stored ok answer, and the cached count."""
    from twt_backend.tasks import get_task

    task = get_task(project.task)
    ok = ok_hashes(project, teacher_id)
    items, cached = [], 0
    for query in queries:
        messages = task.teacher_messages(query["payload"])
        key = request_hash(config, messages)
        if key in ok:
            cached += 1
            continue
        items.append(make_item(query, messages, key))
    return items, cached


def query_planner(options: LabelOptions) -> Planner:
    """The labelling planner: every query of the options' split for every teacher."""
    queries: list[dict[str, Any]] | None = None

    def plan_teacher(
        project: Project, teacher_id: int, config: TeacherConfig
    ) -> tuple[list[WorkItem], int]:
        nonlocal queries
        if queries is None:
            queries = load_queries(project, options.split, options.limit)
        return plan(project, teacher_id, config, queries)

    return plan_teacher


def estimate_cost(
    project: Project, teacher_id: int, config: TeacherConfig, items: list[WorkItem]
) -> float:
    """Expected cost of the items: output length from this teacher's history, else max_tokens."""
    mean_out = project.scalar(
        "SELECT AVG(tokens_out) FROM generations WHERE teacher_id = ? AND status = 'ok'",
        (teacher_id,),
    )
    tokens_out = float(mean_out) if mean_out is not None else float(config.max_tokens)
    tokens_in = sum(item.est_tokens_in for item in items)
    factor = 0.5 if config.use_batch_api else 1.0
    return factor * (tokens_in * config.price_in + len(items) * tokens_out * config.price_out) / 1e6


# ---- running ---------------------------------------------------------------------------------
class LabellingRun:
    """One run of the engine over a project's teachers and queries."""

    def __init__(
        self,
        project_dir: Path,
        options: LabelOptions,
        job_id: int | None = None,
        on_progress: ProgressFn | None = None,
        cancelled: threading.Event | None = None,
        planner: Planner | None = None,
        label: str = "labelling",
    ):
        self.project_dir = Path(project_dir)
        self.options = options
        self.planner = planner or query_planner(options)
        self.label = label
        self.job_id = job_id
        self.on_progress = on_progress
        self.cancelled = cancelled or threading.Event()
        self.lanes: dict[str, Lane] = {}
        self.estimates: dict[str, float] = {}
        self.stopped: str | None = None

    # ---- budget and stopping ---------------------------------------------------------------
    def spent(self) -> float:
        return sum(lane.stats.cost_usd for lane in self.lanes.values())

    def may_dispatch(self, lane: Lane) -> bool:
        if self.stopped:
            return False
        if self.cancelled.is_set():
            self.stopped = "cancelled"
            return False
        budget = self.options.budget_usd
        if budget is None:
            return True
        committed = self.spent() + sum(
            other.stats.claimed * self._expected_cost(other) for other in self.lanes.values()
        )
        if committed + self._expected_cost(lane) > budget:
            self.stopped = "budget"
            return False
        return True

    def _expected_cost(self, lane: Lane) -> float:
        if lane.stats.ok + lane.stats.failed:
            return lane.mean_cost()
        items = lane.stats.total - lane.stats.cached
        return self.estimates.get(lane.config.name, 0.0) / max(items, 1)

    # ---- progress --------------------------------------------------------------------------
    def snapshot(self, message: str | None = None) -> dict[str, Any]:
        return {
            "bars": {name: lane.stats.bar() for name, lane in self.lanes.items()},
            "estimate_usd": round(sum(self.estimates.values()), 6),
            "spent_usd": round(self.spent(), 6),
            "message": message or self.label,
            "errors": self.first_errors(),
        }

    def first_errors(self) -> dict[str, str]:
        """ "teacher NAME" -> the first error of this run (scrubbed), for teachers with failures."""
        return {
            f"teacher {name}": lane.stats.first_error
            for name, lane in self.lanes.items()
            if lane.stats.first_error is not None
        }

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(self.options.progress_s)
            if self.on_progress:
                self.on_progress(self.snapshot())

    async def _watch_cancel(self, online: list[asyncio.Task[None]]) -> None:
        """On cancel, drop the online requests in flight (they are repeated next time).
        Batch lanes stop by themselves once a submission is recorded."""
        while not self.cancelled.is_set():
            await asyncio.sleep(0.1)
        self.stopped = "cancelled"
        for task in online:
            task.cancel()

    # ---- the run ---------------------------------------------------------------------------
    def prepare(self, writer: ResultWriter) -> list[Teacher]:
        from twt_backend.tasks import get_task

        with Project.open(self.project_dir) as project:
            parse = get_task(project.task).parse_teacher_output
            teachers = load_teachers(project, self.options.teachers)
            clients = []
            for teacher_id, config in teachers:
                items, cached = self.planner(project, teacher_id, config)
                client = make_teacher(config)
                lane = Lane(
                    teacher_id, config, client, parse, writer.put, self.may_dispatch,
                    job_id=self.job_id,
                    backoff_initial_s=self.options.backoff_initial_s,
                    backoff_max_s=self.options.backoff_max_s,
                    price_factor=0.5 if config.use_batch_api else 1.0,
                )  # fmt: skip
                lane.queue.extend(items)
                lane.stats.total, lane.stats.cached = len(items) + cached, cached
                self.lanes[config.name] = lane
                self.estimates[config.name] = estimate_cost(project, teacher_id, config, items)
                clients.append(client)
        return clients

    async def run(self) -> Summary:
        writer = ResultWriter(self.project_dir, self.options.flush_s, self.options.flush_rows)
        clients: list[Teacher] = []
        try:
            clients = self.prepare(writer)
            for client in clients:
                await client.load()
            if self.on_progress:
                self.on_progress(
                    self.snapshot(f"estimated cost ${sum(self.estimates.values()):.4f}")
                )
            writer.start()
            await self._run_lanes()
            if self.cancelled.is_set() and not self.stopped:
                self.stopped = "cancelled"
        finally:
            await writer.close()
            for client in clients:
                await client.aclose()
        summary = Summary(
            bars={name: lane.stats.bar() for name, lane in self.lanes.items()},
            estimate_usd=sum(self.estimates.values()),
            spent_usd=self.spent(),
            stopped=self.stopped,
            not_sent=sum(len(lane.queue) for lane in self.lanes.values()),
            errors=self.first_errors(),
        )
        if self.on_progress:
            self.on_progress({**self.snapshot(summary.message), "stopped": self.stopped})
        return summary

    async def _run_lanes(self) -> None:
        from twt_backend.generation_batch import run_batch_lane

        online, batch = [], []
        for lane in self.lanes.values():
            if lane.config.use_batch_api:
                poll_s = self.options.batch_poll_s
                coroutine = run_batch_lane(lane, self.project_dir, poll_s, self.cancelled)
                batch.append(asyncio.create_task(coroutine))
            else:
                online.append(asyncio.create_task(lane.run()))
        reporter = asyncio.create_task(self._report())
        watcher = asyncio.create_task(self._watch_cancel(online))
        try:
            results = await asyncio.gather(*online, *batch, return_exceptions=True)
        finally:
            reporter.cancel()
            watcher.cancel()
        for result in results:
            if isinstance(result, asyncio.CancelledError) and self.cancelled.is_set():
                continue
            if isinstance(result, BaseException):
                raise result


def options_from(config: dict[str, Any]) -> LabelOptions:
    return from_dict(LabelOptions, {k: v for k, v in config.items() if v is not None})


def label(
    project_dir: str | Path,
    options: LabelOptions | None = None,
    job_id: int | None = None,
    on_progress: ProgressFn | None = None,
    cancelled: threading.Event | None = None,
    planner: Planner | None = None,
    label: str = "labelling",
) -> Summary:
    """Run the engine in this thread (blocking) and return its summary.

    `planner` replaces the labelling work with a caller's own requests (refinement);
    `options.teachers` then names the teachers it plans for."""
    run = LabellingRun(
        Path(project_dir), options or LabelOptions(), job_id, on_progress, cancelled, planner, label
    )
    return asyncio.run(run.run())


def run_job(ctx: Any) -> None:
    """Worker entry of a "generate" job (see jobs.WORKERS)."""
    options = options_from(ctx.config)
    started = time.monotonic()

    def progress(snapshot: dict[str, Any]) -> None:
        ctx.progress(force="stopped" in snapshot, **snapshot)

    summary = label(ctx.project_dir, options, ctx.job_id, progress, ctx.cancelled)
    ctx.event(
        "labelling_done",
        spent_usd=summary.spent_usd,
        estimate_usd=summary.estimate_usd,
        stopped=summary.stopped,
        seconds=round(time.monotonic() - started, 2),
        bars=summary.bars,
        errors=summary.errors,
    )
    ctx.log(summary.message)


__all__ = [
    "GENERATION_FIELDS",
    "LabelOptions",
    "LabellingRun",
    "Planner",
    "Summary",
    "estimate_cost",
    "label",
    "load_queries",
    "load_teachers",
    "make_item",
    "ok_hashes",
    "options_from",
    "plan",
    "query_planner",
    "request_hash",
    "run_job",
]
