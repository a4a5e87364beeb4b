"""One rank of a sharded inference job, started by torchrun (RANK / WORLD_SIZE in the env)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from twt_backend.jobs import WORKERS, JobContext, get_job
from twt_backend.log_setup import configure_logging
from twt_backend.store import Project


def main(argv: list[str]) -> int:
    configure_logging("worker")
    project_dir, job_id = Path(argv[0]), int(argv[1])
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    with Project.open(project_dir) as project:
        job = get_job(project, job_id)
    ctx = JobContext(project_dir, job_id, job["kind"], job["config"], Path(job["artifact_dir"]))
    module_name, func_name = WORKERS[job["kind"]].split(":")
    getattr(importlib.import_module(module_name), func_name)(ctx, rank=rank, world_size=world_size)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
