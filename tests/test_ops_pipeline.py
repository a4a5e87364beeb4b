"""`twt run` over the same operations as `twt train`: an interrupted stage resumes from its
checkpoint under the same job, and a step that finished with failed items makes `twt run`
exit 3 with the step's first error (issue 14; issue 11's leftover)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from fake_openai import FakeOpenAIServer
from test_pipeline import FLAGS, _cli, _logs, _setup, responder
from training_helpers import processes_with, wait_until

from twt_backend import jobs
from twt_backend.artifacts import checkpoints_dir
from twt_backend.cli.follow import FINISHED_WITH_FAILURES
from twt_backend.config import TrainingConfig
from twt_backend.settings import load_config, save_config
from twt_backend.training.callbacks import TEST_PAUSE_VAR

REPO_ROOT = Path(__file__).resolve().parents[1]


class OneBadRequest:
    """Fault picker: the first request the server sees (one teacher, one query) always
    gets a 400, a permanent error; every other request is answered."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.lock = threading.Lock()

    def __call__(self, key: str, attempt: int) -> str | None:
        with self.lock:
            self.key = self.key or key
            return "400" if key == self.key else None


def _loss_steps(project, job_id: int) -> list[int]:
    rows = project.rows(
        "SELECT step FROM metrics WHERE job_id=? AND name='loss' ORDER BY id", (job_id,)
    )
    return [r["step"] for r in rows]


def test_twt_run_resumes_a_killed_stage_and_exits_3_on_failed_items(
    project, tiny_model_dir, minilm_dir, monkeypatch, capsys
) -> None:
    with FakeOpenAIServer(responder=responder, faults=OneBadRequest()) as server:
        _setup(project, server, tiny_model_dir, minilm_dir)
        saved = load_config(project, TrainingConfig)
        save_config(project, TrainingConfig(**{**saved.__dict__, "save_steps": 1}))
        env = {**os.environ, TEST_PAUSE_VAR: "1"}  # stage 1 pauses after checkpoint 1
        first = subprocess.Popen(
            [sys.executable, "-m", "twt_backend", "run", str(project.root), *FLAGS, "--quiet"],
            cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        paused = checkpoints_dir(project.root, 1) / "paused-at-step-1"
        try:
            wait_until(lambda: paused.exists() or first.poll() is not None, 1800, step=0.2)
            assert paused.exists(), _logs(project)
            (train,) = [j for j in jobs.list_jobs(project) if j["kind"] == "train"]
            os.kill(train["pid"], signal.SIGKILL)  # the stage's worker dies mid-run
            first.communicate(timeout=600)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
        assert first.returncode == 1  # the pipeline stopped on its failed step
        assert wait_until(lambda: not processes_with(str(project.root)), 120)
        assert jobs.get_job(project, train["id"])["status"] != "finished"

        capsys.readouterr()
        assert _cli(str(project.root), *FLAGS, "--quiet") == FINISHED_WITH_FAILURES, _logs(project)
        err = capsys.readouterr().err
    trains = [j for j in jobs.list_jobs(project) if j["kind"] == "train"]
    assert [j["name"] for j in trains] == ["train stage 1", "train stage 2", "train stage 3"]
    assert trains[0]["id"] == train["id"] and trains[0]["status"] == "finished"  # resumed
    assert _loss_steps(project, train["id"]) == [1, 2]  # step 2 after checkpoint 1
    labelling = [j for j in jobs.list_jobs(project) if j["kind"] == "generate"][-1]
    assert f"step labelling (job {labelling['id']}) finished with 1 failed item(s)" in err
    assert "first error:" in err and "400" in err
