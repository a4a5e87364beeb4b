"""The engine as a real worker process: kill -9 and resume, cancel, keys never stored, CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from pathlib import Path

import pytest
from fake_openai import FakeOpenAIServer, add_teacher, seed_queries

from twt_backend import jobs
from twt_backend.cli import main
from twt_backend.generation import LabelOptions, label
from twt_backend.store import Project

FAST = LabelOptions(backoff_initial_s=0.02, backoff_max_s=0.2, flush_s=0.05, progress_s=0.1)


def _ok(project: Project) -> int:
    return int(project.scalar("SELECT COUNT(*) FROM generations WHERE status = 'ok'"))


def _wait_for(condition, timeout_s: float = 600.0) -> None:  # type: ignore[no-untyped-def]
    """Wait for something that will happen; the bound only ends a broken run."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_kill_9_mid_run_then_resume_repeats_only_in_flight(project: Project) -> None:
    seed_queries(project, 60)
    concurrency, answered = 4, 16
    # the server answers 16 requests, then holds the next ones: the kill lands mid-run
    with FakeOpenAIServer(latency_s=0.01, hold_after=answered) as server:
        add_teacher(project, "t", base_url=server.base_url, concurrency=concurrency)
        job_id = jobs.create_job(project, "generate", dataclasses.asdict(FAST))
        worker = jobs.start_detached(project, job_id)
        _wait_for(lambda: _ok(project) == answered and server.held == concurrency)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        server.release()  # the held requests are answered to a client that is gone
        assert server.wait_idle()
        stored = _ok(project)
        lost = sum(server.served_ok.values()) - stored
        assert stored == answered
        assert lost == concurrency  # the requests in flight at the kill

        assert jobs.reap_stale(project) == [job_id]
        assert jobs.get_job(project, job_id)["status"] == "interrupted"
        jobs.start_detached(project, job_id).wait(timeout=120)
        assert jobs.get_job(project, job_id)["status"] == "finished"
        repeated = sum(server.served_ok.values()) - 60
        assert repeated <= lost  # nothing stored was asked again
        assert len(server.duplicates()) <= 2 * concurrency
    assert _ok(project) == 60
    assert project.scalar("SELECT COUNT(*) FROM generations") == 60
    assert project.integrity_ok()
    progress = jobs.get_job(project, job_id)["progress"]
    assert progress["bars"]["t"]["done"] == 60


def test_cancel_stops_worker_cleanly_and_rerun_finishes(project: Project) -> None:
    seed_queries(project, 40)
    with FakeOpenAIServer(latency_s=0.01, hold_after=4) as server:  # then mid-run until release
        add_teacher(project, "t", base_url=server.base_url, concurrency=2)
        job_id = jobs.create_job(project, "generate", dataclasses.asdict(FAST))
        worker = jobs.start_detached(project, job_id)
        _wait_for(lambda: _ok(project) >= 4)
        assert jobs.cancel(project, job_id, grace_s=60) == "cancelled"
        worker.wait(timeout=60)
        assert _ok(project) == 4
        assert jobs.get_job(project, job_id)["progress"]["stopped"] == "cancelled"
        server.release()
        label(project.root, FAST)  # the next run, in this process this time
        assert len(server.duplicates()) <= 2
    assert _ok(project) == 40
    assert project.integrity_ok()


def test_key_never_reaches_the_project_folder(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-twt-TEST-never-store-me-4f9d2c7a1b"
    monkeypatch.setenv("TWT_TEST_SECRET", key)
    seed_queries(project, 6)
    echo_key = lambda k, attempt: "401" if int(k, 16) % 2 else None  # noqa: E731
    with FakeOpenAIServer(faults=echo_key) as server:
        add_teacher(project, "t", base_url=server.base_url, api_key_env="TWT_TEST_SECRET")
        job_id = jobs.create_job(project, "generate", dataclasses.asdict(FAST))
        jobs.start_detached(project, job_id).wait(timeout=120)
        assert server.authorization[f"Bearer {key}"] == 6  # the key was used...
    errors = [
        r["error"] for r in project.rows("SELECT error FROM generations WHERE error IS NOT NULL")
    ]
    assert errors and all("[REDACTED]" in e for e in errors)  # ...and echoed back by the server
    project.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    files = [p for p in Path(project.root).rglob("*") if p.is_file()]
    assert any(p.name == "worker.log" for p in files)
    for path in files:
        assert key.encode() not in path.read_bytes(), path
    assert key not in json.dumps(project.rows("SELECT config FROM teachers"))


# ---- CLI -----------------------------------------------------------------------------------------
def test_cli_teacher_add_list_and_bad_input(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(project.root)
    assert main(["teacher", "add", root, "gpt", "--provider", "openai", "--model", "gpt-4o-mini",
                 "--api-key-env", "OPENAI_API_KEY", "--concurrency", "16", "--rpm", "500",
                 "--price-in", "0.15", "--price-out", "0.6", "--batch"]) == 0  # fmt: skip
    assert main(["teacher", "add", root, "gpt", "--provider", "openai", "--model", "x"]) == 2
    assert main(["teacher", "add", root, "bad", "--provider", "nope", "--model", "m"]) == 2
    assert main(["teacher", "add", root, "bad", "--provider", "openai", "--model", "m",
                 "--concurrency", "0"]) == 2  # fmt: skip
    assert main(["teacher", "add", root, "bad", "--provider", "openai", "--model", "m",
                 "--api-key-env", "not a name"]) == 2  # fmt: skip
    assert main(["teacher", "add", str(project.root / "missing"), "x", "--provider", "openai",
                 "--model", "m"]) == 2  # fmt: skip
    assert main(["teacher", "list", str(project.root / "missing")]) == 2
    capsys.readouterr()
    assert main(["teacher", "list", root, "--json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["name"] == "gpt" and row["ok"] == 0
    config = row["config"]
    assert config["api_key_env"] == "OPENAI_API_KEY" and config["concurrency"] == 16
    assert config["rpm"] == 500 and config["price_out"] == 0.6 and config["use_batch_api"] is True
    assert (
        main(["teacher", "add", root, "gpt", "--provider", "mistral", "--model", "m", "--replace"])
        == 0
    )
    assert json.loads(project.scalar("SELECT config FROM teachers"))["provider"] == "mistral"


def test_cli_teacher_test_prints_latency_and_triplet(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_queries(project, 1)
    with FakeOpenAIServer() as server:
        add_teacher(project, "ok", base_url=server.base_url)
        assert main(["teacher", "test", str(project.root), "ok"]) == 0
        out = capsys.readouterr().out
        assert "teacher ok: ok in" in out and "answer: " in out and "confidence: 0.9" in out
        assert "parse status: ok" in out
    with FakeOpenAIServer(faults=lambda k, a: "401") as server:
        add_teacher(project, "denied", base_url=server.base_url)
        assert main(["teacher", "test", str(project.root), "denied"]) == 1
        assert "HTTP 401" in capsys.readouterr().err
    assert main(["teacher", "test", str(project.root), "nobody"]) == 2
    assert project.scalar("SELECT COUNT(*) FROM generations") == 0  # a test stores nothing


def test_cli_generate_runs_a_job_and_checks_input(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = str(project.root)
    seed_queries(project, 5)
    with FakeOpenAIServer() as server:
        add_teacher(project, "t", base_url=server.base_url, price_in=1.0)
        assert main(["generate", root, "--quiet", "--limit", "3"]) == 0
        assert _ok(project) == 3
        assert "3 request(s) to send, estimated cost $" in capsys.readouterr().err
        assert main(["generate", root, "--quiet"]) == 0
        assert server.stats()["requests"] == 5
    jobs_before = project.scalar("SELECT COUNT(*) FROM jobs")
    monkeypatch.delenv("TWT_UNSET_KEY", raising=False)
    add_teacher(project, "keyless", base_url="http://127.0.0.1:9/v1", api_key_env="TWT_UNSET_KEY")
    assert main(["generate", root, "--teacher", "keyless"]) == 2
    assert "TWT_UNSET_KEY is not set" in capsys.readouterr().err
    assert main(["generate", root, "--teacher", "ghost"]) == 2
    assert main(["generate", root, "--budget", "-1"]) == 2
    assert main(["generate", str(project.root / "missing")]) == 2
    assert project.scalar("SELECT COUNT(*) FROM jobs") == jobs_before  # bad input changes nothing


def test_cli_generate_refuses_a_second_concurrent_run(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_queries(project, 30)
    with FakeOpenAIServer(hold_after=0) as server:  # the first job runs until cancelled
        add_teacher(project, "t", base_url=server.base_url, concurrency=1)
        job_id = jobs.create_job(project, "generate", dataclasses.asdict(FAST))
        worker = jobs.start_detached(project, job_id)
        _wait_for(lambda: jobs.get_job(project, job_id)["status"] == "running")
        assert main(["generate", str(project.root), "--quiet"]) == 2
        assert f"labelling job {job_id} is already running" in capsys.readouterr().err
        jobs.cancel(project, job_id)
        worker.wait(timeout=30)
