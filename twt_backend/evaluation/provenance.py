"""What produced a stored student output: the content hash of the adapter weights (None for
the untrained student), the base model, the prompt mode and the generation settings that
shape the text (temperature, top-p, max new tokens, the engine that ran).

Every row of `eval_results` and `student_outputs` records these and a short key over all
of them (`Provenance.key`). A job resumes over rows of its own key only: a retrained
adapter (new hash), another base model, prompt mode or generation setting asks the query
again. Reports use the current adapter's hash to tell current rows from stale ones.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twt_backend.config import GenerationConfig, from_dict
from twt_backend.errors import UsageError

GENERATION_KEYS = ("temperature", "top_p", "max_new_tokens", "engine")  # batch size: no
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


@functools.lru_cache(maxsize=128)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def adapter_sha256(adapter: str | Path | None) -> str | None:
    """sha256 of a LoRA adapter folder's weights file; None without an adapter (or without
    a weights file in it)."""
    if not adapter:
        return None
    for name in WEIGHT_FILES:
        weights = Path(adapter) / name
        if weights.is_file():
            stat = weights.stat()
            return _file_sha256(str(weights), stat.st_size, stat.st_mtime_ns)
    return None


def resolved_engine(choice: str | None) -> str:
    """The engine a generation setting runs on ("hf" or "vllm"); the choice as given when
    it cannot be resolved here (vLLM asked for but absent: the job will refuse it)."""
    from twt_backend.evaluation.vllm_server import resolve_engine

    try:
        return resolve_engine(choice or GenerationConfig.engine)
    except UsageError:
        return str(choice)


def generation_settings(generation: dict[str, Any] | None, engine: str | None = None) -> str:
    """The settings that shape an output, as canonical JSON (defaults filled in, the
    engine resolved unless given)."""
    settings = dataclasses.asdict(from_dict(GenerationConfig, dict(generation or {})))
    settings["engine"] = engine or resolved_engine(settings["engine"])
    return json.dumps({k: settings[k] for k in GENERATION_KEYS}, sort_keys=True)


@dataclass(frozen=True)
class Provenance:
    adapter_sha256: str | None
    base_model: str | None
    prompt_mode: str | None
    generation: str  # generation_settings() JSON

    @property
    def key(self) -> str:
        fields = [self.adapter_sha256, self.base_model, self.prompt_mode, self.generation]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]

    def columns(self) -> tuple[str | None, str | None, str, str]:
        """(adapter_sha256, base_model, generation, provenance) as stored."""
        return self.adapter_sha256, self.base_model, self.generation, self.key


def make_provenance(
    adapter: str | Path | None,
    base_model: str | None,
    prompt_mode: str | None,
    generation: dict[str, Any] | None,
    engine: str | None = None,
) -> Provenance:
    return Provenance(
        adapter_sha256(adapter), base_model, prompt_mode, generation_settings(generation, engine)
    )
