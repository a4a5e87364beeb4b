"""One teacher's lane of the labelling engine: concurrency, rate limits, retries, ledger.

Worker coroutines pull work items from one queue; at most `concurrency` requests are
in flight (a slot is not held while waiting to retry); each request waits for the
teacher's token buckets (requests and tokens per minute), runs under a timeout,
and is retried with exponential backoff and jitter (a 429 waits for its Retry-After).
After the retry budget the item is stored as failed with its scrubbed error.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from twt_backend import secrets
from twt_backend.config import TeacherConfig
from twt_backend.generation_writer import Row
from twt_backend.store import utcnow
from twt_backend.teachers import Completion, Teacher, TeacherError, TransientError

CHARS_PER_TOKEN = 4
WORKERS_PER_SLOT = 2


ParseFn = Callable[[str, dict[str, Any]], Any]  # (raw text, payload) -> tasks.ParsedOutput


@dataclass(slots=True)
class WorkItem:
    query: dict[str, Any]  # id, source_id, payload (parsed), reference
    messages: list[dict[str, Any]]
    request_hash: str
    est_tokens_in: int
    purpose: str = "label"  # generations.purpose: label | refine | compress
    parse: ParseFn | None = None  # None: the lane's parser (the task's teacher-output parser)


@dataclass
class LaneStats:
    total: int = 0  # queries this teacher labels in this run's scope
    cached: int = 0  # already ok before the run
    ok: int = 0
    failed: int = 0
    in_flight: int = 0  # requests sent and not answered
    claimed: int = 0  # items taken from the queue and not finished (incl. waiting to retry)
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    first_error: str | None = None  # scrubbed, of this run's first failed request
    started: float = field(default_factory=time.monotonic)

    def bar(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return {
            "done": self.cached + self.ok,
            "total": self.total,
            "failed": self.failed,
            "in_flight": self.in_flight,
            "tok/s": round(self.tokens_out / elapsed, 1),
            "cost": f"${self.cost_usd:.4f}",
        }


def per_minute_limiter(per_minute: int, burst: float) -> AsyncLimiter:
    """A token bucket refilled at per_minute/60 a second, holding one second's worth
    (or `burst`, if larger): steady pacing instead of a minute's burst at the start."""
    capacity = max(float(burst), per_minute / 60)
    return AsyncLimiter(capacity, capacity * 60 / per_minute)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or (isinstance(exc, TeacherError) and exc.retryable)


class Lane:
    """Runs one teacher's work items; results go to `emit(row)`."""

    def __init__(
        self,
        teacher_id: int,
        config: TeacherConfig,
        teacher: Teacher,
        parse: ParseFn,
        emit: Callable[[Row], None],
        may_dispatch: Callable[[Lane], bool],
        job_id: int | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        price_factor: float = 1.0,
    ):
        self.teacher_id = teacher_id
        self.config = config
        self.teacher = teacher
        self.parse = parse
        self.emit = emit
        self.may_dispatch = may_dispatch
        self.job_id = job_id
        self.price_factor = price_factor
        self.queue: deque[WorkItem] = deque()
        self.stats = LaneStats()
        self._slots = asyncio.Semaphore(config.concurrency)  # requests in flight
        self._rpm = per_minute_limiter(config.rpm, 1) if config.rpm else None
        self._tpm: AsyncLimiter | None = None
        self._backoff = wait_exponential_jitter(
            multiplier=backoff_initial_s, max=backoff_max_s, jitter=backoff_initial_s
        )
        self._retrying = AsyncRetrying(
            stop=stop_after_attempt(config.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(_retryable),
            reraise=True,
        )

    # ---- money ---------------------------------------------------------------------------------
    def cost(self, tokens_in: int, tokens_out: int) -> float:
        cfg = self.config
        return self.price_factor * (tokens_in * cfg.price_in + tokens_out * cfg.price_out) / 1e6

    def mean_cost(self) -> float:
        done = self.stats.ok + self.stats.failed
        return self.stats.cost_usd / done if done else 0.0

    # ---- running ---------------------------------------------------------------------------------
    async def run(self) -> None:
        if self.config.tpm and self.queue:
            largest = max(item.est_tokens_in for item in self.queue) + self.config.max_tokens
            self._tpm = per_minute_limiter(self.config.tpm, min(largest, self.config.tpm))
        # Spare workers keep every request slot busy while others wait to retry.
        workers = min(WORKERS_PER_SLOT * self.config.concurrency, len(self.queue))
        await asyncio.gather(*(self._worker() for _ in range(workers)))

    async def _worker(self) -> None:
        stats = self.stats
        while self.queue and self.may_dispatch(self):
            item = self.queue.popleft()
            stats.claimed += 1
            try:
                row = await self._label(item)
            finally:
                stats.claimed -= 1
            self.emit(row)

    async def _label(self, item: WorkItem) -> Row:
        attempts = 0
        started = time.monotonic()
        try:
            async for attempt in self._retrying.copy():
                with attempt:
                    attempts += 1
                    completion = await self._request(item)
        except Exception as exc:  # noqa: BLE001 - stored as a failed generation, never dropped
            return self._failed_row(item, exc, attempts, time.monotonic() - started)
        return self._ok_row(item, completion, attempts, time.monotonic() - started)

    async def _request(self, item: WorkItem) -> Completion:
        cfg = self.config
        async with self._slots:
            await self._acquire(item)
            self.stats.requests += 1
            self.stats.in_flight += 1
            try:
                async with asyncio.timeout(cfg.timeout_s):
                    return await self.teacher.complete(
                        item.messages,
                        max_tokens=cfg.max_tokens,
                        temperature=cfg.temperature,
                        logprobs=cfg.logprobs,
                        query=item.query,
                    )
            except TimeoutError:
                raise TransientError(f"timeout after {cfg.timeout_s:g} s") from None
            finally:
                self.stats.in_flight -= 1

    async def _acquire(self, item: WorkItem) -> None:
        if self._rpm is not None:
            await self._rpm.acquire()
        if self._tpm is not None:
            need = item.est_tokens_in + self.config.max_tokens
            await self._tpm.acquire(min(need, self._tpm.max_rate))

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return float(after) + random.uniform(0, 0.05 * float(after) + 0.01)
        return float(self._backoff(state))

    # ---- rows ------------------------------------------------------------------------------------
    def _ok_row(self, item: WorkItem, completion: Completion, attempts: int, latency: float) -> Row:
        if item.parse is not None:  # a caller's own work (refinement): its own parser
            parsed = item.parse(completion.text, item.query["payload"])
        else:
            parsed = completion.parsed or self.parse(completion.text, item.query["payload"])
        status = parsed.status
        if completion.finish_reason == "length" and status != "ok":
            status = "truncated"  # cut at max_tokens: say so, not a generic parse failure
        cost = self.cost(completion.tokens_in, completion.tokens_out)
        stats = self.stats
        stats.ok += 1
        stats.tokens_in += completion.tokens_in
        stats.tokens_out += completion.tokens_out
        stats.cost_usd += cost
        now = utcnow()
        return (
            item.query["id"], self.teacher_id, item.purpose, item.request_hash, "ok",
            completion.text, parsed.rationale, parsed.answer, parsed.confidence, status,
            completion.logprob_mean, completion.tokens_in, completion.tokens_out, cost,
            round(latency, 4), attempts, None, self.job_id, now, now,
        )  # fmt: skip

    def _failed_row(self, item: WorkItem, exc: BaseException, attempts: int, latency: float) -> Row:
        self.stats.failed += 1
        message = str(exc) if isinstance(exc, TeacherError) else f"{type(exc).__name__}: {exc}"
        error = secrets.scrub(f"after {attempts} attempt(s): {message}")[:2000]
        if self.stats.first_error is None:
            self.stats.first_error = error[:300]
        now = utcnow()
        return (
            item.query["id"], self.teacher_id, item.purpose, item.request_hash, "failed",
            None, None, None, None, None, None, None, None, 0.0,
            round(latency, 4), attempts, error, self.job_id, now, now,
        )  # fmt: skip
