"""Student inference and evaluation jobs on the tiny local model: storage, resume, sharding."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from training_helpers import free_port

from twt_backend import jobs
from twt_backend.config import GenerationConfig
from twt_backend.evaluation.inference import generate, load_student
from twt_backend.evaluation.job import summary
from twt_backend.store import utcnow


def _add_queries(project, n, split="test"):
    with project.transaction() as conn:
        for i in range(n):
            conn.execute(
                "INSERT INTO queries(source_id, split, payload, reference, content_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    f"q{i}",
                    split,
                    json.dumps({"question": f"What is {i} plus {i}?"}),
                    str(2 * i),
                    f"h{split}{i}",
                    utcnow(),
                ),
            )


def _save_adapter(model_dir, out_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_dir),
        LoraConfig(r=4, target_modules="all-linear"),
    )
    model.save_pretrained(out_dir)


def _eval_config(tiny_model_dir, **extra):
    return {
        "stage": 0,
        "split": "test",
        "student": str(tiny_model_dir),
        "generation": {"max_new_tokens": 6, "batch_size": 4},
        **extra,
    }


def test_batched_generation_matches_one_at_a_time(tiny_model_dir):
    model, tokenizer = load_student(tiny_model_dir)
    prompts = ["What is 1 plus 1?", "A much longer question about apples and pears, please?", "Hi"]
    gen = GenerationConfig(max_new_tokens=5, batch_size=3)
    batched = generate(model, tokenizer, prompts, gen)
    single = [
        generate(model, tokenizer, [p], GenerationConfig(max_new_tokens=5, batch_size=1))[0]
        for p in prompts
    ]
    assert [c.tokens for c in batched] == [c.tokens for c in single]
    assert [c.text for c in batched] == [c.text for c in single]
    assert all(0 <= c.tokens <= 5 for c in batched)


def test_eval_job_stores_every_answer_and_resumes(project, tiny_model_dir):
    _add_queries(project, 5)
    job_id = jobs.create_job(project, "eval", _eval_config(tiny_model_dir, limit=3))
    assert jobs.start_detached(project, job_id).wait(timeout=900) == 0, (
        project.root / "artifacts"
    ).glob("**/*.log")
    rows = project.rows("SELECT * FROM eval_results WHERE method='stage0' ORDER BY query_id")
    assert len(rows) == 3
    assert all(r["tokens"] is not None and 0 <= r["tokens"] <= 6 for r in rows)
    assert all(r["correct"] in (0, 1) for r in rows)
    first_ids = [r["id"] for r in rows]
    # a second job without the limit answers only the two remaining queries
    job2 = jobs.create_job(project, "eval", _eval_config(tiny_model_dir))
    assert jobs.start_detached(project, job2).wait(timeout=900) == 0
    rows = project.rows("SELECT * FROM eval_results WHERE method='stage0' ORDER BY query_id")
    assert len(rows) == 5
    assert [r["id"] for r in rows[:3]] == first_ids
    assert {r["job_id"] for r in rows[3:]} == {job2}
    result = summary(project, "stage0")
    assert result["n"] == 5
    assert result["accuracy"] == sum(r["correct"] for r in rows) / 5


def test_eval_of_a_trained_stage_uses_its_adapter(project, tiny_model_dir):
    _add_queries(project, 2)
    adapter = project.artifacts / "stages" / "stage1" / "adapter"
    _save_adapter(tiny_model_dir, adapter)
    job_id = jobs.create_job(
        project, "eval", _eval_config(tiny_model_dir, stage=1, adapter=str(adapter))
    )
    assert jobs.start_detached(project, job_id).wait(timeout=900) == 0
    assert project.scalar("SELECT COUNT(*) FROM eval_results WHERE method='stage1'") == 2


def test_eval_shards_over_two_processes(project, tiny_model_dir):
    _add_queries(project, 6)
    job_id = jobs.create_job(
        project, "eval", _eval_config(tiny_model_dir, nproc=2, master_port=free_port())
    )
    code = jobs.start_detached(project, job_id).wait(timeout=900)
    log = (project.artifacts / "jobs").glob("*/shards.log")
    assert code == 0, "\n".join(p.read_text()[-2000:] for p in log)
    rows = project.rows("SELECT query_id FROM eval_results WHERE method='stage0'")
    assert sorted(r["query_id"] for r in rows) == list(range(1, 7))


def test_cli_eval_refuses_untrained_stage(project):
    _add_queries(project, 1)
    out = subprocess.run(
        [sys.executable, "-m", "twt_backend", "eval", str(project.root), "--stage", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "invalid choice: 'eval'" in out.stderr:
        pytest.fail("twt eval is not registered")
    assert out.returncode == 2
    assert "stage 2 has not been trained" in out.stderr
