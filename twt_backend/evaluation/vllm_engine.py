"""Student inference on vLLM: the base model served once, a stage's adapter as a LoRA module,
prompts sent as plain-text completions through the labelling engine's lane (bounded
concurrency, retries with backoff, timeouts).

Answers follow the transformers engine's definition exactly: the prompt is rendered with
`student_prompt.format_prompt` and tokenised here (the server gets token ids), greedy
unless a temperature is set, the same stop tokens, and the generated token ids come back
(`return_token_ids`) so the count (up to, not counting, the end-of-sequence token) and the
decoded text are computed here with the same tokenizer as `evaluation.inference`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from twt_backend import secrets
from twt_backend.config import GenerationConfig, TeacherConfig
from twt_backend.errors import TwtError, UsageError
from twt_backend.evaluation.inference import Completion, _count_tokens
from twt_backend.evaluation.vllm_server import (
    BASE_NAME,
    KEY_ENV,
    VllmServer,
    absent_reason,
    extra_args,
    free_port,
    gpu_present,
    serve_argv,
    vllm_source,
)
from twt_backend.generation_lane import Lane, WorkItem
from twt_backend.teachers.base import PermanentError
from twt_backend.teachers.openai_teacher import PLACEHOLDER_KEY, OpenAITeacher

if TYPE_CHECKING:
    from twt_backend.jobs import JobContext
    from twt_backend.teachers import Teacher

CONCURRENCY_ENV = "TWT_VLLM_CONCURRENCY"
DEFAULT_CONCURRENCY = 64  # requests in flight: vLLM batches them continuously
REQUEST_TIMEOUT_S = 3600.0  # a long answer on a busy server is not a hang
OnBatch = Callable[[list[int], list[Completion]], None]


def adapter_name(adapter: str | Path) -> str:
    """A served name unique to the adapter's weights: a retrained adapter never answers
    under a stale one's name on a shared server."""
    digest = hashlib.sha256()
    for name in ("adapter_model.safetensors", "adapter_model.bin", "adapter_config.json"):
        path = Path(adapter) / name
        if path.is_file():
            digest.update(path.read_bytes())
    return f"twt-{Path(adapter).parent.name}-{digest.hexdigest()[:12]}"


def stop_token_ids(tokenizer: Any, model_path: str | Path) -> set[int]:
    """The tokens that end an answer: what `generate` stops on (the generation config's
    end-of-sequence ids) and what the transformers engine counts up to (eos, pad)."""
    ids = {i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None}
    path = Path(model_path) / "generation_config.json"
    if path.is_file():
        eos = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
        ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    return ids


class StudentClient(OpenAITeacher):
    """Completions with token ids in and out, against a vLLM server (a teacher-shaped client
    so the labelling engine's lane can drive it)."""

    def __init__(self, config: TeacherConfig, tokenizer: Any, gen: GenerationConfig, stops: set):
        super().__init__(config)
        self.tokenizer = tokenizer
        self.gen = gen
        self.stops = stops

    async def load(self) -> None:
        import openai

        key = os.environ.get(KEY_ENV) or None  # sent to this server only, never stored
        secrets.remember(key)
        self._errors = openai
        self.client = openai.AsyncOpenAI(
            api_key=key or PLACEHOLDER_KEY,
            base_url=self.config.base_url,
            max_retries=0,
            timeout=self.config.timeout_s,
        )

    async def complete(  # type: ignore[override]
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        logprobs: bool = False,
        query: dict[str, Any] | None = None,
    ) -> Completion:
        assert query is not None
        sampling = {"top_p": self.gen.top_p} if temperature > 0 else {}
        try:
            response = await self.client.completions.create(
                model=self.config.model,
                prompt=query["prompt_ids"],
                max_tokens=max_tokens,
                temperature=temperature,
                **sampling,
                extra_body={
                    "return_token_ids": True,
                    "stop_token_ids": sorted(self.stops),
                    "skip_special_tokens": True,
                },
            )
        except Exception as exc:  # noqa: BLE001 - mapped to the lane's error types
            raise self._map_error(exc) from None
        choice = response.choices[0] if response.choices else None
        ids = getattr(choice, "token_ids", None)
        if ids is None:
            raise PermanentError(
                "the server returned no token ids: the vLLM engine needs vLLM >= 0.10.2 "
                "(completions with return_token_ids)"
            )
        count = _count_tokens(ids, self.stops)
        text = self.tokenizer.decode(ids[:count], skip_special_tokens=True).strip()
        return Completion(text=text, tokens=count)


class StudentLane(Lane):
    """The labelling lane with student answers instead of generation rows."""

    def _ok_row(self, item: WorkItem, completion: Any, attempts: int, latency: float) -> Any:
        self.stats.ok += 1
        self.stats.tokens_out += completion.tokens
        return (item.query["index"], completion, None)

    def _failed_row(self, item: WorkItem, exc: BaseException, attempts: int, latency: float) -> Any:
        self.stats.failed += 1
        message = str(exc) or type(exc).__name__
        return (item.query["index"], None, secrets.scrub(f"after {attempts} attempt(s): {message}"))


def concurrency(gen: GenerationConfig) -> int:
    return int(os.environ.get(CONCURRENCY_ENV) or max(gen.batch_size, DEFAULT_CONCURRENCY))


def generate_on_server(
    base_url: str,
    model_name: str,
    tokenizer: Any,
    model_path: str | Path,
    prompts: Sequence[str],
    gen: GenerationConfig,
    on_batch: OnBatch | None = None,
    should_stop: Callable[[], bool] | None = None,
    alive: Callable[[], bool] | None = None,
) -> list[Completion | None]:
    """Answer every prompt on a vLLM server (the `generate` contract of the transformers
    engine: results in the prompts' order, None where `should_stop()` left one unanswered;
    `on_batch(indices, completions)` about every `gen.batch_size` answers)."""
    from twt_backend.student_prompt import format_prompt

    stops = stop_token_ids(tokenizer, model_path)
    items = [
        WorkItem(
            query={"index": i, "prompt_ids": ids, "payload": {}},
            messages=[],
            request_hash="",
            est_tokens_in=len(ids),
        )
        for i, ids in enumerate(
            tokenizer(format_prompt(tokenizer, p), add_special_tokens=False)["input_ids"]
            for p in prompts
        )
    ]
    config = TeacherConfig(
        name="student",
        model=model_name,
        base_url=f"{base_url}/v1",
        concurrency=concurrency(gen),
        temperature=gen.temperature,
        max_tokens=gen.max_new_tokens,
        timeout_s=REQUEST_TIMEOUT_S,
    )
    return asyncio.run(
        _run(config, StudentClient(config, tokenizer, gen, stops), items, gen, on_batch,
             should_stop or (lambda: False), alive or (lambda: True))
    )  # fmt: skip


async def _run(
    config: TeacherConfig,
    client: StudentClient,
    items: list[WorkItem],
    gen: GenerationConfig,
    on_batch: OnBatch | None,
    should_stop: Callable[[], bool],
    alive: Callable[[], bool],
) -> list[Completion | None]:
    results: list[Completion | None] = [None] * len(items)
    errors: list[str] = []
    pending: list[tuple[int, Completion]] = []

    def flush() -> None:
        if pending and on_batch:
            on_batch([i for i, _ in pending], [c for _, c in pending])
        pending.clear()

    def emit(row: Any) -> None:
        index, completion, error = row
        if completion is None:
            errors.append(error)
            return
        results[index] = completion
        pending.append((index, completion))
        if len(pending) >= gen.batch_size:
            flush()

    await client.load()
    # the client answers student Completions, which only StudentLane's rows read
    teacher = cast("Teacher", client)
    lane = StudentLane(0, config, teacher, _no_parse, emit, lambda _: not should_stop())
    lane.queue.extend(items)
    task = asyncio.ensure_future(lane.run())
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.25)
            if should_stop() or not alive():
                task.cancel()
        if not task.cancelled():
            task.result()
    except asyncio.CancelledError:
        pass
    finally:
        flush()
        await client.aclose()
    if not alive():
        raise TwtError("the vLLM server stopped while answering")
    if errors:
        raise TwtError(f"{len(errors)} student answer(s) failed on vLLM; first: {errors[0]}")
    return results


def _no_parse(text: str, payload: dict[str, Any]) -> Any:
    raise AssertionError("student answers are not parsed")


# ---- a job's server: started here, or one already running ------------------------------------
def served_models(base_url: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(f"{base_url}/v1/models")
    key = os.environ.get(KEY_ENV)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return list(json.loads(response.read())["data"])
    except (OSError, ValueError, KeyError) as exc:
        raise TwtError(
            f"vLLM server {base_url}: cannot list its models: {secrets.scrub(exc)}"
        ) from None


def remote_model_name(base_url: str, adapter: str | None) -> str:
    """The name to ask a running server for: its base model, or the adapter's LoRA module
    (loaded at run time when the server allows it and shares this file system)."""
    models = served_models(base_url)
    if adapter is None:
        bases = [m["id"] for m in models if not m.get("parent")]
        if not bases:
            raise TwtError(f"vLLM server {base_url} serves no base model")
        return str(bases[0])
    name = adapter_name(adapter)
    if any(m["id"] == name for m in models):
        return name
    body = json.dumps({"lora_name": name, "lora_path": str(adapter)}).encode()
    request = urllib.request.Request(
        f"{base_url}/v1/load_lora_adapter", data=body, headers={"Content-Type": "application/json"}
    )
    key = os.environ.get(KEY_ENV)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=300):
            return name
    except (OSError, urllib.error.HTTPError) as exc:
        raise UsageError(
            f"vLLM server {base_url} has no LoRA module {name} and could not load {adapter} "
            f"({secrets.scrub(exc)}): start it with `--enable-lora --lora-modules "
            f"{name}={adapter}`, or with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True on a machine "
            "that sees this folder"
        ) from None


def serve_dtype() -> str:
    """The dtype `load_student` uses: bf16 on a GPU that has it, else float32."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bfloat16"
    return "float32"


def run_on_vllm(
    ctx: JobContext, prompts: Sequence[str], gen: GenerationConfig, on_batch: OnBatch
) -> list[Completion | None]:
    """A job's student answers on vLLM: on the server at TWT_VLLM_URL, or on one started
    for this job (stopped when it ends, also on cancel or failure). The job config names
    the student, its adapter and the data-parallel size of a server started here."""
    from transformers import AutoTokenizer

    from twt_backend.models import resolve_student

    source = vllm_source()
    if source is None:
        raise UsageError(absent_reason())
    adapter = ctx.config.get("adapter")
    model_path = resolve_student(ctx.config["student"])
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    stop = ctx.cancelled.is_set
    if source.url:
        name = remote_model_name(source.url, adapter)
        ctx.log(f"vLLM engine: server {source.url}, model {name}")
        return generate_on_server(
            source.url, name, tokenizer, model_path, prompts, gen, on_batch, stop
        )
    adapters = {adapter_name(adapter): str(adapter)} if adapter else {}
    argv = serve_argv(
        str(source.python), str(model_path), adapters, free_port(), serve_dtype(),
        data_parallel=int(ctx.config.get("data_parallel", 1)), gpu=gpu_present(),
        extra=extra_args(),
    )  # fmt: skip
    server = VllmServer(argv, ctx.artifact_dir / "vllm_server.log")
    ctx.log(f"vLLM engine: starting the server (log {server.log_path})")
    started = time.monotonic()
    server.start(ctx.cancelled)
    try:
        ctx.log(f"vLLM engine: server ready in {time.monotonic() - started:.0f} s")
        name = next(iter(adapters), BASE_NAME)
        return generate_on_server(
            server.base_url, name, tokenizer, model_path, prompts, gen, on_batch, stop,
            server.alive,
        )  # fmt: skip
    finally:
        server.stop()
