"""The student, its LoRA adapter and the transformers Trainer that fits it."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from twt_backend.config import LaunchConfig, LoraConfig, TrainingConfig
from twt_backend.training.launch import ddp_backend, trainer_sharding_args

log = logging.getLogger(__name__)


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def bf16_enabled(setting: str) -> bool:
    import torch

    if setting == "yes":
        return True
    if setting == "no":
        return False
    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def can_load_4bit() -> bool:
    import importlib.util

    return cuda_available() and importlib.util.find_spec("bitsandbytes") is not None


def flash_attention_available() -> bool:
    """flash-attn 2 installed and usable (a CUDA GPU)."""
    from transformers.utils import is_flash_attn_2_available

    return cuda_available() and bool(is_flash_attn_2_available())


def load_tokenizer(student_path: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(student_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(student_path: str, lora: LoraConfig, bf16: bool) -> Any:
    """The frozen base model (4-bit only where bitsandbytes and a GPU are present)."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if bf16 else torch.float32}
    if bf16 and flash_attention_available():
        kwargs["attn_implementation"] = "flash_attention_2"  # varlen: packs without padding
    four_bit = lora.load_in_4bit and can_load_4bit()
    if lora.load_in_4bit and not four_bit:
        log.warning("load_in_4bit needs bitsandbytes and a GPU; loading the full-precision base")
    if four_bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float16,
        )
    if not torch.cuda.is_available():
        from twt_backend.evaluation.inference import use_free_cores

        use_free_cores()  # on a loaded CPU, fewer threads train faster (see there)
    model = AutoModelForCausalLM.from_pretrained(student_path, **kwargs)
    if four_bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    model.config.use_cache = False
    return model


def target_modules(lora: LoraConfig) -> str | list[str]:
    if lora.target_modules.strip() in ("", "all-linear"):
        return "all-linear"
    return [name.strip() for name in lora.target_modules.split(",") if name.strip()]


def add_lora(model: Any, lora: LoraConfig, init_adapter: str | None) -> Any:
    """A fresh LoRA adapter, or the previous stage's adapter to keep training."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import PeftModel, get_peft_model

    if init_adapter:
        return PeftModel.from_pretrained(model, init_adapter, is_trainable=True)
    peft_config = PeftLoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=target_modules(lora),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_config)


def use_packing(model: Any, training: TrainingConfig) -> bool:
    """Padding-free batches when asked for and exact for this model's attention; length-
    grouped padded batches otherwise (logged with the reason)."""
    from twt_backend.training.packing import packing_choice

    packed, why = packing_choice(model, training.padding_free)
    log.info("padding-free batches: %s (%s)", "on" if packed else "off", why)
    return packed


def training_arguments(
    training: TrainingConfig,
    launch: LaunchConfig,
    output_dir: Path,
    distributed_config: Path | None,
    has_eval: bool,
    packed: bool = False,
) -> Any:
    """Trainer arguments; `packed` batches have no padding, so they need no length grouping
    and every input position is a real token."""
    from transformers import TrainingArguments

    cuda = cuda_available()
    eval_strategy = "no"
    if has_eval:
        eval_strategy = "steps" if training.eval_steps > 0 else "epoch"
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=training.batch_size,
        per_device_eval_batch_size=training.batch_size,
        gradient_accumulation_steps=training.grad_accum,
        learning_rate=training.lr,
        num_train_epochs=training.epochs,
        max_steps=training.max_steps,
        warmup_steps=training.warmup_ratio,  # a float below 1 is a ratio of the steps
        bf16=bf16_enabled(training.bf16),
        train_sampling_strategy=(
            "group_by_length" if training.group_by_length and not packed else "random"
        ),
        include_num_input_tokens_seen="all" if packed else "non_padding",
        logging_steps=training.logging_steps,
        save_steps=training.save_steps,
        save_total_limit=2,
        eval_strategy=eval_strategy,
        eval_steps=training.eval_steps or None,
        seed=training.seed,
        data_seed=training.seed,
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        use_cpu=not cuda,
        ddp_backend=ddp_backend(launch, cuda),
        ddp_find_unused_parameters=False,
        dataloader_num_workers=0,
        **trainer_sharding_args(launch, distributed_config),
    )


def build_trainer(
    model: Any,
    tokenizer: Any,
    args: Any,
    train_features: list[dict[str, list[int]]],
    eval_features: list[dict[str, list[int]]] | None,
    callbacks: list[Any],
    packed: bool = False,
) -> Any:
    from transformers import Trainer

    from twt_backend.stage_data import CountingCollator, make_collator
    from twt_backend.training.packing import FLASH, PackingCollator, attention_implementation

    collator = (
        PackingCollator(flash=attention_implementation(model) in FLASH)
        if packed
        else CountingCollator(make_collator(tokenizer))
    )
    return Trainer(
        model=model,
        args=args,
        train_dataset=train_features,
        eval_dataset=eval_features or None,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=callbacks,
    )


def trainable_digest(model: Any) -> tuple[str, float]:
    """A hash and a sum of the trainable (LoRA) weights, to compare ranks and runs."""
    digest = hashlib.sha256()
    total = 0.0
    for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
        if param.requires_grad:
            data = param.detach().float().cpu().contiguous()
            digest.update(name.encode())
            digest.update(data.numpy().tobytes())
            total += float(data.sum())
    return digest.hexdigest(), total


def export_merged(student_path: str, adapter: Path, out_dir: Path) -> Path:
    """Base + adapter merged into one safetensors model folder."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(student_path)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.save_pretrained(out_dir, safe_serialization=True)
    load_tokenizer(student_path).save_pretrained(out_dir)
    return out_dir
