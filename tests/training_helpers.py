"""Helpers of the training tests: seed a store with selected samples, run train jobs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from twt_backend import jobs
from twt_backend.store import Project, utcnow

WORDS = "add the numbers then multiply by two and subtract three to get the total".split()


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def seed_samples(project: Project, n: int = 12, refine_round: int | None = None) -> list[int]:
    """n math queries, one teacher, one selected generation each (variable lengths).

    With `refine_round`, every generation also gets an ok refinement of that round.
    """
    now = utcnow()
    ids = []
    with project.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO teachers(name, provider, model, config, created_at) "
            "VALUES ('t1', 'replay', 'file.jsonl', '{}', ?)",
            (now,),
        )
        teacher_id = conn.execute("SELECT id FROM teachers WHERE name='t1'").fetchone()[0]
        for i in range(n):
            question = f"What is {i} plus {i + 3}? " + " ".join(WORDS[: (i * 5) % len(WORDS)])
            payload = json.dumps({"question": question})
            qid = conn.execute(
                "INSERT INTO queries(source_id, split, payload, reference, content_hash, "
                "created_at) VALUES (?, 'train', ?, ?, ?, ?)",
                (f"q{i}", payload, str(2 * i + 3), _hash(payload), now),
            ).lastrowid
            rationale = (
                " ".join(WORDS[: 3 + (i * 7) % len(WORDS)]) + f". {i} + {i + 3} = {2 * i + 3}."
            )
            gid = conn.execute(
                "INSERT INTO generations(query_id, teacher_id, request_hash, status, rationale, "
                "answer, confidence, parse_status, created_at, updated_at) "
                "VALUES (?, ?, ?, 'ok', ?, ?, 0.97, 'ok', ?, ?)",
                (qid, teacher_id, _hash(f"r{i}"), rationale, str(2 * i + 3), now, now),
            ).lastrowid
            conn.execute(
                "INSERT INTO selections(generation_id, query_id, strategy, selected, updated_at) "
                "VALUES (?, ?, 'dcrs', 1, ?)",
                (gid, qid, now),
            )
            if refine_round is not None:
                conn.execute(
                    "INSERT INTO refinements(generation_id, round, method, refined_text, status, "
                    "created_at, updated_at) VALUES (?, ?, 'teacher', ?, 'ok', ?, ?)",
                    (gid, refine_round, f"{i} + {i + 3} = {2 * i + 3}.", now, now),
                )
            ids.append(int(gid))
    return ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train_config(stage: int, student: Path, **training: Any) -> dict[str, Any]:
    from twt_backend.training.run_settings import settings_from_config

    launch = training.pop("launch", {})
    lora = training.pop("lora", {})
    base = {
        "student": str(student),
        "max_steps": 3,
        "batch_size": 4,
        "lr": 5e-3,
        "max_length": 128,
        "save_steps": 2,
        "eval_size": 0,
    }
    config = {"stage": stage, "training": {**base, **training}, "lora": lora, "launch": launch}
    return settings_from_config(config).to_config()


def run_train(project: Project, config: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
    """Create a train job, run its worker detached, wait for the end; the final job row.

    `timeout` bounds a run that will end (a few steps of a tiny model): generous, so that a
    busy machine only makes the test slower."""
    job_id = jobs.create_job(project, "train", config)
    return start_and_wait(project, job_id, timeout)


def start_and_wait(project: Project, job_id: int, timeout: float = 900) -> dict[str, Any]:
    process = jobs.start_detached(project, job_id)
    try:
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return jobs.get_job(project, job_id)


def worker_log(job: dict[str, Any], project: Project, stage: int) -> str:
    parts = []
    for path in (
        Path(job["artifact_dir"]) / "worker.log",
        Path(job["artifact_dir"]) / "error.log",
        project.root / "artifacts" / "stages" / f"stage{stage}" / "train.log",
    ):
        if path.is_file():
            parts.append(f"== {path}\n{path.read_text()[-3000:]}")
    return "\n".join(parts)


def processes_with(marker: str) -> list[int]:
    """Pids whose command line contains `marker` (to check nothing survived)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if marker in cmdline and stat != "Z":
            found.append(int(entry.name))
    return found


def wait_until(predicate: Any, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def add_validation_split(project, n: int) -> list[int]:
    ids = []
    with project.transaction() as conn:
        for i in range(n):
            payload = json.dumps({"question": f"What is {i} plus {i}? (validation)"})
            ids.append(
                conn.execute(
                    "INSERT INTO queries(source_id, split, payload, reference, content_hash, "
                    "created_at) VALUES (?, 'validation', ?, ?, ?, ?)",
                    (f"v{i}", payload, str(2 * i), f"v{i}", utcnow()),
                ).lastrowid
            )
    return ids
