"""Exit codes a script can trust: a job that finished with failed items exits 3 and prints the
first (scrubbed) error per teacher; a clean run exits 0."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAIServer, add_teacher, seed_queries

from twt_backend.cli import main
from twt_backend.cli.follow import FINISHED_WITH_FAILURES, finished_code
from twt_backend.config import SelectionConfig
from twt_backend.generation import LabelOptions, label
from twt_backend.selection.run import run_selection
from twt_backend.store import Project

SECRET = "sk-exit-code-test-SECRET-a1b2c3d4e5f6"
FAST = {"backoff_initial_s": 0.02, "backoff_max_s": 0.1, "flush_s": 0.05, "progress_s": 0.05}


def test_generate_exits_3_when_every_request_failed(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: a wrong key, `labelled 0/5, 5 failed`, used to exit 0."""
    monkeypatch.setenv("TWT_TEST_EXIT_KEY", SECRET)
    seed_queries(project, 5)
    with FakeOpenAIServer(faults=lambda key, attempt: "401") as server:
        add_teacher(project, "t", base_url=server.base_url, api_key_env="TWT_TEST_EXIT_KEY")
        assert main(["generate", str(project.root)]) == FINISHED_WITH_FAILURES == 3
    captured = capsys.readouterr()
    assert "labelled 0/5, 5 failed" in captured.err
    first = [line for line in captured.err.splitlines() if "first error" in line]
    assert first == [first[0]] and "teacher t" in first[0] and "HTTP 401" in first[0], first
    assert "[REDACTED]" in first[0]  # the server echoed the key; it is scrubbed
    assert SECRET not in captured.err + captured.out


def test_generate_exits_3_on_some_failures_naming_each_failing_teacher(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_queries(project, 6)
    with (
        FakeOpenAIServer() as good,
        FakeOpenAIServer(faults=lambda key, attempt: "400" if int(key, 16) % 2 else None) as bad,
    ):
        add_teacher(project, "good", base_url=good.base_url)
        add_teacher(project, "flaky", base_url=bad.base_url)
        assert main(["generate", str(project.root), "--quiet"]) == 3
        err = capsys.readouterr().err
        assert [line for line in err.splitlines() if "first error" in line] == [
            next(line for line in err.splitlines() if "teacher flaky: first error" in line)
        ]
        assert "HTTP 400" in err
        # the next run retries only the failed ones; once all are answered, exit 0
        bad.faults = {}
        assert main(["generate", str(project.root), "--quiet"]) == 0
        assert "first error" not in capsys.readouterr().err
    assert project.scalar("SELECT COUNT(*) FROM generations WHERE status='ok'") == 12


def test_refine_exits_3_when_items_fail(project: Project, capsys) -> None:
    seed_queries(project, 3)
    with FakeOpenAIServer() as server:
        add_teacher(project, "t", base_url=server.base_url, max_retries=1)
        label(project.root, LabelOptions(**FAST))
        run_selection(project, SelectionConfig(strategy="quality", threshold=0.5))
        server.faults = lambda key, attempt: "500"
        root = str(project.root)
        assert main(["refine", root, "--method", "compressor", "--quiet"]) == 3
        err = capsys.readouterr().err
        assert "teacher t: first error" in err and "HTTP 500" in err, err
        server.faults = {}
        assert main(["refine", root, "--method", "compressor", "--quiet"]) == 0


def _job(status: str, bars: dict, errors: dict | None = None) -> dict:
    progress = {"bars": bars, **({"errors": errors} if errors else {})}
    return {"id": 1, "status": status, "progress": progress}


def test_finished_code_reads_the_recorded_failure_counts() -> None:
    assert finished_code(_job("finished", {"t": {"done": 5, "total": 5, "failed": 0}})) == 0
    assert finished_code(_job("finished", {"t": {"done": 4, "total": 5, "failed": 1}})) == 3
    assert finished_code(_job("finished", {"stage0": {"done": 9, "total": 9}})) == 0  # eval
    assert finished_code(_job("finished", {"stage0": {"done": 7, "total": 9, "failed": 2}})) == 3
    assert finished_code({"id": 2, "status": "finished", "progress": {}}) == 0


def test_eval_records_the_queries_it_was_asked_for(project: Project, tiny_model_dir) -> None:
    """A clean eval exits 0 and its final bar counts asked, answered and failed queries,
    which `finished_code` reads (eval items cannot fail one by one today: a failed
    inference fails the job, exit 1)."""
    from twt_backend import jobs

    seed_queries(project, 3, split="test")
    argv = ["eval", str(project.root), "--stage", "0", "--student", str(tiny_model_dir),
            "--max-new-tokens", "4", "--limit", "2"]  # fmt: skip
    assert main(argv) == 0
    [job] = jobs.list_jobs(project)
    assert job["progress"]["bars"] == {"stage0": {"done": 2, "total": 2, "failed": 0}}
    assert finished_code(job) == 0
