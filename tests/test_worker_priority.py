"""Workers run below the app's CPU priority (nice 10 by default), so a training job on the
same machine does not stall the app's window (benchmarks/bench_gui.py, busy case)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from twt_backend import jobs


def niceness(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[16])  # field 19: nice


def test_a_worker_runs_at_nice_10_below_its_starter(project):
    assert os.getpriority(os.PRIO_PROCESS, 0) < 10  # the test process itself
    job_id = jobs.create_job(project, "selftest", {"steps": 400, "delay_s": 0.05})
    process = jobs.start_detached(project, job_id)
    try:
        deadline = time.monotonic() + 60
        while not jobs.get_job(project, job_id)["progress"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert jobs.get_job(project, job_id)["progress"], "the worker did not start"
        assert niceness(process.pid) == 10
    finally:
        jobs.cancel(project, job_id)
        process.wait(timeout=60)


def _lower_priority_in_a_child(value: str | None, calls: int = 1) -> str:
    code = (
        "from twt_backend.jobs import lower_priority\n"
        f"for _ in range({calls}): n = lower_priority()\n"
        "print(n)"
    )
    env = {k: v for k, v in os.environ.items() if k != "TWT_WORKER_NICE"}
    if value is not None:
        env["TWT_WORKER_NICE"] = value
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_niceness_is_absolute_configurable_and_never_raises_priority():
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert _lower_priority_in_a_child(None, calls=3) == "10"  # child jobs: not 19
    assert _lower_priority_in_a_child("15") == "15"
    assert _lower_priority_in_a_child("0") == str(base)  # off
    assert _lower_priority_in_a_child("not a number") == "10"
