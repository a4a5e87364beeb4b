"""Issue 13: every stored output records what produced it; a retrained stage's older outputs
are stale (left out of reports, asked again by `twt eval`); resume keeps outputs of the same
provenance; `twt report --json` follows its contract; McNemar, majority row, answer
distribution; failed rewrites kept in stage 2."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import make_project
from test_report import RESULTS, add_queries, add_results
from training_helpers import seed_samples

from twt_backend import jobs
from twt_backend.cli import main
from twt_backend.evaluation.job import eval_items, eval_job_config, job_provenance
from twt_backend.evaluation.provenance import Provenance
from twt_backend.evaluation.report import comparison
from twt_backend.evaluation.statistics import mcnemar_exact
from twt_backend.stage_data import stage_examples
from twt_backend.store import utcnow

CONTRACT = {
    "project": str,
    "run": str,
    "method": str,
    "kind": str,
    "n": int,
    "correct": int,
    "accuracy": (float, type(None)),
    "ci_low": (float, type(None)),
    "ci_high": (float, type(None)),
    "mean_output_tokens": (float, type(None)),
    "median_output_tokens": (float, type(None)),
    "p90_output_tokens": (float, type(None)),
    "prompt_mode": (str, type(None)),
    "adapter_sha256": (str, type(None)),
    "stale": bool,
    "p_vs_stage1": (float, type(None)),
}


def save_adapter(model_dir, out_dir, seed: int) -> str:
    """A LoRA adapter with random (non-zero) B weights; the sha256 of its weights file."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_dir),
        LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False),
    )
    model.save_pretrained(out_dir)
    return hashlib.sha256((out_dir / "adapter_model.safetensors").read_bytes()).hexdigest()


def run_eval(project, config) -> None:
    job_id = jobs.create_job(project, "eval", config)
    assert jobs.start_detached(project, job_id).wait(timeout=900) == 0


def test_a_stage_retrain_makes_its_outputs_stale_and_eval_asks_them_again(project, tiny_model_dir):
    add_queries(project, 3)
    adapter = project.artifacts / "stages" / "stage1" / "adapter"
    first = save_adapter(tiny_model_dir, adapter, seed=1)
    config = eval_job_config(
        project, 1, student=str(tiny_model_dir), generation={"max_new_tokens": 4}
    )
    run_eval(project, config)
    rows = project.rows("SELECT * FROM eval_results WHERE method='stage1'")
    assert len(rows) == 3 and {r["adapter_sha256"] for r in rows} == {first}
    assert {r["base_model"] for r in rows} == {str(tiny_model_dir.resolve())}
    assert json.loads(rows[0]["generation"])["max_new_tokens"] == 4
    assert json.loads(rows[0]["generation"])["engine"] == "hf"
    (row,) = comparison(project)
    assert (row["stale"], row["n"], row["adapter_sha256"]) == (False, 3, first)

    second = save_adapter(tiny_model_dir, adapter, seed=2)  # stage 1 retrained
    assert second != first
    (row,) = comparison(project)
    assert row["stale"] is True and row["adapter_sha256"] == first
    assert "another adapter" in row["stale_reason"]
    assert len(eval_items(project, config)) == 3  # all asked again

    run_eval(project, config)
    rows = project.rows("SELECT * FROM eval_results WHERE method='stage1'")
    assert len(rows) == 3 and {r["adapter_sha256"] for r in rows} == {second}
    (row,) = comparison(project)
    assert (row["stale"], row["n"], row["n_stale"], row["adapter_sha256"]) == (
        False,
        3,
        0,
        second,
    )


def insert_result(project, query_id, provenance, correct=1, method="stage0"):
    with project.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO eval_results(method, query_id, output, answer, tokens, "
            "correct, prompt_mode, adapter_sha256, base_model, generation, provenance, "
            "created_at) VALUES (?, ?, 'x', '1', 5, ?, ?, ?, ?, ?, ?, ?)",
            (method, query_id, correct, provenance.prompt_mode, *provenance.columns(), utcnow()),
        )


def test_resume_keeps_only_outputs_of_the_same_provenance(project):
    ids = add_queries(project, 3)
    config = {"stage": 0, "student": "some/student", "generation": {"max_new_tokens": 8}}
    same = job_provenance(project, config)
    longer = job_provenance(project, {**config, "generation": {"max_new_tokens": 16}})
    other_model = job_provenance(project, {**config, "student": "other/student"})
    assert len({same.key, longer.key, other_model.key}) == 3
    insert_result(project, ids[0], same)
    insert_result(project, ids[1], longer)
    insert_result(project, ids[2], other_model)
    assert [i.query_id for i in eval_items(project, config)] == ids[1:]
    # the batch size does not change what is generated: same provenance
    batched = {**config, "generation": {"max_new_tokens": 8, "batch_size": 1}}
    assert job_provenance(project, batched).key == same.key
    # the report counts the rows of an older provenance apart
    (row,) = comparison(project)
    assert (row["n"], row["n_stale"], row["stale"]) == (1, 2, False)


def test_report_json_follows_the_contract_on_one_and_two_projects(tmp_path, capsys):
    first = make_project(tmp_path / "p1", "math")
    add_queries(first, 5)
    add_results(first, RESULTS)
    second = make_project(tmp_path / "p2", "math")
    add_queries(second, 2)
    add_results(
        second,
        {"stage0": [(7, 1), (9, 0)], "stage1": [(30, 1), (20, 1)], "teacher:gpt": [(50, 1)] * 2},
    )
    for project in (first, second):
        project.close()

    assert main(["report", str(first.root), "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in one] == ["stage0", "kd", "stage1", "stage3"]
    assert main(["report", str(first.root), str(second.root), "--json"]) == 0
    two = json.loads(capsys.readouterr().out)
    assert [(r["project"], r["method"]) for r in two] == [
        *((str(first.root), r["method"]) for r in one),
        (str(second.root), "teacher:gpt"),  # the teachers first, as in the paper's tables
        (str(second.root), "stage0"),
        (str(second.root), "stage1"),
    ]
    for row in two:
        assert list(row)[: len(CONTRACT)] == list(CONTRACT)
        for key, kind in CONTRACT.items():
            assert isinstance(row[key], kind), (key, row[key])
        assert row["run"] == "main" and row["kind"] in ("baseline", "twt", "teacher")
        assert row["stale"] is False and row["adapter_sha256"] is None
    by = {(r["project"], r["method"]): r for r in two}
    stage3 = by[(str(first.root), "stage3")]
    # tokens 20, 20, 20, 40 on the 4 common queries
    assert (stage3["mean_output_tokens"], stage3["median_output_tokens"]) == (25.0, 20.0)
    assert stage3["p90_output_tokens"] == pytest.approx(34.0)  # numpy's linear p90
    assert by[(str(first.root), "stage1")]["p_vs_stage1"] is None
    # second project on its own: stage 0 right 1 of 2, stage 1 right 2 of 2, one discordant
    assert by[(str(second.root), "stage0")]["p_vs_stage1"] == 1.0
    assert by[(str(second.root), "stage1")]["accuracy"] == 1.0
    assert by[(str(second.root), "teacher:gpt")]["kind"] == "teacher"
    # without --json, several projects give one table (and report) each
    assert main(["report", str(first.root), str(second.root)]) == 0
    printed = capsys.readouterr().out
    assert printed.count(", run main: Stages and baselines") == 2


def test_mcnemar_exact_against_a_hand_computed_case(project):
    # 10 queries: both right on 3, only A right on 5, only B right on 1, both wrong on 1
    a = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    b = [1, 1, 1, 0, 0, 0, 0, 0, 1, 0]
    # discordant 6, split 5/1: p = 2 * P(X <= 1 | n=6, 1/2) = 2 * (1 + 6) / 64
    expected = 14 / 64
    assert mcnemar_exact(dict(enumerate(a)), dict(enumerate(b))) == pytest.approx(expected)
    assert mcnemar_exact({1: 1, 2: 0}, {1: 1, 2: 0}) == 1.0
    assert mcnemar_exact({1: 1}, {2: 1}) is None
    add_queries(project, 10)
    add_results(project, {"stage1": [(9, c) for c in b], "stage3": [(2, c) for c in a]})
    rows = {r["method"]: r for r in comparison(project)}
    assert rows["stage3"]["p_vs_stage1"] == pytest.approx(expected)
    # stage 1 stands in as the best baseline (no separate sft): same test
    assert rows["stage3"]["p_vs_best_baseline"] == pytest.approx(expected)


MATH_REPEATING = ["7"] * 3 + [str(n) for n in range(10, 27)]  # "7": 3 of 20 queries


def answered_queries(project, references: list[str], answers: dict[str, str]) -> None:
    """Test queries with these references, each answered by every method with its one
    constant answer."""
    with project.transaction() as conn:
        for i, ref in enumerate(references, start=1):
            conn.execute(
                "INSERT INTO queries(id, source_id, split, payload, reference, content_hash, "
                "created_at) VALUES (?, ?, 'test', ?, ?, ?, ?)",
                (i, f"q{i}", json.dumps({"question": f"q{i}?"}), ref, f"h{i}", utcnow()),
            )
            for method, answer in answers.items():
                conn.execute(
                    "INSERT INTO eval_results(method, query_id, output, answer, tokens, correct, "
                    "created_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
                    (method, i, f"Answer: {answer}", answer, int(ref == answer), utcnow()),
                )


@pytest.mark.parametrize(
    ("task", "references", "wrong", "constant"),
    [("choice", ["A", "A", "A", "B", "C"], "B", "C"), ("math", MATH_REPEATING, "10", "11")],
)
def test_constant_answer_student_and_the_majority_row(tmp_path, task, references, wrong, constant):
    project = make_project(tmp_path / task, task)
    answered_queries(project, references, {"stage0": wrong, "stage3": constant})
    rows = {r["method"]: r for r in comparison(project)}
    n = len(references)
    assert rows["stage3"]["answer_distribution"] == {constant: n}
    assert rows["stage3"]["accuracy"] == pytest.approx(1 / n)
    majority = rows["majority"]
    assert majority["answer_distribution"] == {references[0]: n}
    assert (majority["kind"], majority["correct"], majority["n"]) == ("baseline", 3, n)
    assert majority["best_baseline"] is False and rows["stage0"]["best_baseline"] is True
    assert list(rows)[0] == "majority"
    project.close()


@pytest.mark.parametrize(
    ("references", "row"),
    [
        ([str(n) for n in range(20)], False),  # GSM8K-like: no answer repeats
        (["7"] * 2 + [str(n) for n in range(10, 28)], True),  # 2 of 20: 10%
        (["7"] * 3 + ["8", "9"], False),  # repeats, but too few queries to tell
    ],
)
def test_a_math_task_gets_a_majority_row_only_where_answers_repeat(tmp_path, references, row):
    project = make_project(tmp_path / "math", "math")
    answered_queries(project, references, {"stage0": "1"})
    assert ("majority" in {r["method"] for r in comparison(project)}) is row
    project.close()


def test_failed_rewrites_are_kept_with_their_stage1_rationale(project):
    seed_samples(project, 4, refine_round=1)
    failed = project.rows("SELECT generation_id FROM refinements ORDER BY id LIMIT 1")[0]
    with project.transaction() as conn:
        conn.execute(
            "UPDATE refinements SET status='failed', refined_text=NULL WHERE generation_id=?",
            (failed["generation_id"],),
        )
    original = project.scalar(
        "SELECT rationale FROM generations WHERE id=?", (failed["generation_id"],)
    )
    examples = {e["generation_id"]: e for e in stage_examples(project, 2)}
    assert len(examples) == 4
    assert examples[failed["generation_id"]]["target"].startswith(original)
    examples = {e["generation_id"] for e in stage_examples(project, 2, failed_rewrites="drop")}
    assert len(examples) == 3 and failed["generation_id"] not in examples


def test_a_redone_selection_makes_the_stage_stale_until_it_is_retrained(project):
    """The adapter is unchanged but its training data is not the stage's data any more."""
    seed_samples(project, 4)
    add_queries_test(project, 2)
    stage = project.artifacts / "stages" / "stage1"
    (stage / "adapter").mkdir(parents=True)
    (stage / "adapter" / "adapter_config.json").write_text("{}")
    (stage / "adapter" / "adapter_model.safetensors").write_bytes(b"weights")
    data = stage / "train_data.jsonl"
    data.write_text("".join(json.dumps(e) + "\n" for e in stage_examples(project, 1)))
    settings = {"stage": 1, "n_stages": 3, "training": {"prompt_mode": "shared"}}
    run_config = {"settings": settings, "data": str(data), "eval_data": None}
    (stage / "run_config.json").write_text(json.dumps(run_config))
    sha = hashlib.sha256(b"weights").hexdigest()
    provenance = job_provenance(project, {"stage": 1, "student": "s"})
    assert provenance.adapter_sha256 == sha
    for query_id in (5, 6):
        insert_result(project, query_id, provenance, method="stage1")
    (row,) = comparison(project)
    assert (row["stale"], row["n"]) == (False, 2)
    with project.transaction() as conn:  # selection redone: one sample rejected
        conn.execute("UPDATE selections SET selected=0 WHERE generation_id=1")
    (row,) = comparison(project)
    assert row["stale"] is True and "training data changed" in row["stale_reason"]


def add_queries_test(project, n):
    with project.transaction() as conn:
        for i in range(n):
            conn.execute(
                "INSERT INTO queries(source_id, split, payload, reference, content_hash, "
                "created_at) VALUES (?, 'test', ?, '1', ?, ?)",
                (f"t{i}", json.dumps({"question": f"t{i}?"}), f"test{i}", utcnow()),
            )


def test_student_answers_are_asked_again_after_a_retrain(project):
    from twt_backend.evaluation.provenance import make_provenance
    from twt_backend.hard.inference import infer_items

    seed_samples(project, 2)
    old = make_provenance(None, "s", "shared", {}, "hf")
    new = Provenance(hashlib.sha256(b"new").hexdigest(), "s", "shared", old.generation)
    with project.transaction() as conn:
        for query_id in (1, 2):
            conn.execute(
                "INSERT INTO student_outputs(query_id, stage, output, tokens, prompt_mode, "
                "adapter_sha256, base_model, generation, provenance, created_at) "
                "VALUES (?, 1, 'o', 3, 'shared', ?, ?, ?, ?, ?)",
                (query_id, *old.columns(), utcnow()),
            )
    assert infer_items(project, 1, "full", "shared", old) == []
    assert [i.query_id for i in infer_items(project, 1, "full", "shared", new)] == [1, 2]
