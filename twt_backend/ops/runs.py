"""Named runs: make or reopen a run's store with its settings, and list the runs.

A run's settings: ``{"pipeline": PipelineOptions as a dict, "selection": SelectionConfig
overrides, "teachers": [names] or []}`` (every enabled teacher when empty). The settings
that decide what a run is (see `DEFINING`) are fixed when the run is made: running it
again with other ones is refused, so one name always means one experiment; the others
(processes, evaluation limit, engine) may change from one invocation to the next.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from twt_backend.config import SelectionConfig
from twt_backend.errors import UsageError
from twt_backend.settings import load_config, save_config, with_overrides
from twt_backend.store import Project
from twt_backend.store import variants as store

MAIN = store.MAIN  # the project's own run
list_runs = store.list_runs
open_run = store.open_run

DEFINING = ("n_stages", "skip_stages", "student", "training", "lora", "refine")


def run_settings(
    pipeline: dict[str, Any], selection: dict[str, Any], teachers: list[str]
) -> dict[str, Any]:
    return {
        "pipeline": pipeline,
        "selection": {k: v for k, v in selection.items() if v is not None},
        "teachers": sorted(teachers),
    }


def _defining(settings: dict[str, Any]) -> dict[str, Any]:
    pipeline = settings.get("pipeline", {})
    return {
        "pipeline": {k: pipeline.get(k) for k in DEFINING},
        "selection": settings.get("selection", {}),
        "teachers": settings.get("teachers", []),
    }


def prepare_run(project: Project, name: str, settings: dict[str, Any]) -> Project:
    """The open store of run `name`: made and seeded when new, refreshed when not."""
    store.check_name(name)
    if name == store.MAIN:
        raise UsageError("--name main is the project itself: leave --name out")
    known = store.get_run(project, name)
    if known is not None:
        _check_same(name, known["settings"], settings)
        run = store.open_run(project, name)
        store.sync_run(project, run)
        return run
    selection = with_overrides(load_config(project, SelectionConfig), settings["selection"])
    _check_teachers(project, settings["teachers"])
    run = store.create_run(project, name, settings)
    try:
        save_config(run, selection)
    except BaseException:
        run.close()
        store.forget_run(project, name)
        raise
    return run


def open_named_run(
    project: Project,
    name: str,
    options: dict[str, Any],
    *,
    strategy: str | None = None,
    threshold: float | None = None,
    teachers: Sequence[str] = (),
) -> Project:
    """The open store of run `name` for these pipeline options (`pipeline.Options` fields),
    selection strategy/threshold and teachers (`twt run --name`, the app's "New run"):
    made and seeded when new, refused when it exists with other defining settings."""
    from twt_backend.ops.pipeline import pipeline_config

    settings = run_settings(
        pipeline_config(named_options(options)),
        selection_overrides(strategy, threshold),
        list(teachers),
    )
    return prepare_run(project, name, settings)


def named_options(options: dict[str, Any]) -> dict[str, Any]:
    """A named run's pipeline options: it shares the project's labels, never labels."""
    return {**options, "label": False}


@dataclasses.dataclass(frozen=True)
class NamedRunStarted:
    name: str
    root: Path  # the run's own folder (its store)
    job_id: int  # the pipeline job, in the run's store
    resumed: bool


def start_named_run(
    project_dir: str | Path,
    name: str,
    options: dict[str, Any],
    *,
    strategy: str | None = None,
    threshold: float | None = None,
    teachers: Sequence[str] = (),
    restart: bool = False,
) -> NamedRunStarted:
    """Make (or reopen) run `name` and start its pipeline detached (the app). Opens its
    own connections, so it may run on a worker thread: seeding a new run's store copies
    the project's labels and may take a moment. UsageError before any job exists."""
    from twt_backend.ops.pipeline import start_pipeline

    with (
        Project.open(project_dir) as project,
        open_named_run(
            project, name, options, strategy=strategy, threshold=threshold, teachers=teachers
        ) as run,
    ):
        started = start_pipeline(run, named_options(options), restart=restart, detach=True)
        return NamedRunStarted(name, run.root, started.job_id, started.resumed)


def run_choices() -> dict[str, tuple[Any, ...]]:
    """What a run's settings may be, for a front end's choosers: selection strategies,
    refinement methods, numbers of stages."""
    from twt_backend.config import RefineConfig, field_specs

    def choices(cls: type, name: str) -> tuple[Any, ...]:
        return next(tuple(f.choices or ()) for f in field_specs(cls) if f.name == name)

    return {
        "strategy": choices(SelectionConfig, "strategy"),
        "refine_method": choices(RefineConfig, "method"),
        "n_stages": (3, 4),
    }


def _check_same(name: str, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
    before, after = _defining(stored), _defining(wanted)
    if before == after:
        return
    changed = [
        f"{group}.{key}"
        for group in before
        for key in sorted(set(_keys(before[group])) | set(_keys(after[group])))
        if _get(before[group], key) != _get(after[group], key)
    ]
    raise UsageError(
        f"run {name!r} was made with other settings ({', '.join(changed) or 'teachers'}); "
        "repeat its settings to resume it, or give the new experiment another --name"
    )


def _keys(value: Any) -> list[str]:
    return list(value) if isinstance(value, dict) else [""]


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else value


def _check_teachers(project: Project, names: list[str]) -> None:
    rows = project.rows("SELECT name FROM teachers")
    unknown = sorted(set(names) - {r["name"] for r in rows})
    if unknown:
        raise UsageError(f"--teacher: no teacher named {', '.join(unknown)} in {project.root}")
    labelled = project.scalar(
        "SELECT COUNT(*) FROM generations g JOIN teachers t ON t.id = g.teacher_id "
        "WHERE g.purpose = 'label' AND g.status = 'ok'"
        + (f" AND t.name IN ({','.join('?' * len(names))})" if names else ""),
        tuple(names),
    )
    if not labelled:
        raise UsageError(
            f"{project.root}: no label answers to share with a run yet; label first "
            f"(`twt run {project.root}` or `twt generate {project.root}`)"
        )


def runs_summary(project: Project) -> list[dict[str, Any]]:
    """Every run of the project: name, folder, settings, trained stages, evaluated methods."""
    from twt_backend.artifacts import MAX_STAGES, stage_finished

    summary = []
    for row in store.list_runs(project):
        root = store.run_root(project, row["name"])
        entry = {
            "name": row["name"],
            "path": str(root),
            "settings": row["settings"],
            "created_at": row["created_at"],
            "trained_stages": [s for s in range(1, MAX_STAGES + 1) if stage_finished(root, s)],
            "evaluated": [],
        }
        if (root / "project.sqlite").is_file():
            with Project.open(root, readonly=True) as run:
                entry["evaluated"] = [
                    r["method"]
                    for r in run.rows("SELECT DISTINCT method FROM eval_results ORDER BY method")
                ]
        summary.append(entry)
    return summary


def selection_overrides(strategy: str | None, threshold: float | None) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(SelectionConfig)}
    overrides = {"strategy": strategy, "threshold": threshold}
    return {k: v for k, v in overrides.items() if k in names and v is not None}


def parse_runs(value: str | None) -> list[str]:
    """`--runs a,b` as names (main when not given)."""
    names = [n.strip() for n in (value or store.MAIN).split(",") if n.strip()]
    if not names:
        raise UsageError("--runs: name at least one run")
    return [store.check_name(n) for n in dict.fromkeys(names)]


def open_runs(project: Project, names: list[str]) -> Iterator[tuple[str, Project]]:
    """Each named run's store, opened read-only (UsageError on an unknown name first)."""
    for name in names:
        if name != store.MAIN and store.get_run(project, name) is None:
            store.open_run(project, name)  # raises the message that lists the runs
    for name in names:
        yield name, store.open_run(project, name, readonly=True)
