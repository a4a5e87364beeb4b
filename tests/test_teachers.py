"""Teacher providers over real HTTP (the fake server), replay files, the local model, keys."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAIServer

from twt_backend import secrets
from twt_backend.config import TeacherConfig
from twt_backend.errors import DataError, UsageError
from twt_backend.teachers import (
    PermanentError,
    RateLimitedError,
    TransientError,
    make_teacher,
)

MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]


async def _ask(config: TeacherConfig, messages: list[dict[str, Any]] = MESSAGES, **kw: Any) -> Any:
    teacher = make_teacher(config)
    await teacher.load()
    try:
        return await teacher.complete(messages, max_tokens=32, temperature=0.0, **kw)
    finally:
        await teacher.aclose()


def _fault_sequence(*kinds: str | None):
    sequence = iter(kinds)
    return lambda key, attempt: next(sequence, None)


@pytest.mark.parametrize("provider", ["openai", "mistral"])
def test_remote_provider_answers_with_usage_and_logprobs(provider: str) -> None:
    with FakeOpenAIServer() as server:
        config = TeacherConfig(name="t", provider=provider, model="m", base_url=server.base_url)
        completion = asyncio.run(_ask(config, logprobs=True))
    assert "Answer:" in completion.text and "score: 0.9" in completion.text
    assert completion.tokens_in == 5  # the fake counts words
    assert completion.tokens_out == len(completion.text.split())
    assert completion.logprob_mean is not None and -0.4 <= completion.logprob_mean <= 0


@pytest.mark.parametrize("provider", ["openai", "mistral"])
@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        ("429", RateLimitedError),
        ("500", TransientError),
        ("malformed", TransientError),
        ("400", PermanentError),
        ("401", PermanentError),
    ],
)
def test_faults_map_to_retryable_or_permanent_errors(
    provider: str, fault: str, error_type: type
) -> None:
    with FakeOpenAIServer(faults=_fault_sequence(fault), retry_after_s=1.5) as server:
        config = TeacherConfig(name="t", provider=provider, model="m", base_url=server.base_url)
        with pytest.raises(error_type) as caught:
            asyncio.run(_ask(config))
    assert caught.type is error_type
    if fault == "429":
        assert caught.value.retry_after == pytest.approx(1.5)
    if error_type is not PermanentError:
        assert caught.value.retryable


def test_hang_is_a_retryable_timeout() -> None:
    with FakeOpenAIServer(faults=_fault_sequence("hang"), hang_s=2) as server:
        config = TeacherConfig(name="t", model="m", base_url=server.base_url, timeout_s=0.3)
        with pytest.raises(TransientError, match="timeout"):
            asyncio.run(_ask(config))


def test_mistral_server_url_drops_v1() -> None:
    from twt_backend.teachers.mistral_teacher import server_url

    assert server_url("http://h:1/v1") == "http://h:1"
    assert server_url("http://h:1/v1/") == "http://h:1"
    assert server_url("https://api.mistral.ai") == "https://api.mistral.ai"
    assert server_url(None) is None


# ---- keys --------------------------------------------------------------------------------------
def test_key_from_env_is_sent_and_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-test-0123456789abcdefXYZ"
    monkeypatch.setenv("TWT_TEST_KEY", key)
    with FakeOpenAIServer() as server:
        config = TeacherConfig(
            name="t", model="m", base_url=server.base_url, api_key_env="TWT_TEST_KEY"
        )
        asyncio.run(_ask(config))
        assert server.authorization[f"Bearer {key}"] == 1
    assert secrets.scrub(f"error: you sent {key}!") == "error: you sent [REDACTED]!"
    assert key not in secrets.scrub(f"Authorization: Bearer {key}")


def test_missing_env_var_names_the_variable_not_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWT_NOT_SET", raising=False)
    config = TeacherConfig(name="t", model="m", api_key_env="TWT_NOT_SET")
    with pytest.raises(UsageError, match="TWT_NOT_SET is not set"):
        secrets.api_key(config)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UsageError, match="--api-key-env"):
        secrets.api_key(TeacherConfig(name="t", model="m"), required=True)


def test_key_from_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]
        store = {("twt-tests", "teacher-k"): "kr-secret-value-123456"}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.store.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        config = TeacherConfig(name="teacher-k", model="m", keyring_service="twt-tests")
        assert secrets.api_key(config) == "kr-secret-value-123456"
        assert secrets.scrub("x kr-secret-value-123456 y") == "x [REDACTED] y"
        with pytest.raises(UsageError, match="no key in keyring"):
            secrets.api_key(TeacherConfig(name="other", model="m", keyring_service="twt-tests"))
    finally:
        keyring.set_keyring(previous)


# ---- replay ----------------------------------------------------------------------------------------
def test_replay_cose_style_explanations(tmp_path: Path) -> None:
    path = tmp_path / "cose.jsonl"
    records = [
        {"id": "q1", "explanation": {"open-ended": "Rivers flow downhill."}},
        {"id": "q2", "explanation": {"open-ended": "Ice is cold."}},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    config = TeacherConfig(
        name="cose",
        provider="replay",
        model=f"{path}#rationale=explanation.open-ended&answer=@reference&confidence=1",
    )
    query = {"id": 1, "source_id": "q2", "payload": {}, "reference": "B"}
    completion = asyncio.run(_ask(config, query=query))
    assert completion.parsed.rationale == "Ice is cold."
    assert completion.parsed.answer == "B"
    assert completion.parsed.confidence == 1.0
    assert completion.parsed.status == "ok"
    with pytest.raises(PermanentError, match="q9"):
        asyncio.run(_ask(config, query={**query, "source_id": "q9"}))


def test_replay_guesses_fields_and_reads_csv(tmp_path: Path) -> None:
    path = tmp_path / "outputs.csv"
    path.write_text('id,text\nq1,"Rationale: 2+2.\nAnswer: 4\nscore: 0.8"\n')
    config = TeacherConfig(name="old", provider="replay", model=str(path))
    completion = asyncio.run(_ask(config, query={"source_id": "q1"}))
    assert completion.parsed is None  # a raw output: the task parses it
    assert completion.text.endswith("score: 0.8")


def test_replay_bad_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n{oops\n')
    config = TeacherConfig(name="bad", provider="replay", model=str(path))
    with pytest.raises(DataError, match=r"bad.jsonl:2: not JSON"):
        asyncio.run(_ask(config, query={"source_id": "a"}))


def test_unknown_provider_is_a_usage_error() -> None:
    config = TeacherConfig(name="x", model="m")
    config.provider = "nope"
    with pytest.raises(UsageError, match="unknown provider"):
        make_teacher(config)


# ---- local -----------------------------------------------------------------------------------------
def test_local_teacher_batches_concurrent_requests(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from twt_backend.teachers import local_teacher

    # the worker waits GATHER_S (20 ms) for more requests: a busy machine may pause the
    # event loop longer between two of the four. Waiting longer costs nothing here, the
    # batch is full (concurrency 4) as soon as the fourth arrives.
    monkeypatch.setattr(local_teacher, "GATHER_S", 60.0)
    config = TeacherConfig(name="tiny", provider="local", model=str(tiny_model_dir), concurrency=4)

    async def run() -> tuple[list[Any], list[int]]:
        teacher = make_teacher(config)
        await teacher.load()
        try:
            prompts = [[{"role": "user", "content": f"question {i}"}] for i in range(4)]
            results = await asyncio.gather(
                *(
                    teacher.complete(p, max_tokens=6, temperature=0.0, logprobs=True)
                    for p in prompts
                )
            )
            return list(results), teacher.batch_sizes  # type: ignore[attr-defined]
        finally:
            await teacher.aclose()

    results, batch_sizes = asyncio.run(run())
    assert max(batch_sizes) > 1  # generated together, not one by one
    assert sum(batch_sizes) == 4
    for completion in results:
        assert 0 < completion.tokens_out <= 6
        assert completion.tokens_in > 0
        assert completion.logprob_mean is not None and completion.logprob_mean <= 0
