"""The worker self-test: a job (kind "selftest"; "check" in older projects) that exercises
the worker machinery without any model.

`twt job` plumbing (start, progress, metrics, heartbeat, cancel, resume) is checked
with it in the tests, and a user can start it to see that workers start at all on
their machine (e.g. from a packaged app).
"""

from __future__ import annotations

import time

from twt_backend.jobs import JobContext


def run_job(ctx: JobContext) -> None:
    steps = int(ctx.config.get("steps", 10))
    delay = float(ctx.config.get("delay_s", 0.1))
    marker = ctx.artifact_dir / "done_steps.txt"
    done = int(marker.read_text()) if marker.exists() else 0  # resume where it stopped
    for step in range(done, steps):
        ctx.check_cancelled()
        time.sleep(delay)
        marker.write_text(str(step + 1))
        ctx.metrics(step + 1, {"value": float(step + 1)})
        ctx.progress(bars={"selftest": {"done": step + 1, "total": steps}})
    ctx.progress(
        force=True,
        bars={"selftest": {"done": steps, "total": steps}},
        message=f"worker self-test finished {steps} steps",
    )
    if ctx.config.get("fail"):
        raise RuntimeError("requested failure")
