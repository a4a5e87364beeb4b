"""Training engine end to end on a tiny local model: stages, chaining, torchrun, kill/resume,
cancel. Each test runs real worker and trainer processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from training_helpers import (
    free_port,
    processes_with,
    run_train,
    seed_samples,
    train_config,
    wait_until,
    worker_log,
)

from twt_backend import jobs
from twt_backend.artifacts import adapter_dir, checkpoints_dir, stage_dir

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_adapter(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


def loss_steps(project, job_id: int) -> list[int]:
    rows = project.rows(
        "SELECT step FROM metrics WHERE job_id=? AND name='loss' ORDER BY id", (job_id,)
    )
    return [r["step"] for r in rows]


@pytest.fixture
def seeded(project):
    seed_samples(project, 12, refine_round=1)
    yield project
    for pid in processes_with(str(project.root)):  # never leave a trainer behind
        os.kill(pid, signal.SIGKILL)


def test_stages_chain_log_loss_and_train_only_lora(seeded, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    project = seeded
    job = run_train(project, train_config(1, tiny_model_dir, save_steps=100))
    assert job["status"] == "finished", worker_log(job, project, 1)
    assert loss_steps(project, job["id"]) == [1, 2, 3]
    names = {
        r["name"] for r in project.rows("SELECT name FROM metrics WHERE job_id=?", (job["id"],))
    }
    assert {"loss", "learning_rate", "grad_norm", "epoch", "tokens_per_s", "eta_s"} <= names
    assert job["progress"]["bars"]["train"] == {"done": 3, "total": 3}

    stage1 = load_adapter(adapter_dir(project.root, 1))
    assert stage1 and all("lora_" in key for key in stage1)
    assert any(v.abs().sum() > 0 for k, v in stage1.items() if "lora_B" in k)  # B starts at 0
    run_config = json.loads((stage_dir(project.root, 1) / "run_config.json").read_text())
    assert run_config["n_examples"] == 12 and run_config["settings"]["lora"]["rank"] == 8

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    original = {k: v.clone() for k, v in base.state_dict().items()}
    trained = PeftModel.from_pretrained(base, str(adapter_dir(project.root, 1)))
    for key, value in trained.get_base_model().state_dict().items():
        if "lora_" not in key:
            plain = key.replace(".base_layer", "")
            assert torch.equal(value, original[plain]), f"base weight {plain} changed"

    # stage 2 at lr 0 keeps exactly the stage-1 weights: it started from them
    job2 = run_train(project, train_config(2, tiny_model_dir, lr=0.0, max_steps=1, save_steps=100))
    assert job2["status"] == "finished", worker_log(job2, project, 2)
    stage2 = load_adapter(adapter_dir(project.root, 2))
    assert stage2.keys() == stage1.keys()
    assert all(torch.equal(stage1[k], stage2[k]) for k in stage1)

    config3 = train_config(3, tiny_model_dir, max_steps=2, save_steps=100, merge_export=True)
    job3 = run_train(project, config3)
    assert job3["status"] == "finished", worker_log(job3, project, 3)
    assert loss_steps(project, job3["id"]) == [1, 2]
    stage3 = load_adapter(adapter_dir(project.root, 3))
    assert any(not torch.equal(stage2[k], stage3[k]) for k in stage2)

    merged = AutoModelForCausalLM.from_pretrained(stage_dir(project.root, 3) / "merged")
    with_adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(adapter_dir(project.root, 3))
    )
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, with_adapter(ids).logits, atol=1e-4)
    data = (stage_dir(project.root, 3) / "train_data.jsonl").read_text().splitlines()
    assert json.loads(data[0])["target"] == "Answer: 3"


def test_later_stage_needs_the_previous_adapter(seeded, tiny_model_dir):
    job = run_train(seeded, train_config(2, tiny_model_dir))
    assert job["status"] == "failed" and "train stage 1 first" in job["error"]


def test_torchrun_two_processes_agree(seeded, tiny_model_dir):
    launch = {"launcher": "torchrun", "nproc": 2, "master_port": free_port()}
    job = run_train(seeded, train_config(1, tiny_model_dir, launch=launch))
    assert job["status"] == "finished", worker_log(job, seeded, 1)
    ranks = [
        json.loads((stage_dir(seeded.root, 1) / "ranks" / f"rank{r}.json").read_text())
        for r in (0, 1)
    ]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["global_step"] == ranks[1]["global_step"] == 3
    assert ranks[0]["trainable_sha256"] == ranks[1]["trainable_sha256"]
    assert ranks[0]["train_loss"] is not None
    assert loss_steps(seeded, job["id"]) == [1, 2, 3]  # rank 0 alone writes metrics
    launch_line = (Path(job["artifact_dir"]) / "job.log").read_text()
    assert "torch.distributed.run --nproc_per_node 2" in launch_line


def _twt(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "twt_backend", *args],
        cwd=str(REPO_ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _last_checkpoint(project) -> int:
    states = checkpoints_dir(project.root, 1).glob("checkpoint-*/trainer_state.json")
    return max((int(p.parent.name.split("-")[1]) for p in states), default=0)


def test_kill_9_then_twt_train_resumes_from_the_checkpoint(seeded, tiny_model_dir, monkeypatch):
    project = seeded
    # The trainer pauses once checkpoint 3 is saved (test-only hook: StopCallback.on_save), so
    # the kill lands mid-run however fast or busy the machine is; no race against the clock.
    pause, total = 3, 6
    flags = ["--stage", "1", "--student", str(tiny_model_dir), "--max-steps", str(total),
             "--save-steps", "3", "--batch-size", "4", "--lr", "1e-3", "--max-length", "128",
             "--eval-size", "0", "--quiet"]  # fmt: skip
    from twt_backend.training.callbacks import TEST_PAUSE_VAR

    monkeypatch.setenv(TEST_PAUSE_VAR, str(pause))
    first = _twt("train", str(project.root), *flags)  # the first run is a `twt train` too
    monkeypatch.delenv(TEST_PAUSE_VAR)  # the resumed run below goes to the end
    paused = checkpoints_dir(project.root, 1) / f"paused-at-step-{pause}"
    try:
        # an event, not a deadline: the pause marker, or the command ending (a failure)
        wait_until(lambda: paused.exists() or first.poll() is not None, 1800, step=0.1)
        (job,) = jobs.list_jobs(project)
        assert paused.exists(), worker_log(job, project, 1)
        os.kill(job["pid"], signal.SIGKILL)  # the worker dies like a crashed machine
        first.communicate(timeout=600)
        assert wait_until(lambda: not processes_with(str(project.root)), 120), (
            "trainer processes outlived their worker"
        )
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 1  # its worker died: the command failed, the job is resumable
    assert _last_checkpoint(project) == pause
    steps_before = loss_steps(project, job["id"])
    assert steps_before == list(range(1, pause + 1))

    second = _twt("train", str(project.root), *flags)
    out, _ = second.communicate(timeout=1800)  # a bound for a run that will end, not a goal
    assert second.returncode == 0, out.decode() + worker_log(job, project, 1)
    assert f"resuming job {job['id']}" in out.decode()
    assert [j["id"] for j in jobs.list_jobs(project)] == [job["id"]]
    # continued right after the last checkpoint, up to the end
    assert loss_steps(project, job["id"])[pause:] == list(range(pause + 1, total + 1))
    assert jobs.get_job(project, job["id"])["status"] == "finished"


def test_cancel_saves_a_checkpoint_and_stops_every_process(seeded, tiny_model_dir):
    """Under torchrun: worker, launcher and both ranks stop; the ranks agree on a checkpoint."""
    project = seeded
    launch = {"launcher": "torchrun", "nproc": 2, "master_port": free_port()}
    config = train_config(1, tiny_model_dir, max_steps=10_000, save_steps=10_000, launch=launch)
    job_id = jobs.create_job(project, "train", config)
    process = jobs.start_detached(project, job_id)
    try:
        running = lambda: len(loss_steps(project, job_id)) >= 2 or process.poll() is not None  # noqa: E731
        wait_until(running, 1800)  # an event (or a failed run), not a deadline
        assert len(loss_steps(project, job_id)) >= 2, worker_log(
            jobs.get_job(project, job_id), project, 1
        )
        assert len(processes_with(str(project.root))) == 4  # worker, torchrun, 2 ranks
        assert jobs.cancel(project, job_id, grace_s=300) == "cancelled"
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert wait_until(lambda: not processes_with(str(project.root)), 120)
    assert list(checkpoints_dir(project.root, 1).glob("checkpoint-*")), "no checkpoint on cancel"
    assert not adapter_dir(project.root, 1).exists()
    assert jobs.get_job(project, job_id)["status"] == "cancelled"
