"""A Hugging Face causal LM run by transformers, offline, with batched generation.

Requests from the event loop queue up for one worker thread, which takes up to
`concurrency` of them at a time and runs them as one left-padded `generate()` batch
(torch releases the GIL while it computes, so the loop stays responsive).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import dataclass
from typing import Any

from twt_backend.config import TeacherConfig
from twt_backend.teachers.base import Completion, PermanentError

GATHER_S = 0.02  # how long the worker waits for more requests to fill a batch


@dataclass
class _Request:
    prompt: str
    max_tokens: int
    temperature: float
    logprobs: bool
    future: asyncio.Future[Completion]
    loop: asyncio.AbstractEventLoop


class LocalTeacher:
    def __init__(self, config: TeacherConfig):
        self.config = config
        self.model: Any = None
        self.tokenizer: Any = None
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.batch_sizes: list[int] = []  # size of every generate() batch run, for inspection

    async def load(self) -> None:
        await asyncio.to_thread(self._load_model)
        self._thread = threading.Thread(target=self._serve, name="local-teacher", daemon=True)
        self._thread.start()

    def _load_model(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.config.model)
            self.model = AutoModelForCausalLM.from_pretrained(self.config.model)
        except (OSError, ValueError) as exc:
            raise PermanentError(f"cannot load local model {self.config.model}: {exc}") from None
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def prompt_text(self, messages: list[dict[str, Any]]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return str(
                self.tokenizer.apply_chat_template(
                    messages, add_generation_prompt=True, tokenize=False
                )
            )
        return "\n\n".join(str(m.get("content", "")) for m in messages) + "\n\n"

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        logprobs: bool = False,
        query: dict[str, Any] | None = None,
    ) -> Completion:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Completion] = loop.create_future()
        request = _Request(
            self.prompt_text(messages), max_tokens, temperature, logprobs, future, loop
        )
        self._queue.put(request)
        return await future

    # ---- worker thread ---------------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.config.concurrency:
                try:
                    item = self._queue.get(timeout=GATHER_S)
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._run_batch([r for r in batch if not r.future.cancelled()])

    def _run_batch(self, batch: list[_Request]) -> None:
        if not batch:
            return
        self.batch_sizes.append(len(batch))
        try:
            results: list[Completion | BaseException] = list(self._generate(batch))
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request
            results = [PermanentError(f"local generation failed: {exc}")] * len(batch)
        for request, result in zip(batch, results, strict=True):
            request.loop.call_soon_threadsafe(_settle, request.future, result)

    def _generate(self, batch: list[_Request]) -> list[Completion]:
        import torch

        encoded = self.tokenizer(
            [r.prompt for r in batch], return_tensors="pt", padding=True, add_special_tokens=False
        )
        temperature = batch[0].temperature
        want_logprobs = any(r.logprobs for r in batch)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": self.config.top_p}
            if temperature > 0
            else {"do_sample": False}
        )
        with torch.no_grad():
            output = self.model.generate(
                **encoded,
                max_new_tokens=max(r.max_tokens for r in batch),
                pad_token_id=self.tokenizer.pad_token_id,
                return_dict_in_generate=True,
                output_scores=want_logprobs,
                **sampling,
            )
        width = encoded["input_ids"].shape[1]
        new_tokens = output.sequences[:, width:]
        scores = None
        if want_logprobs:
            scores = self.model.compute_transition_scores(
                output.sequences, output.scores, normalize_logits=True
            )
        completions = []
        for row, request in enumerate(batch):
            ids = _until_eos(new_tokens[row].tolist(), self.tokenizer.eos_token_id)
            cut = len(ids) >= request.max_tokens
            ids = ids[: request.max_tokens]
            mean = None
            if scores is not None and ids:
                mean = float(scores[row, : len(ids)].mean())
            completions.append(
                Completion(
                    text=self.tokenizer.decode(ids, skip_special_tokens=True),
                    tokens_in=int(encoded["attention_mask"][row].sum()),
                    tokens_out=len(ids),
                    logprob_mean=mean if request.logprobs else None,
                    finish_reason="length" if cut else "stop",
                )
            )
        return completions

    async def aclose(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join, 60)
            self._thread = None


def _until_eos(ids: list[int], eos: int | list[int] | None) -> list[int]:
    stops = set(eos) if isinstance(eos, list) else {eos}
    for index, token in enumerate(ids):
        if token in stops:
            return ids[:index]
    return ids


def _settle(future: asyncio.Future[Completion], result: Completion | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
