"""benchmarks/gpu_check.py on a machine without a GPU: every GPU check says skipped with a
reason and it exits 0; its job-running paths work (on CPU here, a short lease's GPU there);
a failing check is reported on its line and makes the exit non-zero."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_vllm import FakeVllmServer

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "benchmarks" / "gpu_check.py"
CHECKS = ["cuda", "train-bf16", "packing", "train-4bit", "torchrun", "fsdp", "vllm"]


@pytest.fixture(scope="module")
def gpu_check():
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_without_a_gpu_every_check_is_skipped_with_a_reason(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the check runs for real there")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", str(out)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == CHECKS
    for line in lines[:-1]:
        assert line.split()[1] == "skipped" and "no CUDA device" in line
    assert lines[-1].startswith("7 checks in") and lines[-1].endswith("0 ok, 7 skipped, 0 failed")
    assert "no CUDA device" in out.read_text()


def test_a_failed_check_is_reported_and_fails_the_run(gpu_check, capsys):
    def broken():
        raise RuntimeError("CUDA error: an illegal memory access\nwas encountered")

    def unavailable():
        raise gpu_check.Skipped("bitsandbytes is not importable")

    results = gpu_check.run_checks(
        [("first", lambda: ("fine", 123.4)), ("second", broken), ("third", unavailable)]
    )
    assert [r.status for r in results] == ["ok", "failed", "skipped"]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["first", "ok", "fine", "123", "tokens/s"]
    assert lines[1].startswith("second      failed   RuntimeError: CUDA error: an illegal")
    assert "bitsandbytes is not importable" in lines[2]


def test_training_check_runs_a_real_stage(gpu_check, tmp_path, tiny_model_dir):
    """The job path behind train-bf16 / torchrun / fsdp, here on CPU with a tiny student."""
    detail, speed = gpu_check.train(
        tmp_path, "cpu", tiny_model_dir, 2,
        training={"bf16": "no", "max_length": 128, "padding_free": "yes"},
    )  # fmt: skip
    assert detail.startswith("1 process(es), 2 steps, loss ")
    assert "padding 0.0% (padding-free, sdpa)" in detail and speed > 0


def test_vllm_check_compares_both_engines_through_a_server_url(
    gpu_check, tmp_path, tiny_model_dir, monkeypatch
):
    monkeypatch.delenv("TWT_VLLM_PYTHON", raising=False)
    with FakeVllmServer(str(tiny_model_dir)) as server:
        monkeypatch.setenv("TWT_VLLM_URL", server.base_url)
        detail, speed = gpu_check.check_vllm(tmp_path, tiny_model_dir, 0)
    assert detail.startswith("64 answers, 4096 tokens") and "64/64 identical to hf" in detail
    assert speed > 0
