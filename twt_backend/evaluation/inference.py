"""Batched student inference with transformers: left padding, KV cache, length-sorted batches.

Used between HaRD stages (the student answers the distillation set), by evaluation and
by the live evaluation inside training. Prompts are plain text, rendered with
`student_prompt.format_prompt` exactly as in training, so the student is asked the
way it learnt.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twt_backend.config import GenerationConfig

log = logging.getLogger(__name__)


@dataclass
class Completion:
    text: str
    tokens: int  # generated tokens up to (not counting) the end-of-sequence token


def pick_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def load_student(
    student: str | Path, adapter: str | Path | None = None, device: str | None = None
) -> tuple[Any, Any]:
    """The student model (optionally with a LoRA adapter, merged into its weights) in eval
    mode, and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from twt_backend.models import resolve_student

    path = resolve_student(str(student))
    device = device or pick_device()
    if device == "cpu":
        use_free_cores()  # loading and merging run many small kernels too
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if adapter is not None:
        from peft import PeftModel

        # merged for inference: one matmul per layer instead of three (the adapter's
        # extra small kernels cost more than their FLOPs, most of all in decoding)
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    model.to(device)
    model.eval()
    return model, tokenizer


def cpu_threads(cores: int | None = None, busy: float | None = None) -> int:
    """Threads for CPU work: the cores the rest of the machine leaves free (at least 1).

    On a loaded machine, OpenMP threads that wait for each other at every small kernel's
    barrier while other processes hold the cores are far slower than one thread (measured:
    8 answers of 20 tokens, SmolLM2-135M, 2 cores at load 7-10: 146 s with 2 threads, 15 s
    with 1); on a free machine one thread leaves half the speed unused. `busy` is the
    cores other processes use now (default: :func:`busy_elsewhere`, measured, not the load
    average: that one lags a minute behind, so the previous step of a pipeline still counts
    in it and halved training on an idle 2-core machine). `OMP_NUM_THREADS`, when set,
    decides instead (see :func:`use_free_cores`).
    """
    cores = cores or os.cpu_count() or 1
    if busy is None:
        busy = busy_elsewhere()
    return max(1, min(cores, round(cores - busy)))


_BUSY_FOR_S = 30.0  # a measurement is reused this long (live evaluation asks every few steps)
_busy: tuple[float, float] | None = None  # (monotonic time, cores busy elsewhere)


def busy_elsewhere(interval_s: float = 0.3, max_age_s: float = _BUSY_FOR_S) -> float:
    """Cores in use by other processes over the next `interval_s`: the whole machine's CPU
    use less this process's own; a measurement younger than `max_age_s` is reused."""
    global _busy
    now = time.monotonic()
    if _busy is not None and now - _busy[0] < max_age_s:
        return _busy[1]
    _busy = (now, _measure_busy(interval_s))
    return _busy[1]


def _measure_busy(interval_s: float) -> float:
    import psutil

    me = psutil.Process()
    me.cpu_percent(None)
    psutil.cpu_percent(None)
    time.sleep(interval_s)
    own = me.cpu_percent(None) / 100.0
    total = psutil.cpu_percent(None) / 100.0 * (psutil.cpu_count() or 1)
    return max(0.0, total - own)


def use_free_cores() -> None:
    """Set torch's CPU threads to :func:`cpu_threads` (unless OMP_NUM_THREADS is set)."""
    import torch

    if not os.environ.get("OMP_NUM_THREADS"):
        threads = cpu_threads()
        if threads != torch.get_num_threads():
            log.info("CPU threads: %d (the cores other processes leave free)", threads)
        torch.set_num_threads(threads)


def _count_tokens(ids: Sequence[int], stop_ids: set[int]) -> int:
    for position, token in enumerate(ids):
        if token in stop_ids:
            return position
    return len(ids)


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    gen: GenerationConfig,
    on_batch: Callable[[list[int], list[Completion]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[Completion]:
    """Answer every prompt; batches of similar length, results in the prompts' order
    (None for prompts left unanswered because `should_stop()` said so).

    `on_batch(indices, completions)` is called after each batch (for progress and
    incremental writes); `should_stop()` is checked between batches.
    """
    import torch

    from twt_backend.student_prompt import format_prompt

    rendered = [format_prompt(tokenizer, p) for p in prompts]
    lengths = [len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in rendered]
    order = sorted(range(len(rendered)), key=lambda i: -lengths[i])
    stop_ids = {i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None}
    sampling: dict[str, Any] = (
        {"do_sample": True, "temperature": gen.temperature, "top_p": gen.top_p}
        if gen.temperature > 0
        else {"do_sample": False}
    )
    results: list[Completion | None] = [None] * len(rendered)
    device = next(model.parameters()).device
    if device.type == "cpu":
        use_free_cores()
    for start in range(0, len(order), gen.batch_size):
        if should_stop and should_stop():
            break
        batch = order[start : start + gen.batch_size]
        inputs = tokenizer(
            [rendered[i] for i in batch],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        ).to(device)
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=gen.max_new_tokens,
                use_cache=True,
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :].tolist()
        done = []
        for index, ids in zip(batch, new_tokens, strict=True):
            count = _count_tokens(ids, stop_ids)
            text = tokenizer.decode(ids[:count], skip_special_tokens=True).strip()
            completion = Completion(text=text, tokens=count)
            results[index] = completion
            done.append(completion)
        if on_batch:
            on_batch(batch, done)
    return results


def shard(items: Sequence[Any], rank: int, world_size: int) -> list[Any]:
    """The items this rank handles when several processes share the work."""
    return list(items[rank::world_size])
