"""One job per project for each kind of work that spends money or writes the same rows:
a second start is refused (exit 2) with the running job's id and how to follow it, from
the CLI and from the app; the lock is taken atomically across processes; a dead holder
frees it; a waiter returns when its worker cannot start."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fake_openai import FakeOpenAIServer, add_teacher, seed_queries

from twt_backend import jobs
from twt_backend.cli import main
from twt_backend.errors import JobLockedError
from twt_backend.generation import LabelOptions
from twt_backend.store import Project

REPO_ROOT = Path(__file__).resolve().parents[1]
FAST = LabelOptions(backoff_initial_s=0.02, backoff_max_s=0.2, flush_s=0.05, progress_s=0.1)
HANG_GUARD_S = 120  # a waiter that never returns fails here, long before pytest's timeout


def _status(project: Project, job_id: int) -> str:
    return str(jobs.get_job(project, job_id)["status"])


def _refused(project: Project, kind: str, config: dict, parent: int | None = None) -> str:
    with pytest.raises(JobLockedError) as info:
        jobs.create_job(project, kind, config, parent=parent)
    return str(info.value)


# ---- the CLI: two `twt generate` at the same moment ----------------------------------------------
def test_two_generates_started_at_once_send_each_request_once(project: Project) -> None:
    seed_queries(project, 20)
    with FakeOpenAIServer(latency_s=0.5) as server:
        add_teacher(project, "t", base_url=server.base_url, concurrency=1)
        argv = [sys.executable, "-m", "twt_backend", "generate", str(project.root), "--quiet"]
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        both = [
            subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
            )
            for _ in range(2)
        ]
        ended = [(p.communicate(timeout=300)[1], p.returncode) for p in both]
        assert sorted(code for _, code in ended) == [0, 2], ended
        assert server.stats()["requests"] == 20  # each query asked once
        assert server.duplicates() == {}
    (err,) = [err for err, code in ended if code == 2]
    (job,) = [j for j in jobs.list_jobs(project) if j["kind"] == "generate"]
    assert f"labelling job {job['id']} is already " in err
    assert f"follow it with `twt runs {project.root}`" in err
    assert err.count("twt: error:") == 1 and err.strip().splitlines()[-1].startswith("twt: error:")
    assert job["status"] == "finished"


# ---- the app: Start on the Labelling page while a terminal's job runs ----------------------------
@pytest.mark.gui
def test_the_app_refuses_labelling_beside_a_terminal_run(project, qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    from twt_gui.main_window import MainWindow
    from twt_gui.pages import labelling

    seed_queries(project, 10)
    with FakeOpenAIServer(latency_s=0.5) as server:
        add_teacher(project, "t", base_url=server.base_url, concurrency=1)
        job_id = jobs.create_job(project, "generate", dataclasses.asdict(FAST))
        worker = jobs.start_detached(project, job_id)  # what `twt generate` does
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        qtbot.addWidget(window)
        try:
            window.page("Projects").controller.open(project.root)
            page = window.show_page("Labelling")
            warnings: list[str] = []
            monkeypatch.setattr(
                labelling.QMessageBox, "warning", lambda parent, title, text: warnings.append(text)
            )
            assert page.start() is None
            (text,) = warnings
            assert f"labelling job {job_id} is already " in text and "twt runs" in text
            assert [j["id"] for j in jobs.list_jobs(project)] == [job_id]
        finally:
            jobs.cancel(project, job_id)
            worker.wait(timeout=60)
            window.session.close()


# ---- which jobs may run beside which ------------------------------------------------------------
def test_one_job_per_lock_key(project: Project) -> None:
    stage1 = jobs.create_job(project, "train", {"stage": 1})
    jobs.create_job(project, "train", {"stage": 2})  # another stage: its own rows and adapter
    jobs.create_job(project, "train", {"stage": 0, "baseline": "kd"})
    message = _refused(project, "train", {"stage": 1, "training": {"lr": 1e-4}})
    assert message.startswith(f"training job {stage1} (stage 1) is already queued")
    assert f"`twt runs cancel {project.root} {stage1}`" in message
    jobs.create_job(project, "eval", {"stage": 1})
    jobs.create_job(project, "eval", {"stage": 2})
    assert "evaluation job" in _refused(project, "eval", {"stage": 1, "method": "stage1"})
    generate = jobs.create_job(project, "generate", {})
    assert f"labelling job {generate}" in _refused(project, "generate", {"limit": 3})
    jobs.create_job(project, "selftest", {})
    jobs.create_job(project, "selftest", {})  # the worker self-test holds no lock
    assert "is already queued" in _refused(project, "pipeline", {"n_stages": 3})
    jobs.cancel(project, stage1)
    jobs.create_job(project, "train", {"stage": 1})  # freed by the cancel


def test_a_pipeline_holds_every_lock_and_its_steps_run_under_it(project: Project) -> None:
    pipeline = jobs.create_job(project, "pipeline", {"n_stages": 3})
    message = _refused(project, "generate", {})
    assert f"pipeline job {pipeline} (a pipeline runs every step" in message
    assert "is already queued" in _refused(project, "pipeline", {"n_stages": 4})
    jobs.create_job(project, "generate", {}, parent=pipeline)
    refine = jobs.create_job(project, "refine", {"round": 1}, parent=pipeline)
    answers = jobs.create_job(project, "infer", {"stage": 1}, parent=refine)  # a grandchild
    message = _refused(project, "infer", {"stage": 1}, parent=pipeline)
    assert f"student-answers job {answers} (stage 1)" in message


def test_a_dead_holder_frees_its_lock(project: Project) -> None:
    first = jobs.create_job(project, "generate", {})
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with project.transaction() as conn:  # a worker killed with -9 while running
        conn.execute(
            "UPDATE jobs SET status='running', pid=?, host=? WHERE id=?",
            (gone.pid, socket.gethostname(), first),
        )
    second = jobs.create_job(project, "generate", {})
    assert _status(project, first) == "interrupted"
    assert _status(project, second) == "queued"


def test_a_resumed_job_takes_its_lock_again(project: Project) -> None:
    old = jobs.create_job(project, "train", {"stage": 1})
    jobs.cancel(project, old)
    new = jobs.create_job(project, "train", {"stage": 1})
    with pytest.raises(JobLockedError, match=f"training job {new} "):
        jobs.start_detached(project, old)
    assert _status(project, old) == "cancelled"


# ---- waiters return when the worker cannot start ------------------------------------------------
def _in_thread(target) -> tuple[threading.Thread, list]:  # type: ignore[no-untyped-def]
    result: list = []
    thread = threading.Thread(target=lambda: result.append(target()), daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    return thread, result


def test_a_worker_that_cannot_open_its_project_fails_its_job(project, monkeypatch, capsys):
    job_id = jobs.create_job(project, "selftest", {"steps": 1})
    relative = project.root.name  # the old bug: a relative folder, run from inside the project
    monkeypatch.setattr(
        jobs,
        "prepare",
        lambda folder, job: [sys.executable, "-m", "twt_backend", "job", "run", relative, str(job)],
    )
    thread, result = _in_thread(lambda: main(["runs", "resume", str(project.root), str(job_id)]))
    assert not thread.is_alive(), "the waiter never returned"
    assert result == [1]
    err = capsys.readouterr().err
    job = jobs.get_job(project, job_id)
    assert job["status"] == "failed"
    assert "worker exited before the job started" in job["error"]
    assert f"{project.root / relative}: not a TwT project" in job["error"]
    assert f"job {job_id} failed: " in err and "not a TwT project" in err


def test_a_job_whose_starter_died_is_given_up(project: Project) -> None:
    job_id = jobs.create_job(project, "selftest", {"steps": 1})
    with project.transaction() as conn:  # queued long ago, no worker ever started
        conn.execute(
            "UPDATE jobs SET heartbeat_at = heartbeat_at - ? WHERE id=?",
            (jobs.QUEUED_GRACE_S + 1, job_id),
        )
    thread, result = _in_thread(lambda: jobs.wait(project, job_id, poll_s=0.05))
    assert not thread.is_alive(), "the waiter never returned"
    (job,) = result
    assert job["status"] == "interrupted" and "did not start" in job["error"]
