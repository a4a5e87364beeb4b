"""`twt doctor DIR`: what stops or slows the project (store, keys, models, packages, GPU),
with fixes; `twt doctor DIR --restore` brings back the newest good backup of the store."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from twt_backend.store import Project


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "doctor",
        help="Check a project: its store, API keys, models, packages, GPU; print each "
        "problem's fix. --restore brings back the last good backup of the store.",
        description="Exits 2 when the store cannot be opened (missing, empty, damaged), "
        "1 when a problem would make a step fail (severity error).",
    )
    parser.add_argument("dir", help="Project folder.")
    parser.add_argument("--json", action="store_true", help="One JSON object per problem.")
    parser.add_argument(
        "--restore",
        action="store_true",
        help="Replace project.sqlite with the newest backup in artifacts/backups/ that passes "
        "SQLite's integrity check; the current file is moved aside, never deleted.",
    )
    parser.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from twt_backend.problems import check_project, check_store

    if args.restore:
        return _restore(Path(args.dir))
    broken = check_store(Path(args.dir))
    if broken:
        _print(broken, args.json)
        return 2
    with Project.open(args.dir, readonly=True) as project:
        problems = check_project(project, accurate_gpu=True)
    _print(problems, args.json)
    if not problems and not args.json:
        print("no problems found")
    return 1 if any(p.severity == "error" for p in problems) else 0


def _print(problems: list, as_json: bool) -> None:  # type: ignore[type-arg]
    for problem in problems:
        if as_json:
            print(json.dumps(dataclasses.asdict(problem), sort_keys=True))
        else:
            print(f"{problem.severity}: {problem.message}\n  fix: {problem.fix}")


def _restore(root: Path) -> int:
    from twt_backend.store import SCHEMA_VERSION
    from twt_backend.store.backup import restore

    result = restore(root, SCHEMA_VERSION)
    for path, problem in result.skipped:
        print(f"skipped {path.name}: {problem}")
    print(f"restored {root / 'project.sqlite'} from {result.backup} (integrity check ok)")
    if result.aside is not None:
        state = result.replaced_problem or "it passed the checks"
        print(f"the replaced store ({state}) is kept in {result.aside}")
    with Project.open(root, readonly=True) as project:
        from twt_backend.ops.projects import query_count

        queries = query_count(project)
        print(f"project {project.name!r} ({project.task}): {queries} queries")
    return 0
