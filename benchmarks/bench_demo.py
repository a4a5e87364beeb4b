"""The demo, end to end, as a user runs it: `twt demo DIR`, `twt run DIR`, `twt report DIR
--json`, with the wall time of every step and the three things the demo must show:

1. at least 50 test queries behind every row;
2. stage 3 answers with at least 80% fewer output tokens than stage 1, both asked the
   same prompt (prompt mode "shared");
3. a trained stage clearly above the untrained student (the lower end of its 95% Wilson
   interval above the upper end of the vanilla student's) or, for a choice task, above
   chance (the lower end above 1 / number of options);

and the budget: `twt run` within 10 minutes (on the 2-core CI machine).

    .venv/bin/python benchmarks/bench_demo.py [--dir DIR] [--budget-s 600]

Prints the load average before and after (other work on the machine slows every step),
the report table as Markdown (for docs/user-guide.md) and a JSON summary; exits 0 when
every criterion holds, 1 otherwise. Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from twt_backend import jobs  # noqa: E402
from twt_backend.store import Project  # noqa: E402

MIN_QUERIES = 50
MAX_TOKEN_SHARE = 0.20


def twt(*args: str, timeout: float | None = None) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "twt_backend", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return time.monotonic() - started, result


def step_times(root: Path) -> list[dict[str, Any]]:
    """Wall time of each child job of the pipeline, in order."""
    with Project.open(root) as project:
        rows = jobs.list_jobs(project)
    times = []
    for job in rows:
        if job["kind"] == "pipeline" or not job["started_at"] or not job["finished_at"]:
            continue
        started, finished = (datetime.fromisoformat(job[k]) for k in ("started_at", "finished_at"))
        times.append({"step": job["name"], "seconds": (finished - started).total_seconds()})
    return times


def n_options(root: Path) -> int | None:
    with Project.open(root) as project:
        if project.task != "choice":
            return None
        payload = project.scalar("SELECT payload FROM queries WHERE split='test' LIMIT 1")
    return len(json.loads(payload)["choices"])


def check(rows: list[dict[str, Any]], options: int | None) -> dict[str, Any]:
    by_method = {r["method"]: r for r in rows}
    stage1, stage3, vanilla = (
        by_method.get("stage1"),
        by_method.get("stage3"),
        by_method.get("stage0"),
    )
    results: dict[str, Any] = {}
    results["queries"] = bool(rows) and all(r["n"] >= MIN_QUERIES for r in rows)
    if stage1 and stage3 and stage1["mean_output_tokens"]:
        share = stage3["mean_output_tokens"] / stage1["mean_output_tokens"]
        same_prompt = stage1["prompt_mode"] == stage3["prompt_mode"] == "shared"
        results["token_share"] = round(share, 4)
        results["tokens"] = share <= MAX_TOKEN_SHARE and same_prompt
    else:
        results["tokens"] = False
    trained = [r for r in rows if r["method"] in ("stage1", "stage2", "stage3")]
    best = max(trained, key=lambda r: r["ci_low"] or 0.0, default=None)
    above_vanilla = bool(best and vanilla and best["ci_low"] > vanilla["ci_high"])
    chance = 1.0 / options if options else None
    above_chance = bool(best and chance is not None and best["ci_low"] > chance)
    results["best_trained"] = best["method"] if best else None
    results["above_vanilla"] = above_vanilla
    results["above_chance"] = above_chance if chance is not None else None
    results["effect"] = above_vanilla or above_chance
    return results


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| method | prompt | n | accuracy [95% CI] | mean output tokens |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        accuracy = f"{100 * r['accuracy']:.1f}% [{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}]"
        tokens = r["mean_output_tokens"]  # none for a row without outputs (majority class)
        lines.append(
            f"| {r['display']} | {r['prompt_mode']} | {r['n']} | {accuracy} "
            f"| {'–' if tokens is None else f'{tokens:.1f}'} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="Demo project folder (default: a temporary one).")
    parser.add_argument("--budget-s", type=float, default=600.0, help="Wall-time goal of twt run.")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="twt-bench-demo-")) / "demo"
    load_before = os.getloadavg()
    demo_s, made = twt("demo", str(root))
    if made.returncode != 0:
        print(made.stdout, made.stderr, file=sys.stderr)
        return 1
    run_s, ran = twt("run", str(root), "--quiet")
    load_after = os.getloadavg()
    if ran.returncode != 0:
        print(ran.stdout[-4000:], ran.stderr[-4000:], file=sys.stderr)
        return 1
    report_s, reported = twt("report", str(root), "--json")
    rows = json.loads(reported.stdout)
    results = check(rows, n_options(root))
    results["budget"] = run_s <= args.budget_s
    summary = {
        "project": str(root),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "seconds": {"demo": round(demo_s, 1), "run": round(run_s, 1), "report": round(report_s, 1)},
        "steps": step_times(root),
        "checks": results,
        "rows": [
            {
                k: r[k]
                for k in (
                    "method",
                    "prompt_mode",
                    "n",
                    "correct",
                    "accuracy",
                    "ci_low",
                    "ci_high",
                    "mean_output_tokens",
                )
            }
            for r in rows
        ],  # fmt: skip
    }
    print(markdown(rows))
    print()
    for step in summary["steps"]:
        print(f"  {step['step']:<28} {step['seconds']:7.1f} s")
    print(json.dumps(summary, indent=2))
    ok = all(results[k] for k in ("queries", "tokens", "effect", "budget"))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
