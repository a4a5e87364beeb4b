"""Worker processes: start detached, progress, metrics, cancel, stale detection, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from twt_backend import jobs
from twt_backend.errors import UsageError


def _wait_for(predicate, timeout=600.0):
    """Wait for something that will happen; the bound only ends a broken run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_prepare_gives_the_worker_command_line(project):
    argv = jobs.prepare(project.root, 7)
    assert argv == [sys.executable, "-m", "twt_backend", "job", "run", str(project.root), "7"]


def test_job_runs_detached_and_reports(project):
    job_id = jobs.create_job(project, "selftest", {"steps": 5, "delay_s": 0.01})
    proc = jobs.start_detached(project, job_id)
    assert proc.wait(timeout=60) == 0
    job = jobs.get_job(project, job_id)
    assert job["status"] == "finished"
    assert job["pid"] == proc.pid
    assert job["progress"]["bars"]["selftest"] == {"done": 5, "total": 5}
    values = [
        r["value"]
        for r in project.rows("SELECT value FROM metrics WHERE job_id=? ORDER BY step", (job_id,))
    ]
    assert values == [1.0, 2.0, 3.0, 4.0, 5.0]
    with pytest.raises(UsageError):
        jobs.start_detached(project, job_id)


def test_a_stored_job_of_a_renamed_kind_still_runs(project):
    """The self-test was the kind "check": an older project's row of that kind still runs,
    while new jobs are created under the new name only."""
    with project.transaction() as conn:
        job_id = conn.execute(
            "INSERT INTO jobs(kind, name, config, status, created_at, heartbeat_at)"
            " VALUES ('check', 'check', ?, 'queued', 'then', ?)",
            (json.dumps({"steps": 2, "delay_s": 0}), time.time()),
        ).lastrowid
        artifact_dir = project.artifacts / "jobs" / f"{job_id:05d}-check"
        conn.execute("UPDATE jobs SET artifact_dir=? WHERE id=?", (str(artifact_dir), job_id))
    artifact_dir.mkdir(parents=True)
    assert jobs.start_detached(project, job_id).wait(timeout=60) == 0
    assert jobs.get_job(project, job_id)["status"] == "finished"
    assert (artifact_dir / "done_steps.txt").read_text() == "2"
    with pytest.raises(UsageError, match="unknown job kind 'check'"):
        jobs.create_job(project, "check", {})


def test_failure_is_recorded(project):
    job_id = jobs.create_job(project, "selftest", {"steps": 1, "delay_s": 0, "fail": True})
    assert jobs.start_detached(project, job_id).wait(timeout=60) == 1
    job = jobs.get_job(project, job_id)
    assert job["status"] == "failed"
    assert "requested failure" in job["error"]


def test_cancel_stops_the_worker_and_resume_continues(project):
    # far more steps than it can take before the cancel, on a machine of any speed
    job_id = jobs.create_job(project, "selftest", {"steps": 1_000_000, "delay_s": 0.05})
    proc = jobs.start_detached(project, job_id)
    assert _wait_for(lambda: jobs.get_job(project, job_id)["progress"].get("bars") or {})
    assert jobs.cancel(project, job_id) == "cancelled"
    assert proc.wait(timeout=10) == 130
    done = int(jobs.get_job(project, job_id)["progress"]["bars"]["selftest"]["done"])
    assert 0 < done < 1_000_000
    # resume: the same job id starts again and continues from where it stopped
    job = jobs.get_job(project, job_id)
    assert job["status"] == "cancelled"
    project.conn.execute(
        "UPDATE jobs SET config=? WHERE id=?",
        (json.dumps({"steps": done + 3, "delay_s": 0.0}), job_id),
    )
    assert jobs.start_detached(project, job_id).wait(timeout=60) == 0
    steps = [r["step"] for r in project.rows("SELECT step FROM metrics WHERE job_id=?", (job_id,))]
    assert sorted(steps) == list(range(1, done + 4))  # nothing repeated


def test_killed_worker_is_marked_interrupted(project):
    job_id = jobs.create_job(project, "selftest", {"steps": 1_000_000, "delay_s": 0.05})
    proc = jobs.start_detached(project, job_id)
    assert _wait_for(lambda: jobs.get_job(project, job_id)["status"] == "running")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert jobs.reap_stale(project) == [job_id]
    assert jobs.get_job(project, job_id)["status"] == "interrupted"


def test_cli_runs_lists_jobs_as_json(project):
    job_id = jobs.create_job(project, "selftest", {"steps": 1, "delay_s": 0})
    out = subprocess.run(
        [sys.executable, "-m", "twt_backend", "runs", str(project.root), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert f'"id": {job_id}' in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "twt_backend", "runs", "cancel", str(project.root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "expected DIR ID" in bad.stderr


def test_a_job_whose_worker_never_started_is_marked_interrupted(project):
    job_id = jobs.create_job(project, "selftest", {"steps": 1})
    assert jobs.reap_stale(project) == []  # just created: its worker may still be starting
    project.conn.execute(
        "UPDATE jobs SET heartbeat_at=heartbeat_at-? WHERE id=?", (jobs.QUEUED_GRACE_S + 1, job_id)
    )
    assert jobs.reap_stale(project) == [job_id]
    assert jobs.start_detached(project, job_id).wait(timeout=60) == 0
