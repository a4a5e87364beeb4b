"""`twt demo [DIR]`: the app's demo project, from a terminal (same code, same settings)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from twt_backend.errors import UsageError
from twt_backend.store import DB_NAME, TASKS, Project


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from twt_backend.demo import DEMO_TASK

    parser = sub.add_parser(
        "demo",
        help="Create the demo project (the app's): bundled data, replay teachers, CPU settings.",
        description="Creates (or completes) the demo project: a math task made by code "
        "(two-step arithmetic word problems: train, validation and test splits), three replay "
        "teachers "
        "and a replay compressor (no API key), SmolLM2-135M as the student, settings sized "
        "for a laptop CPU. Then `twt run DIR` runs the whole pipeline and `twt report DIR` "
        "compares the stages. Running it again only restores what is missing.",
    )
    parser.add_argument(
        "dir", nargs="?", help="Project folder (default: the app's demo folder, as `twt-studio`)."
    )
    parser.add_argument(
        "--task",
        choices=TASKS,
        default=DEMO_TASK,
        help=f"{DEMO_TASK}: the demo; the others: tours of that task type that run the same "
        "pipeline but show no effect (choice: word categories, code: 30 queries).",
    )
    parser.add_argument("--json", action="store_true", help="Print the project as JSON.")
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from twt_backend.demo import ensure_demo_project

    root = Path(args.dir).expanduser().resolve() if args.dir else None
    if root is not None and root.exists():
        if not root.is_dir():
            raise UsageError(f"{root}: exists and is not a folder")
        if not (root / DB_NAME).exists() and any(root.iterdir()):
            raise UsageError(f"{root}: a folder with other files in it; pick an empty one")
    path = ensure_demo_project(root, args.task)
    from twt_backend.ops.projects import project_summary
    from twt_backend.ops.teachers import teacher_summaries

    with Project.open(path, readonly=True) as project:
        splits = project_summary(project)["splits"]
        teachers = teacher_summaries(project)
    summary = {
        "project": str(path),
        "task": args.task,
        "queries": splits,
        "teachers": [
            {"name": t["name"], "provider": t["provider"], "enabled": bool(t["enabled"])}
            for t in teachers
        ],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    counts = ", ".join(f"{n} {split}" for split, n in summary["queries"].items())
    enabled = ", ".join(t["name"] for t in summary["teachers"] if t["enabled"])
    print(f"demo project in {path}: {counts} queries; teachers {enabled}")
    print(f"next: twt run {path}    then: twt report {path}")
    return 0
