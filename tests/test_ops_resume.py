"""One start-or-resume rule and one "train stage N" operation under every front end: the
app's Training page controller, `twt train` and `twt run` (issue 14)."""

from __future__ import annotations

import json
import os
import signal

import pytest
from training_helpers import processes_with, seed_samples, wait_until, worker_log

from twt_backend import jobs
from twt_backend.artifacts import adapter_dir, checkpoints_dir, run_config_path
from twt_backend.config import TrainingConfig
from twt_backend.errors import UsageError
from twt_backend.ops.jobs import start_or_resume
from twt_backend.ops.training import train_config
from twt_backend.settings import save_config
from twt_backend.training.callbacks import TEST_PAUSE_VAR


def _loss_steps(project, job_id: int) -> list[int]:
    rows = project.rows(
        "SELECT step FROM metrics WHERE job_id=? AND name='loss' ORDER BY id", (job_id,)
    )
    return [r["step"] for r in rows]


def _fake_trained(project, stage: int, student: str) -> None:
    """The marks of a finished stage that the next stage starts from (its adapter config
    and run config): what `preflight` checks before a later stage may start."""
    adapter = adapter_dir(project.root, stage)
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    run_config_path(project.root, stage).write_text(json.dumps({"student_path": student}))


@pytest.fixture
def seeded(project):
    yield project
    for pid in processes_with(str(project.root)):  # never leave a trainer behind
        os.kill(pid, signal.SIGKILL)


def test_app_trains_stage_3_of_a_four_stage_project_in_the_compressed_format(project, monkeypatch):
    """The Training page's controller used to send n_stages=3: stage 3 of a four-stage
    project then trained answer-only. The format now comes from the project."""
    from twt_backend.training.job import run_examples
    from twt_backend.training.run_settings import settings_from_config
    from twt_gui.pages.training_ctl import TrainingController

    monkeypatch.setattr(jobs, "start_detached", lambda project, job_id: None)
    seed_samples(project, 4, refine_round=2)  # stage 3 of 4 trains on round-2 rewrites
    project.set_meta("n_stages", "4")
    _fake_trained(project, 2, "some/student")
    controller = TrainingController(project)
    launch = controller.settings()[2]
    job = jobs.get_job(project, controller.start_training(3, launch))
    assert job["config"]["n_stages"] == 4 and job["config"]["stage"] == 3
    examples = run_examples(project, settings_from_config(job["config"]))
    refined = {r["refined_text"] for r in project.rows("SELECT refined_text FROM refinements")}
    assert len(examples) == 4
    assert all(any(text in e["target"] for text in refined) for e in examples)
    # the CLI's builder gives the very same config
    assert train_config(project, 3, {"launch": job["config"]["launch"]}) == job["config"]


def test_app_resumes_an_interrupted_stage_from_its_checkpoint(seeded, tiny_model_dir, monkeypatch):
    """Train stage 1 from the app, kill its worker mid-run, press Train again: the same job
    continues after its last checkpoint (it used to start a new job and drop them)."""
    from twt_gui.pages.training_ctl import TrainingController

    project = seeded
    seed_samples(project, 12)
    pause, total = 3, 6
    save_config(
        project,
        TrainingConfig(student=str(tiny_model_dir), max_steps=total, save_steps=3,
                       batch_size=4, lr=1e-3, max_length=128, eval_size=0),
    )  # fmt: skip
    controller = TrainingController(project)
    launch = controller.settings()[2]
    monkeypatch.setenv(TEST_PAUSE_VAR, str(pause))
    job_id = controller.start_training(1, launch)
    monkeypatch.delenv(TEST_PAUSE_VAR)  # the resumed run below goes to the end
    paused = checkpoints_dir(project.root, 1) / f"paused-at-step-{pause}"
    wait_until(
        lambda: paused.exists() or jobs.get_job(project, job_id)["status"] not in jobs.ACTIVE,
        1800,
        step=0.1,
    )  # an event (or a failed run), not a deadline
    job = jobs.get_job(project, job_id)
    assert paused.exists(), worker_log(job, project, 1)
    os.kill(job["pid"], signal.SIGKILL)  # the worker dies like a crashed machine
    assert wait_until(lambda: not processes_with(str(project.root)), 120)
    controller.reattach()
    assert jobs.get_job(project, job_id)["status"] == "interrupted"

    assert controller.start_training(1, launch) == job_id  # resumed, not a new job
    assert wait_until(lambda: jobs.get_job(project, job_id)["status"] not in jobs.ACTIVE, 1800)
    job = jobs.get_job(project, job_id)
    assert job["status"] == "finished", worker_log(job, project, 1)
    assert [j["id"] for j in jobs.list_jobs(project)] == [job_id]
    steps = _loss_steps(project, job_id)
    assert steps[:pause] == list(range(1, pause + 1))
    assert steps[pause:] == list(range(pause + 1, total + 1))  # from the checkpoint on


def _stopped_train_job(project, config, status: str, with_checkpoint: bool) -> int:
    job_id = jobs.create_job(project, "train", config, name="train stage 1")
    jobs._set_status(project, job_id, status, None)
    folder = checkpoints_dir(project.root, 1)
    if with_checkpoint:
        (folder / "checkpoint-3").mkdir(parents=True)
        (folder / "JOB").write_text(f"{job_id}\n")
    return job_id


def test_start_or_resume_rule(project, tmp_path):
    seed_samples(project, 4)
    config = train_config(project, 1, {"training": {"student": str(tmp_path)}})
    other = train_config(project, 1, {"training": {"student": str(tmp_path), "lr": 1e-3}})
    stopped = _stopped_train_job(project, config, "interrupted", with_checkpoint=True)
    # same settings (another launcher aside): that job, resumed
    relaunched = {**config, "launch": {**config["launch"], "master_port": 29999}}
    assert start_or_resume(project, "train", relaunched).job_id == stopped
    # other settings would drop its checkpoint: refused, nothing created
    with pytest.raises(UsageError, match=f"job {stopped} stopped .*--restart"):
        start_or_resume(project, "train", other)
    assert len(jobs.list_jobs(project)) == 1
    # unless asked for
    fresh = start_or_resume(project, "train", other, restart=True)
    assert not fresh.resumed and fresh.job_id != stopped
    # a finished job is never resumed; selection is never resumed
    jobs._set_status(project, fresh.job_id, "finished", None)
    assert not start_or_resume(project, "train", other).resumed
    select = start_or_resume(project, "select", {}).job_id
    jobs._set_status(project, select, "interrupted", None)
    assert start_or_resume(project, "select", {}).job_id != select


def test_cli_train_refuses_to_drop_a_checkpoint_of_other_settings(project, tmp_path, capsys):
    from twt_backend.cli import main

    seed_samples(project, 4)
    config = train_config(project, 1, {"training": {"student": str(tmp_path)}})
    _stopped_train_job(project, config, "cancelled", with_checkpoint=True)
    code = main(["train", str(project.root), "--stage", "1", "--student", str(tmp_path),
                 "--lr", "0.001", "--quiet"])  # fmt: skip
    assert code == 2
    assert "--restart" in capsys.readouterr().err
    assert len(jobs.list_jobs(project)) == 1
    assert (checkpoints_dir(project.root, 1) / "checkpoint-3").is_dir()
