"""Live evaluation during training: the validation slice, generation with the model being
trained, judged accuracy and output tokens written beside eval_loss."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from training_helpers import (
    add_validation_split,
    processes_with,
    run_train,
    seed_samples,
    train_config,
    worker_log,
)

from twt_backend.artifacts import stage_dir
from twt_backend.config import GenerationConfig
from twt_backend.jobs import JobContext
from twt_backend.tasks import get_task
from twt_backend.training.validation import (
    ANSWER_TOKENS,
    REASONING_TOKENS,
    choose_validation,
    live_eval_items,
    live_max_new_tokens,
    split_examples,
)


@pytest.fixture
def seeded(project):
    seed_samples(project, 40)  # a tenth: 4 validation queries
    yield project
    for pid in processes_with(str(project.root)):
        os.kill(pid, signal.SIGKILL)


def metric_points(project, job_id: int, name: str) -> list[tuple[int, float]]:
    rows = project.rows(
        "SELECT step, value FROM metrics WHERE job_id=? AND name=? ORDER BY id", (job_id, name)
    )
    return [(r["step"], r["value"]) for r in rows]


def test_without_a_validation_split_nothing_is_held_out(seeded, tiny_model_dir):
    """Issue 13 item 4: no training example is held out silently; without a validation
    split there is no live validation, and the run says so."""
    project = seeded
    config = train_config(1, tiny_model_dir, max_steps=4, eval_steps=2, eval_size=4,
                          max_length=160, save_steps=100, eval_max_new_tokens=12)  # fmt: skip
    job = run_train(project, config)
    assert job["status"] == "finished", worker_log(job, project, 1)
    folder = stage_dir(project.root, 1)
    trained = [json.loads(line) for line in (folder / "train_data.jsonl").read_text().splitlines()]
    assert len({t["query_id"] for t in trained}) == 40  # every query of G is trained on
    assert (folder / "eval_data.jsonl").read_text() == ""
    assert (folder / "live_eval.jsonl").read_text() == ""
    assert metric_points(project, job["id"], "eval_accuracy") == []
    assert metric_points(project, job["id"], "eval_loss") == []
    log = (Path(job["artifact_dir"]) / "job.log").read_text()
    assert "no live validation (no validation split; nothing held out)" in log


def test_live_validation_judges_against_the_reference_and_asks_the_shared_prompt(
    seeded, tiny_model_dir
):
    project = seeded
    validation = add_validation_split(project, 4)
    config = train_config(1, tiny_model_dir, max_steps=4, eval_steps=2, eval_size=4,
                          max_length=160, save_steps=100, eval_max_new_tokens=12)  # fmt: skip
    job = run_train(project, config)
    assert job["status"] == "finished", worker_log(job, project, 1)
    accuracy = metric_points(project, job["id"], "eval_accuracy")
    tokens = metric_points(project, job["id"], "eval_output_tokens")
    assert [step for step, _ in accuracy] == [2, 4]
    assert [step for step, _ in tokens] == [2, 4]
    assert all(0.0 <= value <= 1.0 for _, value in accuracy)
    assert all(0.0 <= value <= 12 for _, value in tokens)
    folder = stage_dir(project.root, 1)
    live = [json.loads(line) for line in (folder / "live_eval.jsonl").read_text().splitlines()]
    assert sorted(item["query_id"] for item in live) == validation
    references = {
        r["id"]: r["reference"] for r in project.rows("SELECT id, reference FROM queries")
    }
    assert all(item["reference"] == references[item["query_id"]] for item in live)
    shared = get_task("math").shared_hint  # every stage is asked the one shared instruction
    assert all(item["prompt"].endswith(f"\n\n{shared}\n") for item in live)
    logged = [
        json.loads(line) for line in (folder / "train_metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in logged if "eval_accuracy" in r] == [2, 4]


def test_validation_slice_is_per_query_and_stable(project):
    examples = [{"query_id": q, "prompt": "p", "target": "t"} for q in range(1, 41) for _ in (0, 1)]
    train, held, held_ids = split_examples(examples, eval_size=64, seed=7)
    assert len(held_ids) == 4 and len(held) == 8 and len(train) == 72
    assert not {e["query_id"] for e in train} & set(held_ids)
    # a stage with a few queries fewer still holds out the queries it has in common
    fewer = [e for e in examples if e["query_id"] not in (held_ids[0], 1, 2, 3)]
    assert set(held_ids[1:]) <= set(split_examples(fewer, 64, seed=7)[2])
    assert split_examples(examples, eval_size=0, seed=7)[2] == []


def test_live_eval_prompts_and_token_budgets(project):
    seed_samples(project, 3)
    ids = [r["id"] for r in project.rows("SELECT id FROM queries ORDER BY id")]
    with project.transaction() as conn:
        conn.execute("UPDATE queries SET reference='99' WHERE id=?", (ids[0],))
    stage3 = live_eval_items(project, ids, 3, 3)
    assert [i["reference"] for i in stage3] == ["99", "5", "7"]  # own reference, else teacher's
    assert all(i["prompt"].endswith(f"{get_task('math').shared_hint}\n") for i in stage3)
    per_stage = live_eval_items(project, ids, 3, 3, "stage")  # prompt mode "stage"
    assert all("only the final number" in i["prompt"] for i in per_stage)
    assert all(i["prompt"].startswith("[label] ") for i in live_eval_items(project, ids, "dss", 3))
    assert live_max_new_tokens("math", 1, 3, 0) == REASONING_TOKENS
    assert live_max_new_tokens("math", 3, 3, 0) == ANSWER_TOKENS
    assert live_max_new_tokens("math", "kd", 3, 0) == ANSWER_TOKENS
    assert live_max_new_tokens("code", 3, 3, 0) == REASONING_TOKENS  # a function needs room
    assert live_max_new_tokens("math", 3, 3, 50) == 50


def test_callback_generates_in_eval_mode_and_restores_training(project, tiny_model_dir):
    from types import SimpleNamespace

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from twt_backend.evaluation.inference import generate
    from twt_backend.training.live_eval import LiveEvalCallback

    seed_samples(project, 2)
    ids = [r["id"] for r in project.rows("SELECT id FROM queries ORDER BY id")]
    items = live_eval_items(project, ids, 3, 3)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    tokenizer.padding_side = "right"  # as the training collator leaves it
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        LoraConfig(r=4, target_modules="all-linear", lora_dropout=0.5),
    )
    model.train()
    folder = project.root / "artifacts" / "live"
    folder.mkdir(parents=True)
    ctx = JobContext(project.root, 1, "train", {}, folder)
    gen = GenerationConfig(max_new_tokens=6, batch_size=2)
    callback = LiveEvalCallback(ctx, items, "math", gen, folder / "metrics.jsonl")
    seen_modes = []
    original = model.generate

    def spy(*args, **kwargs):
        seen_modes.append(model.training)
        return original(*args, **kwargs)

    model.generate = spy
    args = SimpleNamespace(process_index=0, world_size=1, eval_strategy="steps")
    state = SimpleNamespace(global_step=2, is_world_process_zero=True)
    callback.on_evaluate(args, state, None, model=model, processing_class=tokenizer)
    assert seen_modes and not any(seen_modes)  # generated in eval mode (no dropout)
    assert model.training and tokenizer.padding_side == "right"
    (row,) = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    model.eval()
    tokenizer.padding_side = "left"
    expected = generate(model, tokenizer, [i["prompt"] for i in items], gen)
    assert row["eval_output_tokens"] == sum(c.tokens for c in expected) / 2
    callback.on_evaluate(args, state, None, model=model, processing_class=tokenizer)
    assert len((folder / "metrics.jsonl").read_text().splitlines()) == 1  # once per step


def test_judged_accuracy_counts_right_answers(project, tmp_path: Path):
    from twt_backend.training.live_eval import LiveEvalCallback

    seed_samples(project, 4)
    ids = [r["id"] for r in project.rows("SELECT id FROM queries ORDER BY id")]
    items = live_eval_items(project, ids, 3, 3)
    ctx = JobContext(project.root, 7, "train", {}, tmp_path)
    callback = LiveEvalCallback(ctx, items, "math", GenerationConfig(), tmp_path / "m.jsonl")
    answers = ["Answer: 3", "Answer: 5", "Answer: 1000", "no idea"]  # references 3, 5, 7, 9
    callback._write(
        4, [(q, text, 10 * (k + 1)) for k, (q, text) in enumerate(zip(ids, answers, strict=True))]
    )
    values = dict(
        (r["name"], r["value"])
        for r in project.rows("SELECT name, value FROM metrics WHERE job_id=7 AND step=4")
    )
    assert values == {"eval_accuracy": 0.5, "eval_output_tokens": 25.0}


def test_a_validation_split_replaces_the_hold_out(project):
    seed_samples(project, 40)
    examples = [{"query_id": q, "prompt": "p", "target": "t"} for q in range(1, 41)]
    # no validation split: nothing held out, no live validation (never a slice of G)
    assert choose_validation(project, examples, 64, 7) == (examples, [], [])
    validation = add_validation_split(project, 6)
    train, held, ids = choose_validation(project, examples, 4, 7)
    assert train == examples and held == [] and len(ids) == 4 and set(ids) <= set(validation)
    assert ids == choose_validation(project, examples, 4, 7)[2]  # stable
    assert choose_validation(project, examples, 0, 7)[2] == []  # eval_size 0: off


def test_live_validation_on_the_validation_split(seeded, tiny_model_dir):
    """No eval dataset, so the Trainer never evaluates: the callback keeps the same rhythm."""
    project = seeded
    validation = add_validation_split(project, 3)
    config = train_config(1, tiny_model_dir, max_steps=5, eval_steps=2, eval_size=8,
                          max_length=160, save_steps=100, eval_max_new_tokens=6)  # fmt: skip
    job = run_train(project, config)
    assert job["status"] == "finished", worker_log(job, project, 1)
    steps = [step for step, _ in metric_points(project, job["id"], "eval_accuracy")]
    assert steps == [2, 4, 5]  # every eval_steps, and the last step
    assert metric_points(project, job["id"], "eval_loss") == []
    folder = stage_dir(project.root, 1)
    live = [json.loads(line) for line in (folder / "live_eval.jsonl").read_text().splitlines()]
    assert sorted(item["query_id"] for item in live) == validation
    assert all(item["reference"] is not None for item in live)
    trained = (folder / "train_data.jsonl").read_text().splitlines()
    assert len(trained) == 40  # nothing held out of G
