"""Padding-free training: a packed batch computes what its examples compute apart (no
cross-example attention), on the attention implementations the engine packs for; a train
job reports no padding and its real tokens/s, and falls back to padded batches when off."""

from __future__ import annotations

import json
import os
import signal
from types import SimpleNamespace

import pytest
from training_helpers import processes_with, run_train, seed_samples, train_config, worker_log

from twt_backend.artifacts import stage_dir
from twt_backend.stage_data import IGNORE_INDEX
from twt_backend.training.packing import PackingCollator, packing_choice, packing_support


def examples(lengths: list[int], vocab: int, seed: int = 0) -> list[dict[str, list[int]]]:
    """Token sequences of the given lengths; the first third of each is prompt (label -100)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    out = []
    for n in lengths:
        ids = torch.randint(3, vocab, (n,), generator=generator).tolist()
        prompt = n // 3
        out.append({"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    return out


def load_tiny(path, attention: str):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(
        path, attn_implementation=attention, dtype=torch.float32
    )
    model.config.use_cache = False
    return model.eval()


def separate_loss(model, features) -> float:
    """The token-weighted mean of each example's loss computed alone (what a padded batch
    computes, and what a packed batch must compute)."""
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for feature in features:
            ids = torch.tensor([feature["input_ids"]])
            labels = torch.tensor([feature["labels"]])
            n = int((labels[:, 1:] != IGNORE_INDEX).sum())
            total += float(model(input_ids=ids, labels=labels).loss) * n
            count += n
    return total / count


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_batch_equals_its_examples_apart(tiny_model_dir, attention):
    import torch

    model = load_tiny(tiny_model_dir, attention)
    assert packing_support(model)[0]
    features = examples([9, 23, 14, 31], model.config.vocab_size)
    collator = PackingCollator()
    batch = collator(features)
    assert batch["input_ids"].shape == (1, 9 + 23 + 14 + 31)
    assert "attention_mask" not in batch  # a mask would switch off the per-example attention
    assert collator.padding_fraction == 0.0 and collator.tokens == 77
    with torch.no_grad():
        packed = model(**batch)
        alone = [model(input_ids=torch.tensor([f["input_ids"]])).logits[0] for f in features]
    assert torch.allclose(packed.logits[0], torch.cat(alone), atol=1e-4)
    assert float(packed.loss) == pytest.approx(separate_loss(model, features), abs=1e-5)


def test_concatenation_without_position_ids_would_mix_examples(tiny_model_dir):
    """The control: the same row without restarting positions attends across examples,
    so the equality above is not a property of any concatenation."""
    import torch

    model = load_tiny(tiny_model_dir, "sdpa")
    features = examples([9, 23, 14, 31], model.config.vocab_size)
    batch = PackingCollator()(features)
    with torch.no_grad():
        mixed = model(input_ids=batch["input_ids"], labels=batch["labels"])
    assert abs(float(mixed.loss) - separate_loss(model, features)) > 1e-3


def test_packing_support_follows_the_attention_implementation(tiny_model_dir):
    model = load_tiny(tiny_model_dir, "sdpa")
    assert packing_support(model) == (True, "sdpa with a block-diagonal mask from the position ids")
    model.config._attn_implementation = "flash_attention_2"
    assert packing_support(model)[0]
    model.config._attn_implementation = "paged|sdpa"
    assert packing_support(model) == (
        False,
        "attention 'paged|sdpa' does not separate packed examples",
    )

    class HandWrittenLM:  # a model whose module does not build masks with masking_utils
        config = SimpleNamespace(_attn_implementation="sdpa")

    supported, why = packing_support(HandWrittenLM())
    assert not supported and "masking_utils" in why


def test_auto_packs_only_where_the_attention_skips_other_examples(tiny_model_dir):
    model = load_tiny(tiny_model_dir, "sdpa")
    packed, why = packing_choice(model, "auto")
    assert not packed and "quadratic" in why  # exact, but slower than length grouping
    assert packing_choice(model, "yes")[0]
    assert packing_choice(model, "no") == (False, "padding_free is no")
    for impl in ("flash_attention_2", "flex_attention"):
        model.config._attn_implementation = impl
        assert packing_choice(model, "auto")[0]


@pytest.fixture
def seeded(project):
    seed_samples(project, 12)
    yield project
    for pid in processes_with(str(project.root)):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(("setting", "packed"), [("yes", True), ("auto", False), ("no", False)])
def test_train_job_reports_padding_and_real_tokens_per_s(seeded, tiny_model_dir, setting, packed):
    """sdpa on CPU: packed when asked for, length-grouped under auto and no."""
    project = seeded
    # max_length above the longest example: truncation to one length would leave no padding
    config = train_config(1, tiny_model_dir, padding_free=setting, max_length=1024)
    job = run_train(project, config)
    assert job["status"] == "finished", worker_log(job, project, 1)
    rank = json.loads((stage_dir(project.root, 1) / "ranks" / "rank0.json").read_text())
    assert rank["padding_free"] is packed and rank["attention"] == "sdpa"
    if packed:
        assert rank["padding_fraction"] == 0.0
        assert rank["rank_tokens"] == rank["rank_positions"]
    else:
        assert rank["padding_fraction"] > 0.0  # variable lengths, batches of 4
        assert rank["rank_positions"] > rank["rank_tokens"]
    assert rank["tokens_seen_all_ranks"] > 0 and rank["real_tokens_per_s"] > 0
    events = project.rows(
        "SELECT payload FROM job_events WHERE job_id=? AND type='train_summary'", (job["id"],)
    )
    summary = json.loads(events[-1]["payload"])
    assert summary["padding_fraction"] == rank["padding_fraction"]
    assert summary["padding_free"] is packed and summary["real_tokens_per_s"] > 0
    metrics = {
        r["name"]: r["value"]
        for r in project.rows("SELECT name, value FROM metrics WHERE job_id=?", (job["id"],))
    }
    assert metrics["padding_fraction"] == pytest.approx(rank["padding_fraction"])
    assert f"padding {rank['padding_fraction']:.1%}" in job["progress"]["message"]
