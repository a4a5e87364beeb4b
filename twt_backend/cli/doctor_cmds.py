"""`twt doctor DIR`: what stops or slows the project (keys, models, packages, GPU), with fixes."""

from __future__ import annotations

import argparse
import dataclasses
import json

from twt_backend.store import Project


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "doctor",
        help="Check a project: API keys, models, packages, GPU; print each problem's fix.",
        description="Exits 1 when a problem would make a step fail (severity error).",
    )
    parser.add_argument("dir", help="Project folder.")
    parser.add_argument("--json", action="store_true", help="One JSON object per problem.")
    parser.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from twt_backend.doctor import check_project

    with Project.open(args.dir) as project:
        problems = check_project(project, accurate_gpu=True)
    for problem in problems:
        if args.json:
            print(json.dumps(dataclasses.asdict(problem), sort_keys=True))
        else:
            print(f"{problem.severity}: {problem.message}\n  fix: {problem.fix}")
    if not problems and not args.json:
        print("no problems found")
    return 1 if any(p.severity == "error" for p in problems) else 0
