"""Labelling benchmark: 3 teachers x 600 queries against a local fake server answering after 1 s.

Runs, in one process and against the same server (started as a separate process, so
this process's CPU time is the client's alone):

1. a bare `AsyncOpenAI` loop with one semaphore of 32 per teacher (the baseline);
2. the engine (`twt_backend.generation.label`) on a fresh project, concurrency 32 per teacher;
3. the engine again against a faulty server (10% 429, 5% 500, 3% malformed bodies).

Prints wall time against the ideal (queries x latency / concurrency), CPU time per
request of both, and the duplicate count. Usage:

    .venv/bin/python benchmarks/bench_labelling.py [--queries 600] [--latency 1] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from fake_openai import add_teacher, seed_queries  # noqa: E402

from twt_backend.generation import LabelOptions, label  # noqa: E402
from twt_backend.store import Project  # noqa: E402
from twt_backend.tasks import get_task  # noqa: E402

TEACHERS = ("teacher-a", "teacher-b", "teacher-c")
FAULTS = {"429": 0.10, "500": 0.05, "malformed": 0.03}


class ServerProcess:
    """tests/fake_openai.py in its own process."""

    def __init__(self, latency_s: float, faults: dict[str, float] | None = None):
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "fake_openai.py"), "--latency", str(latency_s),
             "--faults", json.dumps(faults or {}), "--retry-after", "1"],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.base_url = json.loads(self.process.stdout.readline())["base_url"]
        self.root = self.base_url.removesuffix("/v1")

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.root}/_stats") as response:
            return dict(json.loads(response.read()))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def _messages(n: int) -> list[list[dict[str, Any]]]:
    task = get_task("math")
    return [task.teacher_messages({"question": f"What is {i} + {i}? (item {i})"}) for i in range(n)]


async def bare_loop(base_url: str, prompts: list[list[dict[str, Any]]], concurrency: int) -> int:
    """The baseline: one client and one semaphore per teacher, nothing else."""
    import openai

    async def one_teacher(model: str) -> int:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
        semaphore = asyncio.Semaphore(concurrency)

        async def ask(messages: list[dict[str, Any]]) -> str | None:
            async with semaphore:
                response = await client.chat.completions.create(
                    model=model,
                    messages=messages,
                    max_tokens=1024,
                    temperature=0.7,  # type: ignore[arg-type]
                )
                return response.choices[0].message.content

        answers = await asyncio.gather(*(ask(m) for m in prompts))
        await client.close()
        return sum(a is not None for a in answers)

    counts = await asyncio.gather(*(one_teacher(f"bare-{name}") for name in TEACHERS))
    return sum(counts)


def measure(fn: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def engine_run(base_url: str, queries: int, concurrency: int, folder: Path) -> tuple[Project, Any]:
    project = Project.create(folder, "math")
    seed_queries(project, queries)
    for name in TEACHERS:
        add_teacher(project, name, base_url=base_url, concurrency=concurrency, max_retries=10,
                    price_in=0.15, price_out=0.6)  # fmt: skip
    return project, label(project.root, LabelOptions(backoff_initial_s=0.5))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import openai  # noqa: F401 - imported before timing, as the engine's worker would have

    n_requests = args.queries * len(TEACHERS)
    ideal = args.queries * args.latency / args.concurrency
    results: dict[str, Any] = {"queries": args.queries, "teachers": len(TEACHERS),
                               "latency_s": args.latency, "ideal_s": ideal}  # fmt: skip
    prompts = _messages(args.queries)
    server = ServerProcess(
        args.latency
    )  # a fresh server per phase: no phase inherits another's state
    try:
        answered, wall, cpu = measure(
            lambda: asyncio.run(bare_loop(server.base_url, prompts, args.concurrency))
        )
        results["bare"] = {"wall_s": wall, "x_ideal": wall / ideal, "cpu_ms_per_request": 1000 * cpu / n_requests,
                           "answered": answered}  # fmt: skip
    finally:
        server.stop()
    server = ServerProcess(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            (project, summary), wall, cpu = measure(
                lambda: engine_run(server.base_url, args.queries, args.concurrency, Path(tmp) / "p")
            )
            ok = project.scalar("SELECT COUNT(*) FROM generations WHERE status = 'ok'")
            integrity = project.integrity_ok()
            project.close()
        stats = server.stats()
        results["engine"] = {"wall_s": wall, "x_ideal": wall / ideal, "cpu_ms_per_request": 1000 * cpu / n_requests,
                             "answered": ok, "duplicates": stats["duplicates"], "requests": stats["requests"],
                             "integrity_ok": integrity, "spent_usd": summary.spent_usd}  # fmt: skip
    finally:
        server.stop()
    faulty = ServerProcess(args.latency, FAULTS)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            (project, summary), wall, cpu = measure(
                lambda: engine_run(faulty.base_url, args.queries, args.concurrency, Path(tmp) / "p")
            )
            ok = project.scalar("SELECT COUNT(*) FROM generations WHERE status = 'ok'")
            project.close()
        stats = faulty.stats()
        results["faults"] = {"wall_s": wall, "answered": ok, "of": n_requests, "faults": stats["faults"],
                             "requests": stats["requests"], "duplicates": stats["duplicates"]}  # fmt: skip
    finally:
        faulty.stop()
    results["cpu_ratio"] = (
        results["engine"]["cpu_ms_per_request"] / results["bare"]["cpu_ms_per_request"]
    )
    results["pass"] = passed(results)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print(results)
        print("PASS" if results["pass"] else "FAIL")
    return 0 if results["pass"] else 1


def passed(r: dict[str, Any]) -> bool:
    """Targets: <= 1.25x ideal, <= 1.5x the bare loop's CPU per request, no duplicates,
    every query answered (also with faults)."""
    engine, faults = r["engine"], r["faults"]
    return bool(
        engine["x_ideal"] <= 1.25
        and r["cpu_ratio"] <= 1.5
        and engine["duplicates"] == 0
        and engine["answered"] == faults["of"]
        and faults["answered"] == faults["of"]
        and faults["duplicates"] == 0
        and engine["integrity_ok"]
    )


def _print(r: dict[str, Any]) -> None:
    bare, engine, faults = r["bare"], r["engine"], r["faults"]
    print(f"{r['teachers']} teachers x {r['queries']} queries, latency {r['latency_s']} s, "
          f"ideal {r['ideal_s']:.2f} s")  # fmt: skip
    print(f"bare loop : {bare['wall_s']:6.2f} s ({bare['x_ideal']:.2f}x ideal), "
          f"{bare['cpu_ms_per_request']:.2f} ms CPU/request")  # fmt: skip
    print(f"engine    : {engine['wall_s']:6.2f} s ({engine['x_ideal']:.2f}x ideal), "
          f"{engine['cpu_ms_per_request']:.2f} ms CPU/request ({r['cpu_ratio']:.2f}x bare), "
          f"{engine['answered']} answered, {engine['duplicates']} duplicates, "
          f"integrity {'ok' if engine['integrity_ok'] else 'BROKEN'}")  # fmt: skip
    print(f"faults    : {faults['wall_s']:6.2f} s, {faults['answered']}/{faults['of']} answered, "
          f"faults sent {faults['faults']}, {faults['duplicates']} duplicates")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
