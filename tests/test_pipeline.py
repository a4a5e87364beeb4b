"""`twt run` end to end on the tiny model with three fake teachers: every step runs as its
own job, a second run skips everything, and a cancel stops the running step."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAIServer, seed_queries, setup_pipeline_project
from training_helpers import wait_until

from twt_backend import jobs
from twt_backend.hard.refine_prompts import REWRITE_SYSTEM
from twt_backend.selection.samples import effective_samples
from twt_backend.store import Project

TEACHERS = ("gpt", "mis", "lla")


def responder(messages: list[dict[str, Any]], model: str) -> str:
    user = str(messages[-1]["content"])
    if messages[0]["content"] == REWRITE_SYSTEM:
        return f"<reasoning>{model}: add the two numbers.</reasoning>"
    n = int(re.search(r"\(item (\d+)\)", user).group(1))  # type: ignore[union-attr]
    style = {"gpt": "First add", "mis": "We double", "lla": "Sum of"}[model]
    return f"Reasoning: {style} {n} and {n} to get {2 * n}.\nAnswer: {2 * n}\nscore: 0.97"


def _cli(*argv: str) -> int:
    from twt_backend.cli import pipeline_cmds

    parser = argparse.ArgumentParser()
    pipeline_cmds.register(parser.add_subparsers())
    args = parser.parse_args(["run", *argv])
    return int(args.func(args) or 0)


def _refine_cli(*argv: str) -> int:
    from twt_backend.cli import refine_cmds

    parser = argparse.ArgumentParser()
    refine_cmds.register(parser.add_subparsers())
    args = parser.parse_args(["refine", *argv])
    return int(args.func(args) or 0)


def _content(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("id", "created_at", "updated_at")}


def _setup(project: Project, server: FakeOpenAIServer, tiny: Path, minilm: Path) -> None:
    setup_pipeline_project(project, server, tiny, minilm, TEACHERS)


def _kinds(project: Project) -> list[tuple[str, str]]:
    return [(r["kind"], r["status"]) for r in project.rows("SELECT * FROM jobs ORDER BY id")]


# Evaluation (four more jobs) is covered by the slow SmolLM2 test.
FLAGS = ("--max-steps", "2", "--batch-size", "2", "--max-length", "320", "--max-new-tokens", "4",
         "--no-eval")  # fmt: skip


def test_pipeline_end_to_end_then_skips_everything(project, tiny_model_dir, minilm_dir) -> None:
    with FakeOpenAIServer(responder=responder) as server:
        _setup(project, server, tiny_model_dir, minilm_dir)
        started = time.monotonic()
        assert _cli(str(project.root), *FLAGS, "--quiet") == 0, _logs(project)
        first_s = time.monotonic() - started
        kinds = _kinds(project)
        assert kinds == [
            ("pipeline", "finished"), ("generate", "finished"), ("select", "finished"),
            ("train", "finished"), ("infer", "finished"), ("refine", "finished"),
            ("train", "finished"), ("train", "finished"),
        ], kinds  # fmt: skip
        samples = effective_samples(project)
        assert len(samples) == 8  # DCRS kept the least similar pair of each query
        requests = server.stats()["requests"]
        assert requests == 12 + 8  # labels, then one rewrite per sample
        refined = project.rows("SELECT * FROM refinements WHERE round=1 AND status='ok'")
        assert len(refined) == 8 and all(r["student_output"] is not None for r in refined)
        assert {r["refined_text"].split(":")[0] for r in refined} <= set(TEACHERS)
        stage2 = json.loads(
            (project.artifacts / "stages" / "stage2" / "run_config.json").read_text()
        )
        assert stage2["n_examples"] == 8 and stage2["init_adapter"].endswith("stage1/adapter")
        data = (project.artifacts / "stages" / "stage2" / "train_data.jsonl").read_text()
        assert "add the two numbers." in data
        for stage in (1, 2, 3):
            assert (project.artifacts / "stages" / f"stage{stage}" / "adapter").is_dir()
        assert not project.scalar("SELECT COUNT(*) FROM eval_results")  # --no-eval

        started = time.monotonic()
        assert _cli(str(project.root), *FLAGS, "--quiet") == 0
        second_s = time.monotonic() - started
        assert _kinds(project) == [*kinds, ("pipeline", "finished")]
        assert server.stats()["requests"] == requests
        last = jobs.get_job(project, project.scalar("SELECT MAX(id) FROM jobs"))
        assert {s["status"] for s in last["progress"]["steps"]} == {"skipped"}
        assert len(last["progress"]["steps"]) == 7  # label, select, 3 stages, answers, refine

        # `twt refine` without the student's answers runs the student first (a child job);
        # greedy answers come out the same, so every rewrite is a cache hit.
        answers = project.rows("SELECT query_id, output FROM student_outputs ORDER BY query_id")
        with project.transaction() as conn:
            conn.execute("DELETE FROM student_outputs")
            conn.execute("DELETE FROM refinements")
        assert _refine_cli(str(project.root), "--max-new-tokens", "4", "--quiet") == 0
        assert _kinds(project)[-2:] == [("refine", "finished"), ("infer", "finished")]
        assert project.rows("SELECT query_id, output FROM student_outputs ORDER BY query_id") == (
            answers
        )
        again = project.rows("SELECT * FROM refinements WHERE status='ok'")
        assert [_content(r) for r in again] == [_content(r) for r in refined]
        assert server.stats()["requests"] == requests
    print(f"first run {first_s:.1f} s, second run {second_s:.1f} s")


@pytest.mark.slow
def test_pipeline_on_smollm2_with_evaluation(project, smollm2_dir, minilm_dir) -> None:
    """Stages 1-3 with teacher-guided compression on the real SmolLM2-135M, then every stage
    evaluated on the test split."""
    with FakeOpenAIServer(responder=responder) as server:
        _setup(project, server, smollm2_dir, minilm_dir)
        started = time.monotonic()
        flags = ("--max-steps", "2", "--batch-size", "2", "--max-length", "256",
                 "--max-new-tokens", "16", "--limit", "2")  # fmt: skip
        assert _cli(str(project.root), *flags, "--quiet") == 0, _logs(project)
        elapsed = time.monotonic() - started
        kinds = _kinds(project)
        assert [k for k, _ in kinds] == [
            "pipeline", "generate", "select", "train", "infer", "refine", "train", "train",
            "eval", "eval", "eval", "eval",
        ]  # fmt: skip
        assert {status for _, status in kinds} == {"finished"}
        answers = project.rows("SELECT output, tokens FROM student_outputs WHERE stage=1")
        assert len(answers) == 4 and all(0 < a["tokens"] <= 16 for a in answers)
        rewrites = project.rows("SELECT student_output, tokens_original, tokens_refined "
                                "FROM refinements WHERE status='ok'")  # fmt: skip
        assert len(rewrites) == 8
        assert {r["student_output"] for r in rewrites} <= {a["output"] for a in answers}
        assert all(0 < r["tokens_refined"] < r["tokens_original"] for r in rewrites)
        methods = project.rows("SELECT method, COUNT(*) AS n, AVG(tokens) AS t FROM eval_results"
                               " GROUP BY method")  # fmt: skip
        assert {r["method"]: r["n"] for r in methods} == {f"stage{s}": 2 for s in range(4)}
        requests = server.stats()["requests"]
        assert _cli(str(project.root), *flags, "--quiet") == 0
        assert len(_kinds(project)) == len(kinds) + 1 and server.stats()["requests"] == requests
    print(f"SmolLM2 pipeline: {elapsed:.1f} s")


def test_cancel_stops_the_running_step(project, tiny_model_dir, minilm_dir) -> None:
    # the server holds every request: labelling is surely running when the cancel comes
    with FakeOpenAIServer(responder=responder, hold_after=0) as server:
        _setup(project, server, tiny_model_dir, minilm_dir)
        job_id = jobs.create_job(project, "pipeline", {"n_stages": 3})
        process = jobs.start_detached(project, job_id)
        started = lambda: server.held > 0 or process.poll() is not None  # noqa: E731
        wait_until(started, 600)  # an event (or a failed run), not a deadline
        assert server.held > 0, _logs(project)
        assert jobs.cancel(project, job_id) == "cancelled"
        process.wait(timeout=60)
    assert _kinds(project) == [("pipeline", "cancelled"), ("generate", "cancelled")]


def test_four_stage_plan_has_a_second_compression_round(project) -> None:
    from twt_backend.pipeline import Options, build_steps

    seed_queries(project, 1, split="test")
    names = [step.name for step in build_steps(project, Options(n_stages=4))]
    assert names == [
        "labelling", "selection", "train stage 1",
        "student answers stage 1", "refinement round 1", "train stage 2",
        "student answers stage 2", "refinement round 2", "train stage 3",
        "train stage 4", *[f"eval stage {s}" for s in range(5)],
    ]  # fmt: skip
    assert [s.name for s in build_steps(project, Options(evaluate=False))][-1] == "train stage 3"


def test_bad_options_are_refused(project) -> None:
    from twt_backend.errors import UsageError

    with pytest.raises(UsageError, match="no train queries"):
        _cli(str(project.root))
    with pytest.raises(UsageError, match="nproc"):
        _cli(str(project.root), "--nproc", "0")
    assert _kinds(project) == []


def _logs(project: Project) -> str:
    texts = []
    for path in sorted((project.artifacts / "jobs").glob("*/*.log")):
        texts.append(f"--- {path}\n{path.read_text(errors='replace')[-3000:]}")
    for path in sorted((project.artifacts / "stages").glob("*/train.log")):
        texts.append(f"--- {path}\n{path.read_text(errors='replace')[-3000:]}")
    return "\n".join(texts)
