"""Cheap student inference: no default system prompt, adapters merged, threads that fit
the free cores (the demo's evaluation was most of its time)."""

from __future__ import annotations

import time

import pytest
import torch

from twt_backend.config import GenerationConfig
from twt_backend.evaluation.inference import cpu_threads, generate, load_student
from twt_backend.stage_data import format_prompt

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM"


def test_smollm2_prompt_has_no_default_system_prompt_and_is_shorter(smollm2_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    prompt = "Which of these is a fruit?\nA. apple\nB. hammer\n"
    rendered = format_prompt(tokenizer, prompt)
    template = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    assert DEFAULT_SYSTEM in template  # the template adds it on its own ...
    assert DEFAULT_SYSTEM not in rendered  # ... and the student is not asked with it
    assert rendered.endswith(f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n")
    n = len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    n_template = len(tokenizer(template, add_special_tokens=False)["input_ids"])
    assert n < n_template - 10


def test_template_without_default_system_prompt_is_unchanged(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rendered = format_prompt(tokenizer, "Q?\n")
    assert rendered == tokenizer.apply_chat_template(
        [{"role": "user", "content": "Q?\n"}], tokenize=False, add_generation_prompt=True
    )


def test_adapter_is_merged_and_answers_as_the_unmerged_model(tiny_model_dir, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = LoraConfig(r=4, lora_alpha=16, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(tmp_path / "adapter")

    model, tokenizer = load_student(tiny_model_dir, tmp_path / "adapter", device="cpu")
    assert not isinstance(model, PeftModel)
    assert not any("lora" in name for name, _ in model.named_modules())
    reference = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(tmp_path / "adapter")
    ).eval()
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    prompts = ["What is 2 plus 3?\n", "Name a colour.\n", "Count to four.\n"]
    gen = GenerationConfig(max_new_tokens=12, batch_size=2, temperature=0.0)
    merged = [c.text for c in generate(model, tokenizer, prompts, gen)]
    assert merged == [c.text for c in generate(reference, tokenizer, prompts, gen)]
    assert merged != [c.text for c in generate(plain, tokenizer, prompts, gen)]  # it acts


@pytest.mark.parametrize(
    ("cores", "busy", "threads"),
    [(2, 0.3, 2), (2, 1.2, 1), (2, 9.0, 1), (16, 4.0, 12), (16, 0.0, 16), (1, 0.0, 1)],
)
def test_threads_fit_the_free_cores(cores, busy, threads):
    assert cpu_threads(cores, busy) == threads


def test_busy_elsewhere_sees_another_process_and_not_its_own_work():
    """A busy loop in another process counts about one core; this process's own work does
    not count (a training process picks its threads while it is busy itself)."""
    import subprocess
    import sys
    import threading

    from twt_backend.evaluation.inference import busy_elsewhere

    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    own = threading.Thread(target=spin)
    own.start()
    try:
        alone = busy_elsewhere(0.5, max_age_s=0)
    finally:
        stop.set()
        own.join()
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        beside = busy_elsewhere(0.5, max_age_s=0)
    finally:
        loop.kill()
        loop.wait()
    assert beside > 0.6 and beside - alone > 0.5, (alone, beside)
