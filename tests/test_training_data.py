"""Stage datasets from the store, tokenisation (loss on the target only), padding."""

from __future__ import annotations

import pytest
from training_helpers import seed_samples

from twt_backend.errors import UsageError
from twt_backend.selection.curation import edit_sample, set_override
from twt_backend.stage_data import (
    IGNORE_INDEX,
    make_collator,
    padding_fraction,
    stage_examples,
    tokenize_example,
    tokenize_examples,
)
from twt_backend.store import utcnow
from twt_backend.student_prompt import format_prompt


def test_stage_one_uses_edited_rationales_and_honours_overrides(project):
    ids = seed_samples(project, 4)
    edit_sample(project, ids[0], rationale="Edited reasoning: 0 + 3 = 3.")
    set_override(project, ids[1], "reject", note="wrong")
    examples = stage_examples(project, 1)
    assert [e["generation_id"] for e in examples] == [ids[0], ids[2], ids[3]]
    first = examples[0]
    assert first["target"].startswith("Edited reasoning: 0 + 3 = 3.")
    assert first["target"].endswith("Answer: 3")
    assert "What is 0 plus 3?" in first["prompt"] and first["prompt"].endswith("\n")


def test_compressed_stage_uses_refinements_edit_wins_and_skips_unusable(project):
    ids = seed_samples(project, 4, refine_round=1)
    now = utcnow()
    with project.transaction() as conn:
        conn.execute(
            "UPDATE refinements SET edited_text='Short: 3.' WHERE generation_id=?", (ids[0],)
        )
        conn.execute("UPDATE refinements SET status='rejected' WHERE generation_id=?", (ids[1],))
        conn.execute("UPDATE refinements SET status='failed' WHERE generation_id=?", (ids[2],))
        conn.execute(
            "INSERT INTO refinements(generation_id, round, method, refined_text, status, "
            "created_at, updated_at) VALUES (?, 2, 'teacher', 'round two', 'ok', ?, ?)",
            (ids[3], now, now),
        )
    stage2 = stage_examples(project, 2, failed_rewrites="drop")
    assert [e["generation_id"] for e in stage2] == [ids[0], ids[3]]
    assert stage2[0]["target"] == "Short: 3.\nAnswer: 3"
    assert stage2[1]["target"] == "3 + 6 = 9.\nAnswer: 9"
    # four-stage variant: stage 3 is the second compression round
    assert [e["target"] for e in stage_examples(project, 3, 4, failed_rewrites="drop")] == [
        "round two\nAnswer: 9"
    ]
    # by default (the paper keeps all N) a sample without a usable rewrite keeps the
    # rationale it had before the round
    original = {
        r["id"]: r["rationale"] for r in project.rows("SELECT id, rationale FROM generations")
    }
    kept = {e["generation_id"]: e["target"] for e in stage_examples(project, 2)}
    assert list(kept) == ids
    assert kept[ids[1]] == f"{original[ids[1]]}\nAnswer: 5"
    assert kept[ids[2]] == f"{original[ids[2]]}\nAnswer: 7"
    round_two = {e["generation_id"]: e["target"] for e in stage_examples(project, 3, 4)}
    assert round_two[ids[0]] == "Short: 3.\nAnswer: 3"  # round 1's text, not the original
    assert round_two[ids[3]] == "round two\nAnswer: 9"
    # a hand edit rescues a failed rewrite, never a rejected one
    with project.transaction() as conn:
        conn.execute(
            "UPDATE refinements SET edited_text='Fixed.' WHERE generation_id IN (?, ?)",
            (ids[1], ids[2]),
        )
    assert [e["generation_id"] for e in stage_examples(project, 2, failed_rewrites="drop")] == [
        ids[0],
        ids[2],
        ids[3],
    ]


def test_answer_stage_has_no_rationale(project):
    seed_samples(project, 3)
    targets = [e["target"] for e in stage_examples(project, 3)]
    assert targets == ["Answer: 3", "Answer: 5", "Answer: 7"]
    assert stage_examples(project, 4, n_stages=4)[0]["target"] == "Answer: 3"


def test_empty_stage_is_a_clear_usage_error(project):
    with pytest.raises(UsageError, match="twt select"):
        stage_examples(project, 1)
    seed_samples(project, 2)
    with pytest.raises(UsageError, match="twt refine"):
        stage_examples(project, 2)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_loss_only_on_target_with_chat_template_and_eos(tokenizer):
    example = {"prompt": "What is 2 plus 3?\n", "target": "2 + 3 = 5.\nAnswer: 5"}
    prompt_text = format_prompt(tokenizer, example["prompt"])
    assert prompt_text.startswith("<|user|>") and prompt_text.endswith("<|assistant|>\n")
    feature = tokenize_example(tokenizer, example, max_length=256)
    n_prompt = len(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
    labels = feature["labels"]
    assert labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert labels[n_prompt:] == feature["input_ids"][n_prompt:]
    assert feature["input_ids"][-1] == tokenizer.eos_token_id
    decoded = tokenizer.decode([t for t in labels if t != IGNORE_INDEX], skip_special_tokens=True)
    assert decoded == example["target"]


def test_truncation_keeps_examples_with_target_tokens_only(tokenizer):
    example = {"prompt": "word " * 50, "target": "Answer: 5"}
    assert tokenize_example(tokenizer, example, max_length=8) is None
    n_prompt = len(tokenizer(format_prompt(tokenizer, "Q\n"))["input_ids"])
    long_target = {"prompt": "Q\n", "target": "long " * 50}
    cut = tokenize_example(tokenizer, long_target, max_length=n_prompt + 5)
    assert len(cut["input_ids"]) == n_prompt + 5
    assert cut["labels"][-5:] == cut["input_ids"][-5:] and cut["labels"][-6] == IGNORE_INDEX
    with pytest.raises(UsageError, match="max_length"):
        tokenize_examples(tokenizer, [example], max_length=8)


def test_length_grouped_batches_pad_to_longest_with_little_padding(tokenizer):
    import random

    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    rng = random.Random(0)
    examples = [
        {"prompt": f"Q{i}\n", "target": " ".join(["step"] * rng.randint(3, 120))}
        for i in range(400)
    ]
    features = tokenize_examples(tokenizer, examples, max_length=512)
    collate = make_collator(tokenizer)
    batch = collate(features[:4])
    assert batch["input_ids"].shape[1] == max(len(f["input_ids"]) for f in features[:4])
    assert batch["labels"][batch["attention_mask"] == 0].eq(IGNORE_INDEX).all()

    def batches(order):
        return [collate([features[i] for i in order[k : k + 8]]) for k in range(0, 400, 8)]

    torch.manual_seed(0)
    grouped = list(LengthGroupedSampler(8, dataset=features, generator=torch.Generator()))
    shuffled = list(range(400))
    rng.shuffle(shuffled)
    assert padding_fraction(batches(grouped)) < 0.10
    assert padding_fraction(batches(shuffled)) > 0.25  # the data really is variable-length


def test_eval_slice_is_held_out_and_at_most_a_tenth():
    from twt_backend.training.validation import split_eval

    features = list(range(100))
    train, held = split_eval(features, eval_size=64, seed=1)
    assert len(held) == 10 and len(train) == 90 and sorted(train + held) == features
    assert split_eval(features, eval_size=64, seed=1) == (train, held)  # deterministic
    assert split_eval(features, eval_size=0, seed=1) == (features, [])
    assert split_eval(list(range(9)), eval_size=64, seed=1) == (list(range(9)), [])
