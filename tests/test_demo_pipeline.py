"""The demo project runs the whole pipeline with no key and no GPU: replay teachers,
DCRS, three stages under one prompt with replayed compressions before stage 2, live
validation on the validation split, and evaluation; `twt demo` creates it."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import pytest

from twt_backend import demo, jobs
from twt_backend.config import GenerationConfig, RefineConfig, SelectionConfig, TrainingConfig
from twt_backend.settings import load_config, save_config
from twt_backend.store import Project


def _logs(project: Project) -> str:
    texts = []
    for path in sorted(project.artifacts.rglob("*.log")):
        texts.append(f"--- {path}\n{path.read_text(errors='replace')[-2000:]}")
    return "\n".join(texts)


def test_demo_is_configured_for_a_keyless_cpu_run(tmp_path: Path) -> None:
    root = demo.ensure_demo_project(tmp_path / "demo")
    with Project.open(root) as project:
        assert project.task == "math"
        teachers = project.rows("SELECT name, provider, model, enabled FROM teachers ORDER BY id")
        assert [(t["name"], t["provider"], t["enabled"]) for t in teachers] == [
            ("gpt-4", "replay", 1),
            ("gpt-4o-mini", "replay", 1),
            ("mistral-large", "replay", 1),
            ("compressor", "replay", 0),
            ("smollm2-local", "local", 0),
        ]
        for teacher in teachers[:4]:
            relative = teacher["model"].split("#")[0]
            assert not Path(relative).is_absolute()
            records = [json.loads(line) for line in (root / relative).read_text().splitlines()]
            assert len(records) == 240 and len({r["id"] for r in records}) == 240
        training = load_config(project, TrainingConfig)
        assert training.student == demo.STUDENT and training.prompt_mode == "shared"
        assert 0 < training.eval_steps < training.max_steps and training.eval_size > 0
        assert load_config(project, RefineConfig) == RefineConfig(
            method="compressor", teacher="compressor"
        )
        assert load_config(project, SelectionConfig).threshold == 0.95
        assert load_config(project, GenerationConfig).max_new_tokens == demo.DEMO_MAX_NEW_TOKENS
        save_config(project, SelectionConfig(threshold=0.8))  # the user's edit
        (root / demo.persona_path("gpt-4")).unlink()
    assert demo.ensure_demo_project(root) == root
    with Project.open(root) as project:
        assert load_config(project, SelectionConfig).threshold == 0.8  # kept
        assert project.scalar("SELECT COUNT(*) FROM teachers") == 5
        assert project.scalar("SELECT COUNT(*) FROM queries") == 320  # not imported twice
    assert (root / demo.persona_path("gpt-4")).is_file()  # restored


def test_twt_demo_creates_the_apps_demo(tmp_path: Path, monkeypatch, capsys) -> None:
    from twt_backend.cli import main

    monkeypatch.setenv("TWT_DATA_HOME", str(tmp_path / "home"))
    assert main(["demo"]) == 0
    assert str(demo.demo_root()) in capsys.readouterr().out
    assert main(["demo", str(tmp_path / "mine"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["queries"] == {"test": 64, "train": 240, "validation": 16}
    with Project.open(tmp_path / "mine") as mine, Project.open(demo.demo_root()) as app:
        for cls in (SelectionConfig, TrainingConfig, GenerationConfig, RefineConfig):
            assert dataclasses.asdict(load_config(mine, cls)) == dataclasses.asdict(
                load_config(app, cls)
            )
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["demo", str(tmp_path / "busy")]) == 2
    assert "other files" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_pipeline_end_to_end(tmp_path: Path, tiny_model_dir: Path) -> None:
    """The demo's own pipeline (its settings, reduced: the tiny student, two steps a stage,
    short answers) runs every step with no key: replay labels, DCRS, three stages under one
    prompt with replayed compressions before stage 2, live validation on the validation
    split, evaluation."""
    from twt_backend.cli.follow import run_foreground
    from twt_backend.evaluation.report import comparison
    from twt_backend.hard.steps import eval_config
    from twt_backend.pipeline import Options

    source = demo.ensure_demo_project(tmp_path / "demo")
    root = tmp_path / "copy"  # a copy: replay paths are relative to the project
    shutil.copytree(source, root)
    started = time.monotonic()
    with Project.open(root) as project:
        options = Options(  # the demo's settings, with the tiny model and short runs for speed
            student=str(tiny_model_dir),
            training={"max_steps": 2, "eval_max_new_tokens": 8},
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
        # no student answers step: the compressor rewrites without looking at the student
        assert kinds == ["pipeline", "generate", "select", "train", "refine", "train", "train",
                         "eval"]  # fmt: skip
        assert project.scalar("SELECT COUNT(*) FROM jobs WHERE status != 'finished'") == 0

        labels = project.rows(
            "SELECT t.name, COUNT(*) AS n FROM generations g JOIN teachers t ON t.id=g.teacher_id"
            " WHERE g.purpose='label' AND g.status='ok' AND g.parse_status='ok' GROUP BY t.name"
        )
        assert {r["name"]: r["n"] for r in labels} == dict.fromkeys(demo.PERSONAS, 240)
        selected = project.scalar("SELECT COUNT(*) FROM selections WHERE selected=1")
        low = project.scalar("SELECT COUNT(*) FROM selections WHERE reason='low_confidence'")
        diverse = project.scalar("SELECT COUNT(*) FROM selections WHERE reason='diverse_pair'")
        assert 240 < selected < 720 and low > 0 and diverse > 0

        refined = project.rows("SELECT * FROM refinements WHERE round=1")
        assert len(refined) == selected
        assert {(r["method"], r["status"]) for r in refined} == {("compressor", "ok")}
        # never longer; mostly shorter (the terse persona's two equations are nearly the
        # compressed rationale already)
        assert all(r["tokens_refined"] <= r["tokens_original"] for r in refined)
        assert sum(r["tokens_refined"] < r["tokens_original"] for r in refined) > len(refined) / 2
        prompts: dict[int, dict[int, str]] = {}
        for stage in (1, 2, 3):
            folder = project.artifacts / "stages" / f"stage{stage}"
            assert (folder / "adapter").is_dir()
            config = json.loads((folder / "run_config.json").read_text())
            assert config["n_validation_queries"] == 16  # the validation split...
            assert config["n_train_examples"] == config["n_examples"] == selected  # ...no hold-out
            rows = [json.loads(line) for line in (folder / "train_data.jsonl").open()]
            prompts[stage] = {row["query_id"]: row["prompt"] for row in rows}
            if stage == 2:
                targets = "\n".join(row["target"] for row in rows)
                assert all(r["refined_text"] in targets for r in refined)
        assert prompts[1] == prompts[2] == prompts[3]  # one prompt, only the target changes
        live = project.rows(
            "SELECT j.config, COUNT(*) AS n FROM metrics m JOIN jobs j ON j.id = m.job_id"
            " WHERE m.name = 'eval_accuracy' GROUP BY m.job_id"
        )
        assert sorted(json.loads(r["config"])["stage"] for r in live) == [1, 2, 3]

        rows = comparison(project)  # 3 queries: too few for a math task's majority row
        assert [(r["method"], r["n"], r["prompt_mode"]) for r in rows] == [("stage3", 3, "shared")]
        assert rows[0]["mean_output_tokens"] <= 12
        assert rows[0]["ci_low"] <= rows[0]["accuracy"] <= rows[0]["ci_high"]
        steps = ", ".join(f"{j['kind']} {_seconds(j):.0f}" for j in jobs.list_jobs(project)[1:])
    print(f"demo pipeline on the tiny student: {elapsed:.1f} s ({steps})")


def _seconds(job: dict) -> float:
    from datetime import datetime

    started, finished = (datetime.fromisoformat(job[k]) for k in ("started_at", "finished_at"))
    return (finished - started).total_seconds()
