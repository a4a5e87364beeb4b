"""`twt teacher add/list/test` and `twt generate`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from typing import Any

from twt_backend import secrets
from twt_backend.config import TeacherConfig, finite_float, from_dict, stored_teacher, to_json
from twt_backend.errors import UsageError
from twt_backend.store import Project, utcnow

# Flags of `teacher add` come from TeacherConfig; these are positional or renamed.
_SKIP = {"name"}
_FLAG_NAMES = {"timeout_s": "timeout", "use_batch_api": "batch"}


def _flag(name: str) -> str:
    return "--" + _FLAG_NAMES.get(name, name).replace("_", "-")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    for f in dataclasses.fields(TeacherConfig):
        if f.name in _SKIP:
            continue
        help_text = f.metadata.get("help", "")
        if f.default is False:
            parser.add_argument(_flag(f.name), dest=f.name, action="store_true", help=help_text)
            continue
        kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
        parser.add_argument(
            _flag(f.name),
            dest=f.name,
            type=kind,
            choices=f.metadata.get("choices"),
            required=f.name in ("provider", "model"),
            help=help_text,
        )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    teacher = sub.add_parser("teacher", help="Add, list and test teachers.")
    actions = teacher.add_subparsers(dest="teacher_command", metavar="ACTION")
    actions.required = True

    add = actions.add_parser("add", help="Add a teacher (its key stays in the env or keyring).")
    add.add_argument("dir", help="Project folder.")
    add.add_argument("name", help="Teacher name, unique in the project.")
    _add_config_flags(add)
    add.add_argument("--replace", action="store_true", help="Replace a teacher of this name.")
    add.set_defaults(func=_add)

    listing = actions.add_parser("list", help="List the teachers of a project.")
    listing.add_argument("dir", help="Project folder.")
    listing.add_argument("--json", action="store_true", help="Print one JSON object per teacher.")
    listing.set_defaults(func=_list)

    test = actions.add_parser("test", help="Send one short request; print latency and triplet.")
    test.add_argument("dir", help="Project folder.")
    test.add_argument("name", help="Teacher name.")
    test.set_defaults(func=_test)

    gen = sub.add_parser("generate", help="Label the queries with every teacher (resumable).")
    gen.add_argument("dir", help="Project folder.")
    gen.add_argument("--teacher", action="append", dest="teachers", metavar="NAME",
                     help="Only this teacher (repeatable; default: all enabled).")  # fmt: skip
    gen.add_argument("--limit", type=int, help="Label only the first N queries.")
    gen.add_argument("--split", default="train", help="Query split to label (default: train).")
    gen.add_argument("--budget", type=finite_float, dest="budget_usd", metavar="USD",
                     help="Stop cleanly once this much has been spent in this run.")  # fmt: skip
    gen.add_argument("--quiet", action="store_true", help="No progress display.")
    gen.set_defaults(func=_generate)


# ---- teacher add / list --------------------------------------------------------------------------
def _config_from_args(args: argparse.Namespace) -> TeacherConfig:
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TeacherConfig)
        if f.name not in _SKIP and getattr(args, f.name, None) is not None
    }
    config = from_dict(TeacherConfig, {"name": args.name, **values})
    config.validate()
    return config


def _add(args: argparse.Namespace) -> int:
    config = _config_from_args(args)
    with Project.open(args.dir) as project:
        exists = project.scalar("SELECT id FROM teachers WHERE name = ?", (config.name,))
        if exists and not args.replace:
            raise UsageError(f"a teacher named {config.name!r} exists; use --replace to change it")
        with project.transaction() as conn:
            if exists:
                conn.execute(
                    "UPDATE teachers SET provider=?, model=?, config=? WHERE id=?",
                    (config.provider, config.model, to_json(config), exists),
                )
            else:
                conn.execute(
                    "INSERT INTO teachers(name, provider, model, config, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (config.name, config.provider, config.model, to_json(config), utcnow()),
                )
    print(
        f"{'replaced' if exists else 'added'} teacher {config.name} ({config.provider}: {config.model})"
    )
    return 0


def teacher_rows(project: Project) -> list[dict[str, Any]]:
    rows = project.rows(
        "SELECT t.id, t.name, t.provider, t.model, t.config, t.enabled,"
        " SUM(g.status = 'ok') AS ok, SUM(g.status = 'failed') AS failed,"
        " COALESCE(SUM(g.cost_usd), 0) AS cost_usd"
        " FROM teachers t LEFT JOIN generations g ON g.teacher_id = t.id"
        " GROUP BY t.id ORDER BY t.id"
    )
    for row in rows:
        row["config"] = dataclasses.asdict(stored_teacher(row["name"], row["config"]))
        row["ok"], row["failed"] = int(row["ok"] or 0), int(row["failed"] or 0)
    return rows


def _key_source(config: dict[str, Any]) -> str:
    return secrets.key_source(from_dict(TeacherConfig, config))


def _list(args: argparse.Namespace) -> int:
    with Project.open(args.dir, readonly=True) as project:
        rows = teacher_rows(project)
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True, allow_nan=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "provider", "model", "base url", "key", "conc.", "ok", "failed", "cost")
    for row in rows:
        cfg = row["config"]
        table.add_row(
            row["name"], row["provider"], row["model"], cfg.get("base_url") or "",
            _key_source(cfg), str(cfg.get("concurrency")), str(row["ok"]), str(row["failed"]),
            f"${row['cost_usd']:.4f}",
        )  # fmt: skip
    Console().print(table)
    return 0


# ---- teacher test --------------------------------------------------------------------------------
def _load_config(project: Project, name: str) -> TeacherConfig:
    raw = project.scalar("SELECT config FROM teachers WHERE name = ?", (name,))
    if raw is None:
        raise UsageError(f"no teacher named {name!r} in {project.root}")
    return stored_teacher(name, raw)


def _test(args: argparse.Namespace) -> int:
    from twt_backend.teachers.probe import sample_query, test_connection

    with Project.open(args.dir, readonly=True) as project:
        config = _load_config(project, args.name)
        query = sample_query(project)
        result = asyncio.run(test_connection(project.task, config, query, project.root))
    rationale = (result["rationale"] or "").replace("\n", " ")
    print(f"teacher {config.name}: ok in {result['latency_s']:.2f} s "
          f"({result['tokens_in']} tokens in, {result['tokens_out']} out)")  # fmt: skip
    print(f"rationale: {rationale[:300]}{'...' if len(rationale) > 300 else ''}")
    print(f"key: {result['key_source']}")
    print(f"answer: {result['answer']}")
    print(f"confidence: {result['confidence']}")
    print(f"parse status: {result['parse_status']}")
    return 0


# ---- generate --------------------------------------------------------------------------------------
def _check_keys(project: Project, names: list[str] | None) -> None:
    """Fail before creating a job when a key is missing (the project stays as it was)."""
    from twt_backend.generation import load_teachers

    for _, config in load_teachers(project, names):
        if config.provider in secrets.DEFAULT_KEY_ENV:
            secrets.api_key(config)


def _generate(args: argparse.Namespace) -> int:
    from twt_backend import jobs
    from twt_backend.cli.follow import run_foreground
    from twt_backend.generation import LabelOptions

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit: must be at least 1")
    if args.budget_usd is not None and args.budget_usd <= 0:
        raise UsageError("--budget: must be above 0")
    options = LabelOptions(
        teachers=args.teachers,
        limit=args.limit,
        split=args.split or None,
        budget_usd=args.budget_usd,
    )
    with Project.open(args.dir) as project:
        _refuse_concurrent_run(project, options)
        _check_keys(project, args.teachers)
        _print_estimate(project, options)
        job_id = jobs.create_job(project, "generate", dataclasses.asdict(options), name="generate")
        return run_foreground(project, job_id, quiet=args.quiet)


def _refuse_concurrent_run(project: Project, options: Any) -> None:
    """Two labelling runs at once would send the same requests twice (store/locks.py);
    say so before the estimate. `create_job` checks again, atomically."""
    from twt_backend import jobs

    jobs.check_lock(project, "generate", dataclasses.asdict(options))


def _print_estimate(project: Project, options: Any) -> None:
    from twt_backend.generation import estimate_cost, load_queries, load_teachers, plan

    queries = load_queries(project, options.split, options.limit)
    if not queries:
        raise UsageError(
            f"{project.root}: no {options.split or ''} queries to label".replace("  ", " ")
        )
    total, requests = 0.0, 0
    for teacher_id, config in load_teachers(project, options.teachers):
        items, _ = plan(project, teacher_id, config, queries)
        total += estimate_cost(project, teacher_id, config, items)
        requests += len(items)
    print(f"{requests} request(s) to send, estimated cost ${total:.4f}", file=sys.stderr)
