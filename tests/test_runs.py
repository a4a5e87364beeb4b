"""Named runs (variants) of one project and the paper's ablations from the CLI: a run
without the compression stage, a single-teacher run, teacher rows, reports across runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAIServer, add_teacher, seed_queries, setup_pipeline_project
from gui_helpers import add_eval_rows

from twt_backend.cli import main
from twt_backend.errors import UsageError
from twt_backend.selection.samples import effective_samples
from twt_backend.store import Project, variants

TEACHERS = ("gpt", "mis", "lla")


def responder(messages: list[dict[str, Any]], model: str) -> str:
    user = str(messages[-1]["content"])
    n = int(re.search(r"\(item (\d+)\)", user).group(1))  # type: ignore[union-attr]
    answer = 2 * n + 1 if model == "lla" and n >= 100 else 2 * n  # lla errs on the test split
    style = {"gpt": "First add", "mis": "We double", "lla": "Sum of"}[model]
    return f"Reasoning: {style} {n} and {n} to get {answer}.\nAnswer: {answer}\nscore: 0.97"


def _setup(project: Project, server: FakeOpenAIServer, tiny: Path, minilm: Path) -> None:
    setup_pipeline_project(project, server, tiny, minilm, TEACHERS)


def _jobs(store: Project) -> list[tuple[str, str]]:
    return [(r["kind"], r["status"]) for r in store.rows("SELECT * FROM jobs ORDER BY id")]


def _logs(root: Path) -> str:
    return "\n".join(p.read_text() for p in root.rglob("worker.log"))


FLAGS = ("--max-steps", "2", "--batch-size", "2", "--max-length", "320", "--max-new-tokens", "4",
         "--limit", "2", "--skip-stage", "2", "--quiet")  # fmt: skip


def test_no_compression_plan_trains_stage_3_from_stage_1(project) -> None:
    from twt_backend.hard.steps import train_config
    from twt_backend.pipeline import Options, build_steps, options_from

    seed_queries(project, 1, split="test")
    options = Options(skip_stages=[2])
    names = [step.name for step in build_steps(project, options)]
    assert names == ["labelling", "selection", "train stage 1", "train stage 3",
                     "eval stage 0", "eval stage 1", "eval stage 3"]  # fmt: skip
    assert train_config(project, options, 3)["init_from"] == 1
    assert "init_from" not in train_config(project, Options(), 3)  # as it always was
    four = Options(n_stages=4, skip_stages=[3])
    assert train_config(project, four, 4)["init_from"] == 2
    assert "labelling" not in [s.name for s in build_steps(project, Options(label=False))]
    for bad in ({"skip_stages": [1]}, {"skip_stages": [3]}, {"n_stages": 4, "skip_stages": [2]}):
        with pytest.raises(UsageError):
            options_from(bad)


def test_main_run_is_recorded_for_every_project(project) -> None:
    (main_run,) = variants.list_runs(project)
    assert main_run["name"] == "main" and Path(main_run["path"]) == project.root.resolve()


def test_named_runs_share_labels_and_keep_their_own_outputs(
    project, tiny_model_dir, minilm_dir, capsys
) -> None:
    root = project.root
    with FakeOpenAIServer(responder=responder) as server:
        _setup(project, server, tiny_model_dir, minilm_dir)
        assert main(["generate", str(root), "--quiet"]) == 0
        assert main(["eval", str(root), "--teacher", "gpt"]) == 0
        assert main(["eval", str(root), "--teacher", "lla"]) == 0
        assert "teacher:lla: 0/2 correct" in capsys.readouterr().out
        requests = server.stats()["requests"]
        assert requests == 12 + 4  # train labels, then two teachers on the test split

        assert main(["run", str(root), "--name", "nocomp", *FLAGS]) == 0, _logs(root)
        assert main(["run", str(root), "--name", "single", "--teacher", "gpt",
                     "--strategy", "quality", *FLAGS]) == 0, _logs(root)  # fmt: skip
        assert server.stats()["requests"] == requests  # the runs asked no teacher again

    nocomp, single = (variants.run_root(project, n) for n in ("nocomp", "single"))
    assert not (root / "artifacts" / "stages").exists()  # main trained nothing
    for run_root in (nocomp, single):
        stages = run_root / "artifacts" / "stages"
        assert sorted(p.name for p in stages.iterdir()) == ["stage1", "stage3"]
        stage3 = json.loads((stages / "stage3" / "run_config.json").read_text())
        assert stage3["init_adapter"] == str(stages / "stage1" / "adapter")
    with Project.open(nocomp) as run_a, Project.open(single) as run_b:
        label_sql = "SELECT id, teacher_id, raw_text FROM generations WHERE purpose='label'"
        assert run_a.rows(label_sql) == project.rows(label_sql)  # every teacher's labels
        gpt = project.scalar("SELECT id FROM teachers WHERE name='gpt'")
        assert run_b.rows(label_sql) == [r for r in run_a.rows(label_sql) if r["teacher_id"] == gpt]
        assert [k for k, _ in _jobs(run_a)] == ["pipeline", "select", "train", "train",
                                                "eval", "eval", "eval"]  # fmt: skip
        assert {s["teacher"] for s in effective_samples(run_b)} == {"gpt"}
        assert len({s["teacher"] for s in effective_samples(run_a)}) == 2  # DCRS pairs
        for run in (run_a, run_b):
            methods = {r["method"] for r in run.rows("SELECT method FROM eval_results")}
            assert methods == {"teacher:gpt", "teacher:lla", "stage0", "stage1", "stage3"}
    assert {r["method"] for r in project.rows("SELECT method FROM eval_results")} == {
        "teacher:gpt",
        "teacher:lla",
    }

    assert main(["report", str(root), "--runs", "nocomp,single", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted((r["run"], r["method"]) for r in rows) == sorted(
        (run, m)
        for run in ("nocomp", "single")
        for m in ("teacher:gpt", "teacher:lla", "stage0", "stage1", "stage3")
    )
    teacher = {r["method"]: r for r in rows if r["run"] == "single" and r["kind"] == "teacher"}
    assert teacher["teacher:gpt"]["accuracy"] == 1.0 and teacher["teacher:lla"]["accuracy"] == 0
    assert {r["project"] for r in rows} == {str(root)}

    assert main(["variants", str(root), "--json"]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"main", "nocomp", "single"}
    assert listed["single"]["settings"]["teachers"] == ["gpt"]
    assert listed["nocomp"]["trained_stages"] == [1, 3]

    # the same command resumes (nothing left to do); other settings under one name: refused
    with Project.open(nocomp) as run_a:
        before = _jobs(run_a)
    assert main(["run", str(root), "--name", "nocomp", *FLAGS]) == 0
    assert main(["run", str(root), "--name", "nocomp", "--strategy", "quality", *FLAGS]) == 2
    assert "selection.strategy" in capsys.readouterr().err
    with Project.open(nocomp) as run_a:
        assert _jobs(run_a) == [*before, ("pipeline", "finished")]


def test_a_refused_run_leaves_the_project_as_it_was(project, capsys) -> None:
    seed_queries(project, 2)
    add_teacher(project, "gpt", base_url="http://127.0.0.1:9/v1")
    assert main(["run", str(project.root), "--name", "x", "--quiet"]) == 2
    assert "label first" in capsys.readouterr().err
    assert main(["run", str(project.root), "--name", "bad name", "--quiet"]) == 2
    assert main(["run", str(project.root), "--strategy", "quality", "--quiet"]) == 2
    assert "add --name" in capsys.readouterr().err
    assert [r["name"] for r in variants.list_runs(project)] == ["main"]
    assert not (project.root / "artifacts" / "runs").exists()
    assert main(["eval", str(project.root), "--teacher", "nope"]) == 2
    assert "no teacher named nope" in capsys.readouterr().err
    assert main(["eval", str(project.root), "--teacher", "gpt", "--prompt-mode", "answer"]) == 2
    assert "--prompt-mode apply to a student" in capsys.readouterr().err
    assert project.scalar("SELECT COUNT(*) FROM jobs") == 0
    assert main(["report", str(project.root), "--runs", "nope", "--json"]) == 2
    assert "no run named 'nope'" in capsys.readouterr().err


ABLATIONS = {  # the paper's table: the run's CLI settings
    "four-stage": ["--stages", "4"],  # Table 3
    "single": ["--teacher", "gpt"],  # Table 4
    "quality": ["--strategy", "quality"],  # Table 5
    "diversity": ["--strategy", "dcrs", "--threshold", "0"],  # Table 5
    "truncate": ["--refine-method", "fixed-length"],  # Table 6
    "no-compression": ["--skip-stage", "2"],  # Table 7
}


def test_every_ablation_is_a_named_run_with_its_own_plan(tmp_path) -> None:
    from gui_helpers import add_labels, add_queries

    from twt_backend.cli import build_parser
    from twt_backend.cli.pipeline_cmds import pipeline_options
    from twt_backend.hard import steps
    from twt_backend.ops import pipeline as ops_pipeline
    from twt_backend.ops import runs
    from twt_backend.pipeline import build_steps, options_from

    project = Project.create(tmp_path / "p", "math")
    add_queries(project, 5)
    add_labels(project, ["gpt", "mis", "lla"], with_selection=False)
    plans, stores = {}, {}
    for name, flags in ABLATIONS.items():
        args = build_parser().parse_args(["run", str(project.root), "--name", name, *flags])
        config = ops_pipeline.pipeline_config(pipeline_options(args))
        settings = runs.run_settings(
            config, runs.selection_overrides(args.strategy, args.threshold), args.teacher
        )
        with runs.prepare_run(project, name, settings) as run:
            options = options_from(config)
            plans[name] = [s.name for s in build_steps(run, options)]
            stores[name] = {
                "selection": steps.selection_config(run),
                "refine": steps.refine_config(run, options, 1)["method"],
                "teachers": sorted(
                    r["name"]
                    for r in run.rows(
                        "SELECT DISTINCT t.name FROM generations g JOIN teachers t "
                        "ON t.id = g.teacher_id"
                    )
                ),
            }
    project.close()
    trained = {n: [s for s in p if s.startswith("train")] for n, p in plans.items()}
    assert trained["four-stage"] == [f"train stage {s}" for s in (1, 2, 3, 4)]
    assert "refinement round 2" in plans["four-stage"]
    assert trained["no-compression"] == ["train stage 1", "train stage 3"]
    assert not any(s.startswith("refinement") for s in plans["no-compression"])
    assert trained["quality"] == ["train stage 1", "train stage 2", "train stage 3"]
    assert all("labelling" not in p for p in plans.values())  # the labels are shared
    assert stores["single"]["teachers"] == ["gpt"]
    assert stores["quality"]["teachers"] == ["gpt", "lla", "mis"]
    assert stores["quality"]["selection"]["strategy"] == "quality"
    assert (stores["diversity"]["selection"]["strategy"],
            stores["diversity"]["selection"]["threshold"]) == ("dcrs", 0.0)  # fmt: skip
    assert stores["four-stage"]["selection"]["strategy"] == "dcrs"
    assert stores["truncate"]["refine"] == "fixed-length"
    assert stores["quality"]["refine"] == "teacher"


def test_report_of_two_projects_and_their_runs(tmp_path, capsys) -> None:
    roots = []
    for i, name in enumerate(("p1", "p2")):
        with Project.create(tmp_path / name, "math") as project:
            seed_queries(project, 4, split="test")
            add_eval_rows(project, "stage0", [1, 0, 0, 0], 200)
            with variants.create_run(project, "nocomp", {}) as run:
                add_eval_rows(run, "stage0", [1, 0, 0, 0], 200)
                add_eval_rows(run, "stage3", [1, 1, i, 0], 20)
            roots.append(str(project.root))
    assert main(["report", *roots, "--runs", "main,nocomp", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(Path(r["project"]).name, r["run"], r["method"]) for r in rows] == [
        ("p1", "main", "stage0"), ("p1", "nocomp", "stage0"), ("p1", "nocomp", "stage3"),
        ("p2", "main", "stage0"), ("p2", "nocomp", "stage0"), ("p2", "nocomp", "stage3"),
    ]  # fmt: skip
    stage3 = [r for r in rows if r["method"] == "stage3"]
    assert [r["accuracy"] for r in stage3] == [0.5, 0.75]
    assert [r["delta_tokens_pct"] for r in stage3] == [-90.0, -90.0]  # against stage 0
    assert main(["report", roots[0], "--runs", "nocomp"]) == 0
    out = capsys.readouterr().out
    assert "run nocomp" in out and "TwT stage 3" in out
    with Project.open(roots[0]) as first:
        assert (
            variants.run_root(first, "nocomp") / "artifacts" / "report" / "report.html"
        ).is_file()
