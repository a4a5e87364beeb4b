"""The demo project runs the whole pipeline with no key and no GPU: replay teachers,
DCRS, three stages with fixed-length refinement between them, and evaluation."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import pytest

from twt_backend import demo, jobs
from twt_backend.config import RefineConfig, SelectionConfig, TrainingConfig
from twt_backend.settings import load_config, save_config
from twt_backend.store import Project


def _logs(project: Project) -> str:
    texts = []
    for path in sorted(project.artifacts.rglob("*.log")):
        texts.append(f"--- {path}\n{path.read_text(errors='replace')[-2000:]}")
    return "\n".join(texts)


def test_demo_is_configured_for_a_keyless_cpu_run(tmp_path: Path) -> None:
    root = demo.ensure_demo_project(tmp_path / "demo", "choice")
    with Project.open(root) as project:
        teachers = project.rows("SELECT name, provider, model, enabled FROM teachers ORDER BY id")
        assert [(t["name"], t["provider"], t["enabled"]) for t in teachers] == [
            ("gpt-4", "replay", 1),
            ("gpt-4o-mini", "replay", 1),
            ("mistral-large", "replay", 1),
            ("smollm2-local", "local", 0),
        ]
        for teacher in teachers[:3]:
            relative = teacher["model"].split("#")[0]
            assert not Path(relative).is_absolute()
            records = [json.loads(line) for line in (root / relative).read_text().splitlines()]
            assert records and len({r["id"] for r in records}) == len(records)
        training = load_config(project, TrainingConfig)
        assert training.student == demo.STUDENT
        assert 0 < training.max_steps <= 20 and training.batch_size <= 4
        assert training.max_length <= 256 and training.eval_size == 0
        assert load_config(project, RefineConfig).method == "fixed-length"
        assert load_config(project, SelectionConfig).threshold == 0.9
        save_config(project, SelectionConfig(threshold=0.8))  # the user's edit
        (root / demo.persona_path("gpt-4")).unlink()
    assert demo.ensure_demo_project(root, "choice") == root
    with Project.open(root) as project:
        assert load_config(project, SelectionConfig).threshold == 0.8  # kept
        assert project.scalar("SELECT COUNT(*) FROM teachers") == 4
    assert (root / demo.persona_path("gpt-4")).is_file()  # restored


@pytest.mark.slow
def test_demo_pipeline_end_to_end(tmp_path: Path, tiny_model_dir: Path) -> None:
    from twt_backend.cli.follow import run_foreground
    from twt_backend.evaluation.report import comparison
    from twt_backend.hard.steps import eval_config
    from twt_backend.pipeline import Options

    source = demo.ensure_demo_project(tmp_path / "demo", "math")
    root = tmp_path / "copy"  # a copy: replay paths are relative to the project
    shutil.copytree(source, root)
    started = time.monotonic()
    with Project.open(root) as project:
        options = Options(  # the demo's settings, with the tiny model and short runs for speed
            student=str(tiny_model_dir),
            training={"max_steps": 2},
            generation={"max_new_tokens": 12},
            limit=3,
            evaluate=False,  # stage 3 only, below: each evaluation is a worker of its own
        )
        job_id = jobs.create_job(project, "pipeline", dataclasses.asdict(options), "demo")
        assert run_foreground(project, job_id, quiet=True) == 0, _logs(project)
        eval_id = jobs.create_job(project, "eval", eval_config(project, options, 3), "eval 3")
        assert run_foreground(project, eval_id, quiet=True) == 0, _logs(project)
        elapsed = time.monotonic() - started
        kinds = [r["kind"] for r in project.rows("SELECT kind FROM jobs ORDER BY id")]
        assert kinds == ["pipeline", "generate", "select", "train", "infer", "refine", "train",
                         "train", "eval"]  # fmt: skip
        assert project.scalar("SELECT COUNT(*) FROM jobs WHERE status != 'finished'") == 0

        labels = project.rows(
            "SELECT t.name, COUNT(*) AS n FROM generations g JOIN teachers t ON t.id=g.teacher_id"
            " WHERE g.status='ok' AND g.parse_status='ok' GROUP BY t.name ORDER BY t.name"
        )
        assert {r["name"]: r["n"] for r in labels} == {
            "gpt-4": 20,
            "gpt-4o-mini": 24,
            "mistral-large": 20,
        }
        selected = project.scalar("SELECT COUNT(*) FROM selections WHERE selected=1")
        rejected = project.scalar("SELECT COUNT(*) FROM selections WHERE selected=0")
        assert 24 <= selected < 64 and rejected > 0
        diverse = project.scalar("SELECT COUNT(*) FROM selections WHERE similarity IS NOT NULL")
        assert diverse >= 2  # the diversity step kept a least-similar pair somewhere

        assert project.scalar("SELECT COUNT(*) FROM student_outputs WHERE stage=1") == 24
        refined = project.rows("SELECT * FROM refinements WHERE round=1")
        assert len(refined) == selected
        assert {r["method"] for r in refined} == {"fixed-length"}
        assert all(r["status"] == "ok" and 0 < r["tokens_refined"] <= 32 for r in refined)
        assert any(r["tokens_refined"] < r["tokens_original"] for r in refined)
        for stage in (1, 2, 3):
            folder = project.artifacts / "stages" / f"stage{stage}"
            assert (folder / "adapter").is_dir()
        data = (project.artifacts / "stages" / "stage2" / "train_data.jsonl").read_text()
        targets = [json.loads(line)["target"] for line in data.splitlines()]
        assert len(targets) == selected
        assert sum(r["refined_text"].strip() in "\n".join(targets) for r in refined) == selected
        assert project.scalar("SELECT COUNT(*) FROM metrics WHERE name='loss'") >= 3 * 2

        per_stage = project.rows(
            "SELECT method, COUNT(*) AS n FROM eval_results GROUP BY method ORDER BY method"
        )
        assert {r["method"]: r["n"] for r in per_stage} == {"stage3": 3}
        rows = comparison(project)
        assert [(r["method"], r["n"]) for r in rows] == [("stage3", 3)]
        assert rows[0]["mean_output_tokens"] <= 12
        steps = ", ".join(f"{j['kind']} {_seconds(j):.0f}" for j in jobs.list_jobs(project)[1:])
    print(f"demo pipeline on the tiny student: {elapsed:.1f} s ({steps})")


def _seconds(job: dict) -> float:
    from datetime import datetime

    started, finished = (datetime.fromisoformat(job[k]) for k in ("started_at", "finished_at"))
    return (finished - started).total_seconds()
