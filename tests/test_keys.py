"""Where an API key goes, over real HTTP (the fake server records the Authorization header):
a provider's default variable only to that provider's default endpoint; a custom endpoint
gets a key only from a source named on the teacher, else no Authorization at all."""

from __future__ import annotations

import asyncio

import pytest
from fake_openai import FakeOpenAIServer, add_teacher, seed_queries

from twt_backend import secrets
from twt_backend.cli import main
from twt_backend.config import TeacherConfig
from twt_backend.errors import UsageError
from twt_backend.store import Project
from twt_backend.teachers import make_teacher

DEFAULT_SECRET = "sk-default-env-SECRET-0123456789abcdef"
NAMED_SECRET = "sk-named-var-SECRET-9876543210fedcba"
MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]


async def _ask(config: TeacherConfig) -> None:
    teacher = make_teacher(config)
    await teacher.load()
    try:
        await teacher.complete(MESSAGES, max_tokens=16, temperature=0.0)
    finally:
        await teacher.aclose()


@pytest.fixture
def default_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's shell holds both providers' default keys."""
    monkeypatch.setenv("OPENAI_API_KEY", DEFAULT_SECRET)
    monkeypatch.setenv("MISTRAL_API_KEY", DEFAULT_SECRET)


@pytest.mark.parametrize("provider", ["openai", "mistral"])
def test_custom_endpoint_without_a_named_source_gets_no_authorization(
    provider: str, default_keys: None
) -> None:
    with FakeOpenAIServer() as server:
        config = TeacherConfig(name="t", provider=provider, model="m", base_url=server.base_url)
        asyncio.run(_ask(config))
        assert dict(server.authorization) == {"": 1}  # no header at all, not even a placeholder


@pytest.mark.parametrize("provider", ["openai", "mistral"])
def test_custom_endpoint_gets_the_key_of_its_named_variable(
    provider: str, default_keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWT_TEST_NAMED_KEY", NAMED_SECRET)
    with FakeOpenAIServer() as server:
        config = TeacherConfig(
            name="t",
            provider=provider,
            model="m",
            base_url=server.base_url,
            api_key_env="TWT_TEST_NAMED_KEY",
        )
        asyncio.run(_ask(config))
        assert dict(server.authorization) == {f"Bearer {NAMED_SECRET}": 1}


def test_ambient_sdk_headers_do_not_reach_a_custom_endpoint(
    default_keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The openai SDK also reads OPENAI_CUSTOM_HEADERS; its Authorization is ambient too."""
    ambient = "sk-ambient-header-SECRET-00112233445566"
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", f"Authorization: Bearer {ambient}")
    with FakeOpenAIServer() as server:
        config = TeacherConfig(name="t", model="m", base_url=server.base_url)
        asyncio.run(_ask(config))
        assert dict(server.authorization) == {"": 1}


def test_key_sources_are_described() -> None:
    openai = TeacherConfig(name="t", model="m")
    assert secrets.key_source(openai) == "key from $OPENAI_API_KEY"
    official = TeacherConfig(name="t", model="m", base_url="https://api.openai.com/v1/")
    assert secrets.key_source(official) == "key from $OPENAI_API_KEY"
    mistral = TeacherConfig(name="t", provider="mistral", model="m")
    assert secrets.key_source(mistral) == "key from $MISTRAL_API_KEY"
    custom = TeacherConfig(name="t", model="m", base_url="http://127.0.0.1:8000/v1")
    assert secrets.key_source(custom) == "no key sent (custom endpoint, no key source named)"
    named = TeacherConfig(name="t", model="m", base_url="http://h/v1", api_key_env="MY_KEY")
    assert secrets.key_source(named) == "key from $MY_KEY"
    ring = TeacherConfig(name="t", model="m", base_url="http://h/v1", keyring_service="svc")
    assert secrets.key_source(ring) == "key from keyring"
    assert secrets.key_source(TeacherConfig(name="t", provider="local", model="m")) == (
        "no key needed (local provider)"
    )


def test_default_endpoint_still_requires_its_default_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        secrets.api_key(TeacherConfig(name="t", model="m"))
    monkeypatch.setenv("OPENAI_API_KEY", DEFAULT_SECRET)
    assert secrets.api_key(TeacherConfig(name="t", model="m")) == DEFAULT_SECRET
    custom = TeacherConfig(name="t", model="m", base_url="http://127.0.0.1:9/v1")
    assert secrets.api_key(custom) is None


def test_cli_teacher_test_says_which_key_is_sent(
    project: Project,
    default_keys: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_queries(project, 1)
    monkeypatch.setenv("TWT_TEST_NAMED_KEY", NAMED_SECRET)
    with FakeOpenAIServer() as server:
        add_teacher(project, "nokey", base_url=server.base_url)
        add_teacher(project, "named", base_url=server.base_url, api_key_env="TWT_TEST_NAMED_KEY")
        assert main(["teacher", "test", str(project.root), "nokey"]) == 0
        out = capsys.readouterr().out
        assert "no key sent (custom endpoint, no key source named)" in out
        assert main(["teacher", "test", str(project.root), "named"]) == 0
        assert "key from $TWT_TEST_NAMED_KEY" in capsys.readouterr().out
        assert dict(server.authorization) == {"": 1, f"Bearer {NAMED_SECRET}": 1}


def test_generate_sends_no_default_key_to_a_custom_endpoint(
    project: Project, default_keys: None
) -> None:
    seed_queries(project, 3)
    with FakeOpenAIServer() as server:
        add_teacher(project, "t", base_url=server.base_url)
        assert main(["generate", str(project.root), "--quiet"]) == 0
        assert dict(server.authorization) == {"": 3}


@pytest.mark.parametrize(
    "pasted",
    [
        "sk-proj-AbCdEf0123456789AbCdEf0123456789",  # an OpenAI key (not a name: has '-')
        "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",  # a valid identifier shaped like a key
        "Bearer abcdef0123456789",
    ],
)
def test_a_key_pasted_as_variable_name_is_refused_without_echo(
    project: Project, pasted: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["teacher", "add", str(project.root), "t", "--provider", "openai",
                 "--model", "m", "--api-key-env", pasted])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    assert "api_key_env" in captured.err and "not shown" in captured.err
    assert pasted not in captured.err + captured.out
    assert pasted.split()[-1][:12] not in captured.err + captured.out
    assert project.scalar("SELECT COUNT(*) FROM teachers") == 0


def test_ordinary_variable_names_are_accepted() -> None:
    for name in ("OPENAI_API_KEY", "my_gateway_key_2", "VLLM_TOKEN", "_K"):
        TeacherConfig(name="t", model="m", api_key_env=name).validate()
