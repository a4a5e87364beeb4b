"""Padding-free training batches: a batch's examples concatenated into one row with position
ids restarting at 0 for each (transformers' `DataCollatorWithFlattening`), so no position is
padding and no example attends to another.

The attention keeps examples apart only where the model reads those position ids:
flash-attention (varlen kernels from the sequence starts) and, since transformers 5, sdpa,
eager and flex attention in models that build their masks with `masking_utils`
(`create_causal_mask` turns position ids that restart into a block-diagonal causal mask when
no attention mask is given). tests/test_training_packing.py checks the equivalence
numerically. Flash and flex skip the other examples' blocks; sdpa and eager compute the
whole packed row against itself (quadratic in the batch's total length) and mask it, which
costs more than the padding it saves (measured: benchmarks/README.md), so `auto` packs for
flash and flex only and `yes` packs wherever it is exact.
"""

from __future__ import annotations

import sys
from typing import Any

FLASH = ("flash_attention_2", "flash_attention_3")
MASKED = ("sdpa", "eager", "flex_attention")
SPARSE = ("flex_attention",)  # masks by blocks: the other examples are skipped


def attention_implementation(model: Any) -> str:
    return str(getattr(model.config, "_attn_implementation", None) or "eager")


def packing_support(model: Any) -> tuple[bool, str]:
    """Whether padding-free batches are exact for this (base) model, and why."""
    impl = attention_implementation(model)
    if impl in FLASH:
        return True, f"{impl} reads sequence starts from the position ids"
    if impl not in MASKED:
        return False, f"attention {impl!r} does not separate packed examples"
    module = sys.modules.get(type(model).__module__)
    if module is None or not hasattr(module, "create_causal_mask"):
        return False, f"{type(model).__name__} does not build its mask with masking_utils"
    return True, f"{impl} with a block-diagonal mask from the position ids"


def packing_choice(model: Any, setting: str) -> tuple[bool, str]:
    """Whether to pack for the `padding_free` setting (auto, yes, no), and why."""
    if setting == "no":
        return False, "padding_free is no"
    exact, why = packing_support(model)
    if not exact or setting == "yes":
        return exact, why
    impl = attention_implementation(model)
    if impl in FLASH or impl in SPARSE:
        return True, why
    return False, (
        f"{impl} would attend over the whole packed row (quadratic): length grouping is "
        "faster; flash-attention packs (or set padding_free to yes)"
    )


class PackingCollator:
    """Flattens each batch into one row (no padding) and counts its tokens, like
    `datasets.CountingCollator` does for padded batches."""

    def __init__(self, flash: bool = False):
        from transformers import DataCollatorWithFlattening

        from twt_backend.stage_data import IGNORE_INDEX

        self.collate = DataCollatorWithFlattening(
            return_position_ids=True, separator_id=IGNORE_INDEX, return_flash_attn_kwargs=flash
        )
        self.positions = 0
        self.tokens = 0

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        batch = self.collate(features)
        count = int(batch["input_ids"].numel())
        self.positions += count
        self.tokens += count
        return batch

    @property
    def padding_fraction(self) -> float:
        return 1.0 - self.tokens / self.positions if self.positions else 0.0


def tokens_callback() -> Any:
    """A Trainer callback measuring this session's real tokens (all ranks, as the Trainer
    counts them: non-padding, or every position of packed batches) and seconds."""
    import time

    from transformers import TrainerCallback

    class TokensCallback(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.tokens = 0
            self.seconds = 0.0
            self._start = (0, 0.0)

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._start = (state.num_input_tokens_seen, time.monotonic())

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.tokens = state.num_input_tokens_seen - self._start[0]
            self.seconds = time.monotonic() - self._start[1]

        @property
        def per_second(self) -> float:
            return self.tokens / self.seconds if self.seconds > 0 else 0.0

    return TokensCallback()
