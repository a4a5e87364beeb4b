"""Benchmark: `twt score code` on MBPP's 500 test tasks, and the sandbox's cost per program.

Run from the repository root:  .venv/bin/python benchmarks/bench_scoring.py [--workers 4] [--repeats 30]
Needs ../shared/data/mbpp/mbpp.jsonl for the first part (skipped without it).
Prints a JSON summary; exits 1 when scoring takes 30 s or more (the issue's target).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twt_backend.evaluation.sandbox import protections, run_python  # noqa: E402
from twt_backend.evaluation.scoring import score_predictions  # noqa: E402

MBPP = REPO.parent / "shared" / "data" / "mbpp" / "mbpp.jsonl"
TARGET_S = 30.0
PROGRAM = "def add(a, b):\n    return a + b\nassert add(1, 2) == 3\n"


def bench_mbpp(workers: int) -> dict:
    records = [json.loads(line) for line in MBPP.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        predictions = Path(tmp) / "references.jsonl"
        predictions.write_text(
            "".join(
                json.dumps({"task_id": r["task_id"], "completion": r["code"]}) + "\n"
                for r in records
                if 11 <= r["task_id"] <= 510
            )
        )
        started = time.perf_counter()
        result = score_predictions("code", MBPP, predictions, workers=workers, split="test")
        seconds = time.perf_counter() - started
    return {
        "tasks": result["n"],
        "accuracy": result["accuracy"],
        "workers": workers,
        "seconds": round(seconds, 2),
        "programs_per_s": round(result["n"] / seconds, 1),
        "target_s": TARGET_S,
        "met": seconds < TARGET_S,
    }


def _bare_run(folder: Path) -> None:
    (folder / "main.py").write_text(PROGRAM)
    subprocess.run([sys.executable, "-I", "-B", "main.py"], cwd=folder, check=True)


def bench_overhead(repeats: int) -> dict:
    """Mean wall time per program, one at a time: bare subprocess vs each sandbox mode."""
    timings: dict[str, list[float]] = {
        "bare_subprocess": [],
        "sandbox_process": [],
        "sandbox_auto": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):  # interleaved so load changes hit every mode alike
            started = time.perf_counter()
            _bare_run(Path(tmp))
            timings["bare_subprocess"].append(time.perf_counter() - started)
            for mode in ("process", "auto"):
                started = time.perf_counter()
                assert run_python(PROGRAM, isolation=mode).passed
                timings[f"sandbox_{mode}"].append(time.perf_counter() - started)
    mean_ms = {name: round(1000 * statistics.mean(values), 1) for name, values in timings.items()}
    median_ms = {
        name: round(1000 * statistics.median(values), 1) for name, values in timings.items()
    }
    return {
        "repeats": repeats,
        "mean_ms": mean_ms,
        "median_ms": median_ms,
        "overhead_ms_vs_bare": {
            name: round(median_ms[name] - median_ms["bare_subprocess"], 1)
            for name in ("sandbox_process", "sandbox_auto")
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    info = protections()
    report: dict = {
        "load_average_1min_before": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "isolation": info["isolation"],
        "process_limit": info["process_limit"],
        "overhead": bench_overhead(args.repeats),
    }
    report["mbpp"] = bench_mbpp(args.workers) if MBPP.is_file() else f"skipped: {MBPP} absent"
    report["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))
    mbpp = report["mbpp"]
    return 0 if not isinstance(mbpp, dict) or mbpp["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
