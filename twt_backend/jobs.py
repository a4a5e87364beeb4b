"""Long jobs as detached worker processes (Vorta's job pattern).

A job row records kind, config, pid, host, status and heartbeat. `prepare()` turns a
job into the argv of its worker process (pure, tested for equality); `start_detached()`
runs it in a new session so closing the GUI or the terminal never stops it; the worker
writes progress, events and metrics to the store. Cancel = SIGINT to the process
group, wait, then SIGKILL. A job whose worker is gone is marked interrupted and can be
started again with the same id: job functions resume from what the store holds.

Only one job per per-project lock is active at a time (store/locks.py): `create_job`
and `start_detached` take the lock atomically and refuse a second start with the
running job's id. Workers get only absolute project folders; a waiter returns as soon
as the worker is gone, also when it died before its job started.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import site
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twt_backend import progress as progress_timing
from twt_backend.errors import JobLockedError, TwtError, UsageError
from twt_backend.store import Project, absolute, locks, utcnow
from twt_backend.store.locks import QUEUED_GRACE_S, STALE_AFTER_S, pid_alive  # noqa: F401

# kind -> "module:function(ctx: JobContext) -> None"; the one name-to-code table of jobs.
WORKERS: dict[str, str] = {
    "generate": "twt_backend.generation:run_job",
    "select": "twt_backend.selection:run_job",
    "train": "twt_backend.training.job:run_job",
    "infer": "twt_backend.hard.inference:run_job",
    "refine": "twt_backend.hard.refine:run_job",
    "eval": "twt_backend.evaluation.job:run_job",
    "pipeline": "twt_backend.pipeline:run_job",
    "selftest": "twt_backend.worker_selftest:run_job",
}
# kinds that older projects store under another name: still run, never created
RENAMED_KINDS = {"check": "selftest"}

ACTIVE = ("queued", "running")
FINISHED = ("finished", "failed", "cancelled", "interrupted")
HEARTBEAT_S = 2.0
CANCEL_GRACE_S = 15.0
WORKER_NICE = 10  # workers' CPU niceness, below the app's (TWT_WORKER_NICE)


class JobCancelled(Exception):
    """Raised inside a job function when a cancel was requested."""


# ---- rows ----------------------------------------------------------------------------------
def create_job(
    project: Project,
    kind: str,
    config: dict[str, Any],
    name: str | None = None,
    parent: int | None = None,
) -> int:
    """A queued job row. Refused (JobLockedError) while another active job holds the
    same per-project lock (see store/locks.py); `parent` is the job that starts it."""
    if kind not in WORKERS:
        raise UsageError(f"unknown job kind {kind!r}")
    key = locks.lock_key(kind, config)
    with project.transaction() as conn:
        _take_lock(project, conn, key, parent, None)
        cursor = conn.execute(
            "INSERT INTO jobs(kind, name, config, status, created_at, heartbeat_at, parent_id,"
            " lock_key) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
            (
                kind, name or kind, json.dumps(config, sort_keys=True), utcnow(), time.time(),
                parent, key,
            ),
        )  # fmt: skip
        job_id = int(cursor.lastrowid or 0)
        artifact_dir = project.artifacts / "jobs" / f"{job_id:05d}-{kind}"
        conn.execute("UPDATE jobs SET artifact_dir=? WHERE id=?", (str(artifact_dir), job_id))
    artifact_dir.mkdir(parents=True, exist_ok=True)
    return job_id


def check_lock(
    project: Project, kind: str, config: dict[str, Any], parent: int | None = None
) -> None:
    """Refuse early (before estimates and checks) when a job of this kind could not start
    now; `create_job` checks again atomically."""
    with project.transaction() as conn:
        _take_lock(project, conn, locks.lock_key(kind, config), parent, None)


def _take_lock(
    project: Project,
    conn: Any,
    key: str | None,
    parent: int | None,
    job_id: int | None,
) -> None:
    """Inside a write transaction: settle dead holders of the lock, refuse a live one."""
    now, host = time.time(), socket.gethostname()
    for holder in locks.holders(conn, key, parent, job_id):
        dead = locks.dead_reason(holder, now, host)
        if dead is None:
            raise JobLockedError(locks.refusal(holder, str(project.root)), holder["id"])
        _settle(conn, holder, *dead)


def _settle(conn: Any, job: dict[str, Any], status: str, reason: str) -> None:
    """Record that an active job's worker is gone (with its last log line on a failure)."""
    error = reason
    if status == "failed" and job.get("artifact_dir"):
        last = _last_log_line(Path(job["artifact_dir"]) / "worker.log")
        error = f"{reason}: {last}" if last else reason
    conn.execute(
        "UPDATE jobs SET status=?, error=COALESCE(error, ?), finished_at=? WHERE id=? AND status=?",
        (status, error, utcnow(), job["id"], job["status"]),
    )


def _last_log_line(path: Path, max_bytes: int = 4096) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - max_bytes))
            lines = handle.read().decode("utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip()[:500] if lines else ""


def get_job(project: Project, job_id: int) -> dict[str, Any]:
    rows = project.rows("SELECT * FROM jobs WHERE id=?", (job_id,))
    if not rows:
        raise UsageError(f"no job {job_id} in {project.root}")
    job = rows[0]
    job["config"] = json.loads(job["config"])
    job["progress"] = json.loads(job["progress"]) if job["progress"] else {}
    return job


def list_jobs(project: Project) -> list[dict[str, Any]]:
    return [get_job(project, row["id"]) for row in project.rows("SELECT id FROM jobs ORDER BY id")]


def stale_jobs(project: Project) -> dict[int, tuple[str, str]]:
    """Active jobs whose worker is gone: id -> (status to record, why). Reads only."""
    now, host = time.time(), socket.gethostname()
    found = {}
    for job in project.rows(
        "SELECT id, pid, host, heartbeat_at, status, artifact_dir FROM jobs "
        "WHERE status IN ('queued', 'running')"
    ):
        dead = locks.dead_reason(job, now, host)
        if dead is not None:
            found[int(job["id"])] = dead
    return found


def reap_stale(project: Project) -> list[int]:
    """Mark jobs whose worker is gone as interrupted (resumable), or failed when the worker
    exited before its job started (its last log line becomes the error)."""
    reaped = []
    for job_id, (status, reason) in stale_jobs(project).items():
        with project.transaction() as conn:
            rows = project.rows(
                "SELECT id, status, artifact_dir FROM jobs WHERE id=? AND status IN "
                "('queued', 'running')",
                (job_id,),
            )
            if rows:
                _settle(conn, rows[0], status, reason)
                reaped.append(job_id)
    return reaped


# ---- starting and stopping ------------------------------------------------------------------
def prepare(project_dir: str | Path, job_id: int) -> list[str]:
    """The argv of the worker process of a job (always an absolute project folder)."""
    folder = str(absolute(project_dir))
    if getattr(sys, "frozen", False):  # PyInstaller bundle: the bundle runs workers itself
        return [sys.executable, "--worker", "job", "run", folder, str(job_id)]
    return [sys.executable, "-m", "twt_backend", "job", "run", folder, str(job_id)]


def start_detached(
    project: Project, job_id: int, parent: int | None = None
) -> subprocess.Popen[bytes]:
    """Start the worker in its own session; it outlives the caller. A job started again
    (resume) takes its lock again; `parent` re-parents it (a pipeline resuming a step)."""
    with project.transaction() as conn:
        job = get_job(project, job_id)
        if job["status"] in ACTIVE and pid_alive(job["pid"]):
            raise UsageError(f"job {job_id} is already {job['status']} (pid {job['pid']})")
        if _being_started(job):
            raise UsageError(f"job {job_id} is already being started by another process")
        if job["status"] == "finished":
            raise UsageError(f"job {job_id} has already finished")
        parent = job.get("parent_id") if parent is None else parent
        _take_lock(project, conn, job.get("lock_key"), parent, job_id)
        conn.execute(  # host set, pid not yet: this starter has claimed the job
            "UPDATE jobs SET status='queued', error=NULL, finished_at=NULL, heartbeat_at=?, "
            "pid=NULL, host=?, parent_id=? WHERE id=?",
            (time.time(), socket.gethostname(), parent, job_id),
        )
    artifact_dir = Path(job["artifact_dir"])
    artifact_dir.mkdir(parents=True, exist_ok=True)
    log = open(artifact_dir / "worker.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        process = subprocess.Popen(
            prepare(project.root, job_id),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            cwd=str(project.root),
            env=_worker_env(),
        )
    except OSError as exc:
        _set_status(project, job_id, "failed", f"could not start its worker: {exc}")
        raise TwtError(f"job {job_id}: could not start its worker: {exc}") from None
    finally:
        log.close()
    with project.transaction() as conn:  # lets a waiter see a worker that dies at once
        conn.execute(
            "UPDATE jobs SET pid=? WHERE id=? AND status='queued' AND pid IS NULL",
            (process.pid, job_id),
        )
    return process


def _being_started(job: dict[str, Any]) -> bool:
    """Claimed by a live starter that has not started its worker yet (a job fresh from
    `create_job` has no host; a dead starter's claim lapses after the queued grace)."""
    if job["status"] != "queued" or not job["host"] or job["pid"]:
        return False
    return locks.dead_reason(job, time.time(), socket.gethostname()) is None


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return same_code_env(env)


def same_code_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a Python child that must run this very twt_backend. An installed package (a
    wheel in site-packages) is found by the child on its own: nothing is added, so the child
    never gets site-packages ahead of the standard library. Code run from a folder that is
    not installed (a source checkout on PYTHONPATH, a test run) has that folder put first on
    PYTHONPATH, so the child does not import another copy."""
    root = Path(__file__).resolve().parents[1]
    if root not in _installed_dirs():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    return env


def _installed_dirs() -> set[Path]:
    """The folders this interpreter installs packages into (and finds them in)."""
    dirs = [sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    dirs += getattr(site, "getsitepackages", list)()
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return {Path(d).resolve() for d in dirs if d}


def cancel(project: Project, job_id: int, grace_s: float = CANCEL_GRACE_S) -> str:
    """SIGINT the job's process group, wait, then SIGKILL it. Returns the final status."""
    job = get_job(project, job_id)
    pid = job["pid"]
    if job["status"] not in ACTIVE:
        return str(job["status"])
    if job["status"] == "queued" and not pid:
        _set_status(project, job_id, "cancelled")
        return "cancelled"
    if pid and pid_alive(pid):
        _signal_group(pid, signal.SIGINT)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.1)
        if pid_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            time.sleep(0.2)
    status = get_job(project, job_id)["status"]
    if status in ACTIVE:
        _set_status(project, job_id, "cancelled")
        status = "cancelled"
    return str(status)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(os.getpgid(pid), sig)
    except (ProcessLookupError, PermissionError):
        pass


def _set_status(project: Project, job_id: int, status: str, error: str | None = None) -> None:
    finished = utcnow() if status in FINISHED else None
    with project.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET status=?, error=?, finished_at=? WHERE id=?",
            (status, error, finished, job_id),
        )


# ---- inside the worker ------------------------------------------------------------------------
@dataclass
class JobContext:
    """What a job function gets: its config, where to write, and a cancel flag."""

    project_dir: Path
    job_id: int
    kind: str
    config: dict[str, Any]
    artifact_dir: Path
    cancelled: threading.Event = field(default_factory=threading.Event)
    _project: Project | None = None
    _last_progress: float = 0.0
    _clocks: dict[str, tuple[float, float]] = field(default_factory=dict)  # for ETAs

    @property
    def project(self) -> Project:
        """The worker thread's connection to the store."""
        if self._project is None:
            self._project = Project.open(self.project_dir)
        return self._project

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise JobCancelled()

    def progress(self, force: bool = False, **snapshot: Any) -> None:
        """Replace the progress snapshot (throttled to 4 writes a second unless forced)."""
        now = time.monotonic()
        if not force and now - self._last_progress < 0.25:
            return
        self._last_progress = now
        snapshot = progress_timing.stamp(snapshot, self._clocks)
        with self.project.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET progress=? WHERE id=?",
                (json.dumps(snapshot, sort_keys=True, default=str), self.job_id),
            )

    def event(self, type_: str, **payload: Any) -> None:
        with self.project.transaction() as conn:
            conn.execute(
                "INSERT INTO job_events(job_id, time, type, payload) VALUES (?, ?, ?, ?)",
                (self.job_id, time.time(), type_, json.dumps(payload, default=str)),
            )

    def log(self, message: str) -> None:
        with open(self.artifact_dir / "job.log", "a", encoding="utf-8") as handle:
            handle.write(f"{utcnow()} {message}\n")
        self.event("log", message=message)

    def metrics(self, step: int, values: dict[str, float]) -> None:
        now = time.time()
        with self.project.transaction() as conn:
            conn.executemany(
                "INSERT INTO metrics(job_id, step, name, value, time) VALUES (?, ?, ?, ?, ?)",
                [(self.job_id, step, name, float(v), now) for name, v in values.items()],
            )


def _load_worker(kind: str) -> Callable[[JobContext], None]:
    module_name, func_name = WORKERS[RENAMED_KINDS.get(kind, kind)].split(":")
    return getattr(importlib.import_module(module_name), func_name)  # type: ignore[no-any-return]


def _heartbeat(project_dir: Path, job_id: int, stop: threading.Event) -> None:
    project = Project.open(project_dir)
    try:
        while not stop.wait(HEARTBEAT_S):
            try:
                with project.transaction() as conn:
                    conn.execute("UPDATE jobs SET heartbeat_at=? WHERE id=?", (time.time(), job_id))
            except sqlite3.OperationalError:  # busy beyond the timeout: beat again next time
                continue
    finally:
        project.close()


def lower_priority(env: dict[str, str] | None = None) -> int:
    """Run this worker (and what it starts: trainers, child jobs, sandboxed programs) at
    niceness TWT_WORKER_NICE (default 10) or above, below the app's CPU priority, so a job
    on the same machine does not stall the app's window; it changes nothing where nothing
    competes for the cores. 0 leaves the priority alone. Returns the niceness now."""
    raw = (os.environ if env is None else env).get("TWT_WORKER_NICE", str(WORKER_NICE))
    try:
        wanted = min(19, max(0, int(raw)))
    except ValueError:
        wanted = WORKER_NICE
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if wanted > current:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, wanted)
        except OSError:  # not permitted here: run at the priority we have
            pass
    return os.getpriority(os.PRIO_PROCESS, 0)


def run_worker(project_dir: str | Path, job_id: int) -> int:
    """Body of the worker process: run the job function, record how it ended. A worker
    that cannot open its project or find its job says why on stderr (its worker.log) and
    exits 2; the waiter records that line on the job."""
    lower_priority()
    project_dir = absolute(project_dir)
    try:
        project = Project.open(project_dir)
        job = get_job(project, job_id)
    except TwtError as exc:
        print(f"twt job run: error: {exc}", file=sys.stderr, flush=True)
        return 2
    ctx = JobContext(project_dir, job_id, job["kind"], job["config"], Path(job["artifact_dir"]))
    ctx.artifact_dir.mkdir(parents=True, exist_ok=True)
    with project.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET status='running', pid=?, host=?, heartbeat_at=?, started_at=?, "
            "error=NULL, finished_at=NULL WHERE id=?",
            (os.getpid(), socket.gethostname(), time.time(), utcnow(), job_id),
        )
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(project_dir, job_id, stop), daemon=True)
    beat.start()

    def on_signal(signum: int, frame: object) -> None:
        if ctx.cancelled.is_set():
            raise KeyboardInterrupt
        ctx.cancelled.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    status, error, code = "finished", None, 0
    try:
        _load_worker(ctx.kind)(ctx)
        if ctx.cancelled.is_set():
            status, code = "cancelled", 130
    except (JobCancelled, KeyboardInterrupt):
        status, code = "cancelled", 130
    except TwtError as exc:
        status, error, code = "failed", str(exc), 1
    except Exception as exc:  # noqa: BLE001 - recorded on the job row, traceback in the log
        status, error, code = "failed", f"{type(exc).__name__}: {exc}", 1
        (ctx.artifact_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
    finally:
        stop.set()
    ctx.progress(force=True, **{**get_job(project, job_id)["progress"], "status": status})
    _set_status(project, job_id, status, error)
    return code


def wait(
    project: Project,
    job_id: int,
    poll_s: float = 0.5,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll until the job ends; returns the final job row. Also returns (with the job
    marked failed or interrupted and its error) when its worker is gone: it died, exited
    before starting (e.g. could not open the project), or never started."""
    while True:
        job = get_job(project, job_id)
        if on_progress:
            on_progress(job)
        if job["status"] in FINISHED:
            return job
        dead = locks.dead_reason(job, time.time(), socket.gethostname())
        if dead is not None:
            with project.transaction() as conn:
                _settle(conn, job, *dead)
            continue
        time.sleep(poll_s)
