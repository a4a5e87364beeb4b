"""Baselines: standard KD and distilling step-by-step trained from the base student, and
evaluated under their own method names, each one command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from training_helpers import processes_with, seed_samples

from twt_backend.artifacts import adapter_dir, stage_dir
from twt_backend.baseline_data import baseline_examples
from twt_backend.cli import main as twt_main
from twt_backend.stage_data import stage_examples
from twt_backend.store import utcnow
from twt_backend.student_prompt import LABEL_PREFIX, RATIONALE_PREFIX, inference_prompt
from twt_backend.tasks import get_task
from twt_backend.training.run_settings import settings_from_config


@pytest.fixture
def seeded(project):
    seed_samples(project, 12)
    with project.transaction() as conn:
        for i in range(3):
            conn.execute(
                "INSERT INTO queries(source_id, split, payload, reference, content_hash, "
                "created_at) VALUES (?, 'test', ?, ?, ?, ?)",
                (
                    f"t{i}",
                    json.dumps({"question": f"What is {i} plus 1?"}),
                    str(i + 1),
                    f"t{i}",
                    utcnow(),
                ),
            )
    yield project
    for pid in processes_with(str(project.root)):
        os.kill(pid, signal.SIGKILL)


def twt(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "twt_backend", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 900) -> tuple[int, str]:
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, out


def test_kd_and_dss_examples(project):
    seed_samples(project, 3)
    task = get_task("math")
    samples = project.rows("SELECT query_id, rationale, answer FROM generations ORDER BY id")
    kd = baseline_examples(project, "kd")
    assert [e["target"] for e in kd] == [f"Answer: {s['answer']}" for s in samples]
    stage3 = {e["query_id"]: e["prompt"] for e in stage_examples(project, 3)}
    assert {e["query_id"]: e["prompt"] for e in kd} == stage3  # as HaRD's answer stage
    per_stage = baseline_examples(project, "kd", "stage")  # prompt mode "stage": its hint
    assert all("only the final number" in e["prompt"] for e in per_stage)
    dss = baseline_examples(project, "dss")
    labels = [e for e in dss if e["task"] == "label"]
    rationales = [e for e in dss if e["task"] == "rationale"]
    assert len(labels) == len(rationales) == 3 and len(dss) == 6
    assert all(e["prompt"].startswith(LABEL_PREFIX) for e in labels)
    assert all(e["prompt"].startswith(RATIONALE_PREFIX) for e in rationales)
    assert [e["target"] for e in rationales] == [s["rationale"] for s in samples]
    assert [e["target"] for e in labels] == [f"Answer: {s['answer']}" for s in samples]
    # both tasks see the same query; only the prefix tells them apart
    assert [e["prompt"].removeprefix(LABEL_PREFIX) for e in labels] == [
        e["prompt"].removeprefix(RATIONALE_PREFIX) for e in rationales
    ]
    payload = {"question": "What is 2 plus 2?"}
    assert inference_prompt(task, payload, "dss", 3) == labels[0]["prompt"].replace(
        labels[0]["prompt"].removeprefix(LABEL_PREFIX), task.query_text(payload) + "\n"
    )
    assert inference_prompt(task, payload, "kd", 3) == task.student_prompt(payload, "answer")


def test_baseline_settings_and_paths(project):
    settings = settings_from_config({"baseline": "dss"})
    assert settings.target == "dss" and settings.stage == 0 and settings.label == "baseline dss"
    assert settings.to_config()["baseline"] == "dss"
    assert "baseline" not in settings_from_config({"stage": 1}).to_config()
    assert adapter_dir(project.root, "kd") == project.root / "artifacts/baselines/kd/adapter"
    assert adapter_dir(project.root, 2) == project.root / "artifacts/stages/stage2/adapter"


def test_train_and_evaluate_kd_and_dss(seeded, tiny_model_dir):
    project = seeded
    flags = ["--student", str(tiny_model_dir), "--max-steps", "2", "--batch-size", "4"]
    flags += ["--max-length", "160", "--lr", "0.005", "--eval-size", "0", "--quiet"]
    training = {
        name: twt("train", str(project.root), "--baseline", name, *flags) for name in ("kd", "dss")
    }  # the two runs side by side
    for name, process in training.items():
        code, out = finish(process)
        assert code == 0, out[-3000:]
        assert (adapter_dir(project.root, name) / "adapter_model.safetensors").is_file()
    dss_data = (stage_dir(project.root, "dss") / "train_data.jsonl").read_text().splitlines()
    prompts = [json.loads(line)["prompt"] for line in dss_data]
    assert any(p.startswith(LABEL_PREFIX) for p in prompts)
    assert any(p.startswith(RATIONALE_PREFIX) for p in prompts)
    jobs_ = project.rows("SELECT name, status, config FROM jobs WHERE kind='train' ORDER BY id")
    assert {j["name"] for j in jobs_} == {"train baseline kd", "train baseline dss"}
    assert all(j["status"] == "finished" for j in jobs_)
    assert not any(json.loads(j["config"])["stage"] for j in jobs_)  # no HaRD stage claimed

    evals = {
        name: twt("eval", str(project.root), "--method", name, "--max-new-tokens", "4")
        for name in ("kd", "dss")
    }
    for process in evals.values():
        code, out = finish(process)
        assert code == 0, out[-3000:]
    for name in ("kd", "dss"):
        rows = project.rows("SELECT * FROM eval_results WHERE method=?", (name,))
        assert len(rows) == 3 and all(0 <= r["tokens"] <= 4 for r in rows)
    (config,) = [
        json.loads(r["config"])
        for r in project.rows("SELECT config FROM jobs WHERE kind='eval' AND name='eval dss'")
    ]
    assert config["baseline"] == "dss" and config["adapter"] == str(
        adapter_dir(project.root, "dss")
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "{dir}", "--baseline", "distil"], "invalid choice: 'distil'"),
        (["train", "{dir}", "--baseline", "kd", "--stage", "1"], "not allowed with argument"),
        (["eval", "{dir}", "--method", "kd"], "baseline kd has not been trained yet"),
        (["eval", "{dir}", "--method", "bogus"], "invalid choice: 'bogus'"),
        (["eval", "{dir}"], "one of the arguments --stage --method --teacher is required"),
    ],
)
def test_bad_baseline_input_exits_2_with_one_line(seeded, capsys, argv, message):
    code = twt_main([a.replace("{dir}", str(seeded.root)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not seeded.rows("SELECT id FROM jobs")  # a refused command leaves no job


def test_untrained_baseline_refused_by_train_preflight_when_no_samples(project, capsys):
    code = twt_main(["train", str(project.root), "--baseline", "dss"])
    err = capsys.readouterr().err
    assert code == 2 and "baseline dss: no training examples" in err
