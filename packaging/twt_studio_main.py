"""Entry point of the PyInstaller bundle: the desktop app, its workers, and Python children.

A frozen executable has no Python interpreter beside it, yet the back end starts child
processes with `sys.executable`. The bundle's executable therefore also understands the
command lines the back end gives it:

    --worker ARGS...           the `twt` command (job workers, see twt_backend.jobs.prepare)
    [-u -I -B ...] -m MODULE   run a module as __main__ (training entry, torchrun, eval shards)
    [-u -I -B ...] -c CODE     run code (multiprocessing and launcher helpers)
    [-I -B ...] SCRIPT.py      run a script (the code sandbox runs `-I -B main.py`)

Anything else starts the desktop app with those arguments (`DIR`, `--smoke-test`, ...).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NamedTuple

FLAGS = {"-u", "-I", "-B", "-E", "-s", "-S", "-O", "-OO", "-q", "-b", "-bb"}
FLAGS_WITH_VALUE = {"-X", "-W"}


class Launch(NamedTuple):
    kind: str  # "gui", "worker", "module", "code" or "script"
    target: str | None  # module name, code or script path
    args: list[str]  # what follows the target (becomes sys.argv[1:])
    flags: frozenset[str]


def parse(argv: Sequence[str]) -> Launch:
    """Classify the command line of the bundle's executable (without argv[0])."""
    argv = list(argv)
    if argv[:1] == ["--worker"]:
        return Launch("worker", None, argv[1:], frozenset())
    flags: set[str] = set()
    index = 0
    while index < len(argv) and (argv[index] in FLAGS or argv[index] in FLAGS_WITH_VALUE):
        flags.add(argv[index])
        index += 2 if argv[index] in FLAGS_WITH_VALUE else 1
    rest = argv[index:]
    if rest and rest[0] in ("-m", "-c") and len(rest) > 1:
        kind = "module" if rest[0] == "-m" else "code"
        return Launch(kind, rest[1], rest[2:], frozenset(flags))
    if rest and rest[0].endswith(".py") and (flags or os.path.isfile(rest[0])):
        return Launch("script", rest[0], rest[1:], frozenset(flags))
    if flags:
        raise SystemExit(f"twt-studio: interpreter flags {sorted(flags)} need -m, -c or a script")
    return Launch("gui", None, argv, frozenset())


def run(launch: Launch) -> int:
    import runpy

    if "-u" in launch.flags or os.environ.get("PYTHONUNBUFFERED"):
        for stream in (sys.stdout, sys.stderr):
            if stream is not None and hasattr(stream, "reconfigure"):
                stream.reconfigure(write_through=True)
    if launch.kind == "worker":
        from twt_backend.cli import main as twt_main

        return twt_main(launch.args)
    if launch.kind == "module":
        assert launch.target is not None
        sys.argv = [launch.target, *launch.args]
        runpy.run_module(launch.target, run_name="__main__", alter_sys=True)
        return 0
    if launch.kind == "code":
        assert launch.target is not None
        sys.argv = ["-c", *launch.args]
        exec(compile(launch.target, "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102
        return 0
    if launch.kind == "script":
        assert launch.target is not None
        sys.argv = [launch.target, *launch.args]
        if "-I" not in launch.flags:
            sys.path.insert(0, os.path.dirname(os.path.abspath(launch.target)))
        runpy.run_path(launch.target, run_name="__main__")
        return 0
    from twt_gui.app import main as studio_main

    return studio_main(launch.args)


def main() -> None:
    import multiprocessing

    multiprocessing.freeze_support()  # children started with --multiprocessing-fork end here
    sys.exit(run(parse(sys.argv[1:])))


if __name__ == "__main__":
    main()
