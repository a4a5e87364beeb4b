"""One prompt for every stage: by default the vanilla student and stages 1-3 are asked the
same rendered prompt, in training, between stages, in live validation and in evaluation;
only the target differs. Prompt mode "stage" keeps each stage's own hint, and evaluation
can ask any stage in any prompt mode, stored under its own name."""

from __future__ import annotations

import json

import pytest
from training_helpers import seed_samples

from twt_backend.cli import main as twt_main
from twt_backend.config import TrainingConfig
from twt_backend.errors import UsageError
from twt_backend.evaluation.job import eval_items, eval_method, job_provenance
from twt_backend.hard.inference import infer_items
from twt_backend.settings import save_config
from twt_backend.stage_data import stage_examples
from twt_backend.store import utcnow
from twt_backend.student_prompt import format_prompt
from twt_backend.tasks import get_task
from twt_backend.training.validation import live_eval_items


@pytest.fixture
def seeded(project):
    seed_samples(project, 6, refine_round=1)
    with project.transaction() as conn:
        for i in range(2):
            payload = json.dumps({"question": f"What is {i} plus 1?"})
            conn.execute(
                "INSERT INTO queries(source_id, split, payload, reference, content_hash, "
                "created_at) VALUES (?, 'test', ?, ?, ?, ?)",
                (f"t{i}", payload, str(i + 1), f"t{i}", utcnow()),
            )
    return project


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def training_prompts(project, stage, prompt_mode="shared"):
    return {e["query_id"]: e["prompt"] for e in stage_examples(project, stage, 3, prompt_mode)}


def eval_prompts(project, target, split="train", **config):
    items = eval_items(project, {"stage": target, "split": split, **config})
    return {i.query_id: i.prompt for i in items}


def test_default_prompt_is_the_same_for_every_stage_and_the_vanilla_student(
    seeded, tokenizer
) -> None:
    by_stage = {stage: training_prompts(seeded, stage) for stage in (1, 2, 3)}
    assert by_stage[1] == by_stage[2] == by_stage[3]
    targets = {stage: stage_examples(seeded, stage)[0]["target"] for stage in (1, 2, 3)}
    assert len(set(targets.values())) == 3  # only the target differs: [x;r;y], [x;r^T;y], [x;y]
    # evaluation asks every stage and the vanilla student the prompt the stages learnt from
    for target in (0, 1, 2, 3):
        assert eval_prompts(seeded, target) == by_stage[1]
    # ... as rendered for the model (chat template), in training and in evaluation alike
    rendered = {format_prompt(tokenizer, p) for p in by_stage[1].values()}
    assert rendered == {format_prompt(tokenizer, p) for p in eval_prompts(seeded, 0).values()}
    assert len(rendered) == len(by_stage[1])
    # the stage-1 student's answers before refinement, and live validation, the same
    answers = {i.query_id: i.prompt for i in infer_items(seeded, 1, "full")}
    assert answers == by_stage[1]
    ids = sorted(by_stage[1])
    for target in (1, 3):
        live = {i["query_id"]: i["prompt"] for i in live_eval_items(seeded, ids, target, 3)}
        assert live == by_stage[1]
    # the shared instruction asks for the extractable answer, not for a reasoning length
    task = get_task("math")
    assert all(p.endswith(f"\n\n{task.shared_hint}\n") for p in by_stage[1].values())


def test_prompt_mode_stage_gives_each_stage_its_own_hint(seeded) -> None:
    by_stage = {stage: training_prompts(seeded, stage, "stage") for stage in (1, 2, 3)}
    query = sorted(by_stage[1])[0]
    assert len({by_stage[s][query] for s in (1, 2, 3)}) == 3
    hints = get_task("math").hints
    for stage, mode in ((1, "full"), (2, "compressed"), (3, "answer")):
        assert by_stage[stage][query].endswith(f"\n\n{hints[mode]}\n")
    save_config(seeded, TrainingConfig(prompt_mode="stage"))
    # an untrained stage follows the project's setting; the vanilla student reasons
    assert eval_prompts(seeded, 0) == by_stage[1]
    assert eval_prompts(seeded, 3) == by_stage[3]


def test_eval_prompt_mode_changes_the_prompt_and_the_stored_name(seeded) -> None:
    shared = eval_prompts(seeded, 3)
    forced = eval_prompts(seeded, 3, method="stage3@full", prompt_mode="full")
    assert forced == training_prompts(seeded, 1, "stage") != shared
    assert eval_method(seeded, 3) == ("stage3", "shared")
    assert eval_method(seeded, 3, "shared") == ("stage3", "shared")
    assert eval_method(seeded, 3, "answer") == ("stage3@answer", "answer")
    assert eval_method(seeded, 0, "stage") == ("stage0@stage", "stage")
    assert eval_method(seeded, "direct") == ("direct", "direct")
    with pytest.raises(UsageError, match="own format"):
        eval_method(seeded, "direct", "full")
    direct = eval_prompts(seeded, 0, method="direct", prompt_mode="direct")
    assert direct != shared and all("without explanation" in p for p in direct.values())


def test_a_stage_is_asked_as_it_was_trained(seeded) -> None:
    from twt_backend.artifacts import run_config_path

    for stage, mode in ((1, "stage"), (2, None)):  # no prompt mode recorded: trained per stage
        path = run_config_path(seeded.root, stage)
        path.parent.mkdir(parents=True)
        training = {"prompt_mode": mode} if mode else {}
        path.write_text(json.dumps({"settings": {"training": training}}))
    assert eval_method(seeded, 1) == ("stage1", "stage")
    assert eval_method(seeded, 2) == ("stage2", "stage")
    assert eval_method(seeded, 2, "shared") == ("stage2@shared", "shared")
    assert eval_method(seeded, 3) == ("stage3", "shared")  # not trained: the project's


def test_twt_eval_prompt_mode_runs_and_records_it(seeded, tiny_model_dir, capsys) -> None:
    root = str(seeded.root)
    common = ["--split", "test", "--student", str(tiny_model_dir), "--max-new-tokens", "4"]
    assert twt_main(["eval", root, "--stage", "0", *common]) == 0
    assert twt_main(["eval", root, "--stage", "0", "--prompt-mode", "answer", *common]) == 0
    assert twt_main(["eval", root, "--method", "direct", *common]) == 0
    rows = seeded.rows("SELECT method, prompt_mode, COUNT(*) AS n FROM eval_results GROUP BY 1, 2")
    assert {(r["method"], r["prompt_mode"], r["n"]) for r in rows} == {
        ("stage0", "shared", 2),
        ("stage0@answer", "answer", 2),
        ("direct", "direct", 2),
    }
    capsys.readouterr()
    assert twt_main(["eval", root, "--method", "dss", "--prompt-mode", "full", *common]) == 2
    assert "--prompt-mode" in capsys.readouterr().err


def test_rows_of_another_prompt_mode_are_asked_again(seeded) -> None:
    """A method's stored outputs of an older prompt mode are not reused (nor reported)."""
    from twt_backend.evaluation.report import comparison

    test_ids = [r["id"] for r in seeded.rows("SELECT id FROM queries WHERE split='test'")]
    with seeded.transaction() as conn:
        for qid in test_ids:
            conn.execute(
                "INSERT INTO eval_results(method, query_id, output, tokens, correct, prompt_mode,"
                " created_at) VALUES ('stage0', ?, 'Answer: 1', 3, 1, 'stage', ?)",
                (qid, utcnow()),
            )
    assert len(eval_items(seeded, {"stage": 0})) == 2  # legacy "stage" rows: asked again
    current = job_provenance(seeded, {"stage": 0})  # what `twt eval --stage 0` records now
    assert current.prompt_mode == "shared"
    with seeded.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO eval_results(method, query_id, output, tokens, correct, "
            "prompt_mode, provenance, created_at) VALUES ('stage0', ?, 'x', 9, 0, 'shared', ?, ?)",
            (test_ids[0], current.key, utcnow()),
        )
    assert [i.query_id for i in eval_items(seeded, {"stage": 0})] == [test_ids[1]]
    (row,) = comparison(seeded)
    assert (row["method"], row["n"], row["correct"], row["prompt_mode"]) == (
        "stage0",
        1,
        0,
        "shared",
    )


def test_unknown_prompt_mode_is_a_usage_error() -> None:
    task = get_task("choice")
    with pytest.raises(UsageError, match="prompt mode"):
        task.student_prompt({"stem": "?", "choices": []}, "full", "terse")
