"""The outcome on real data: CommonsenseQA, teachers replayed from CoS-E, SmolLM2-135M.

Does the stage-3 student answer as well as stage 1 with far fewer output tokens? This runs
the real pipeline as a user does, each step a `twt` subprocess:

    twt init -> twt import (train pool, dev as the test split) -> twt teacher add (x2)
    -> (settings saved as the app's Setup page does) -> twt run --no-eval
    -> twt eval --method stage1, stage3, stage0, direct, stage2 -> twt report --json

* Data: `../shared/data/commonsenseqa` (train_rand_split = distillation pool, the first
  `--train` records; dev_rand_split = test split, the first `--test` records, default 300).
* Teachers: two `replay` personas over the CoS-E v1.11 file (no key, no model), each
  answering with the gold answer (`answer=@reference`) and confidence 1:
  - `cose-open`: CoS-E's open-ended explanation (a human's free-text "why"),
  - `cose-selected`: CoS-E's selected explanation (the span of the question the human
    highlighted as the evidence; short, often a few words).
  With confidence 1 DCRS's quality step keeps both; with 2 teachers its diversity step
  (>= 3 teachers) does not apply, so the distillation set has both outputs of each query.
* Student: SmolLM2-135M-Instruct (`smollm2-135m-gguf`), LoRA, every stage and the vanilla
  student asked with the same instruction (prompt mode "shared"). Compression between
  stages 1 and 2: fixed-length truncation of the rationales (a replayed teacher cannot
  rewrite towards the student). No live validation (no validation split: nothing held out).
* Evaluation on the test split: vanilla student (stage 0), direct-answer baseline,
  stages 1-3. Accuracy with its 95% Wilson interval (from `twt report --json`), mean
  output tokens, token reduction vs stage 1, and McNemar's exact test (two-sided) of each
  row against stage 1 and against the best baseline, on the per-query results in the store.

    .venv/bin/python benchmarks/bench_outcome.py [--dir DIR] [--train 320] [--test 300]
        [--steps 24] [--max-new-tokens 64] [--md OUT.md]

Prints the load average, the table as Markdown, the wall time of every step and a JSON
summary; exits 0 when the issue's goal holds (stage 3 >= 80% fewer tokens than stage 1,
not significantly less accurate (p > 0.05), more accurate than the vanilla student), 1
otherwise ("more accurate" by point estimate; the p-values say whether it is significant).
Not part of the tests. Measured run and settings: benchmarks/README.md ("Outcome on
CommonsenseQA"); the defaults are sized for an idle 2-core machine (estimated, not measured:
well under an hour); on a loaded one pass `--threads 1` and fewer `--steps`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from bench_demo import step_times  # noqa: E402

from twt_backend.config import (  # noqa: E402
    GenerationConfig,
    RefineConfig,
    SelectionConfig,
    TrainingConfig,
)
from twt_backend.model_fixtures import minilm_folder  # noqa: E402
from twt_backend.settings import save_config  # noqa: E402
from twt_backend.store import DB_NAME, Project  # noqa: E402

DATA = REPO_ROOT.parent / "shared" / "data"
CSQA_TRAIN = DATA / "commonsenseqa" / "train_rand_split.jsonl"
CSQA_DEV = DATA / "commonsenseqa" / "dev_rand_split.jsonl"
COSE_TRAIN = DATA / "cos-e" / "cose_train_v1.11.jsonl"
PERSONAS = {
    "cose-open": "explanation.open-ended",
    "cose-selected": "explanation.selected",
}
ORDER = ("stage0", "direct", "stage1", "stage2", "stage3")
EVAL_ORDER = ("stage1", "stage3", "stage0", "direct", "stage2")
LABELS = {
    "stage0": "vanilla student",
    "direct": "direct answer (untrained)",
    "stage1": "stage 1 (full reasoning)",
    "stage2": "stage 2 (compressed)",
    "stage3": "stage 3 (answer only)",
}
GOAL_TOKEN_REDUCTION = 0.80
ALPHA = 0.05


class StepFailed(RuntimeError):
    pass


THREADS: dict[str, str] = {}  # --threads: torch's CPU threads in every twt process


def twt(*args: str) -> float:
    """Run one `twt` command; its wall time. Raises with its output tail on failure."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **THREADS}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "twt_backend", *args], capture_output=True, text=True, env=env
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise StepFailed(f"twt {' '.join(args)} -> {result.returncode}\n{result.stderr[-3000:]}")
    return seconds


def write_subset(source: Path, target: Path, count: int, ids: set[str] | None = None) -> int:
    """The first `count` records of `source` (only ids in `ids`, when given), unchanged."""
    kept = []
    with source.open(encoding="utf-8") as handle:
        for line in handle:
            if len(kept) >= count:
                break
            if ids is None or json.loads(line)["id"] in ids:
                kept.append(line if line.endswith("\n") else line + "\n")
    target.write_text("".join(kept), encoding="utf-8")
    return len(kept)


def cose_ids() -> set[str]:
    with COSE_TRAIN.open(encoding="utf-8") as handle:
        return {json.loads(line)["id"] for line in handle if line.strip()}


def configure(root: Path, args: argparse.Namespace) -> None:
    """The run's settings, saved in the project as the app's Setup page saves them."""
    with Project.open(root) as project:
        save_config(project, SelectionConfig(threshold=0.95, embedder=str(minilm_folder())))
        save_config(
            project,
            TrainingConfig(
                student="smollm2-135m-gguf",
                epochs=1.0,
                max_steps=args.steps,
                batch_size=8,
                lr=args.lr,
                warmup_ratio=0.1,
                max_length=args.max_length,
                save_steps=args.steps,
                eval_size=0,
                prompt_mode="shared",
            ),
        )
        save_config(
            project,
            GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=args.eval_batch),
        )
        save_config(
            project, RefineConfig(method="fixed-length", fixed_length_tokens=args.compress_tokens)
        )
        project.set_meta("n_stages", "3")


def set_up(root: Path, work: Path, args: argparse.Namespace, seconds: dict) -> None:
    """A new project: the data subsets, the replay teachers and the settings."""
    seconds["init"] = twt("init", str(root), "--task", "choice", "--name", "csqa-cose")
    seconds["import"] = twt(
        "import", str(root), str(work / "train.jsonl"), "--format", "csqa", "--split", "train"
    ) + twt("import", str(root), str(work / "dev.jsonl"), "--format", "csqa", "--split", "test")
    seconds["teacher add"] = sum(
        twt(
            "teacher", "add", str(root), name, "--provider", "replay", "--model",
            f"{COSE_TRAIN}#rationale={field}&answer=@reference&confidence=1",
        )
        for name, field in PERSONAS.items()
    )  # fmt: skip
    configure(root, args)


def per_query(root: Path) -> dict[str, dict[int, int]]:
    """method -> {query id: correct} on the test split."""
    with Project.open(root) as project:
        rows = project.rows(
            "SELECT e.method, e.query_id, e.correct FROM eval_results e"
            " JOIN queries q ON q.id = e.query_id WHERE q.split = 'test'"
        )
    results: dict[str, dict[int, int]] = {}
    for row in rows:
        results.setdefault(row["method"], {})[row["query_id"]] = int(bool(row["correct"]))
    return results


def mcnemar_p(a: dict[int, int], b: dict[int, int]) -> float | None:
    """McNemar's exact two-sided p on the queries both answered (binomial on discordant)."""
    common = a.keys() & b.keys()
    only_a = sum(1 for q in common if a[q] and not b[q])
    only_b = sum(1 for q in common if b[q] and not a[q])
    n = only_a + only_b
    if not common:
        return None
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def table_rows(report: list[dict[str, Any]], outcomes: dict[str, dict[int, int]]):
    by_method = {r["method"]: r for r in report}
    baselines = [by_method[m] for m in ("stage0", "direct") if m in by_method]
    best = max(baselines, key=lambda r: r["accuracy"], default=None)
    stage1 = by_method.get("stage1")
    rows = []
    for method in ORDER:
        r = by_method.get(method)
        if r is None:
            continue
        reduction = None
        if stage1 and stage1["mean_output_tokens"]:
            reduction = 1 - r["mean_output_tokens"] / stage1["mean_output_tokens"]
        rows.append(
            {
                "method": method,
                "label": LABELS[method],
                "prompt_mode": r["prompt_mode"],
                "n": r["n"],
                "correct": r["correct"],
                "accuracy": r["accuracy"],
                "ci_low": r["ci_low"],
                "ci_high": r["ci_high"],
                "mean_output_tokens": r["mean_output_tokens"],
                "token_reduction_vs_stage1": reduction,
                "p_vs_stage1": mcnemar_p(outcomes.get(method, {}), outcomes.get("stage1", {}))
                if method != "stage1"
                else None,
                "p_vs_best_baseline": mcnemar_p(
                    outcomes.get(method, {}), outcomes.get(best["method"], {})
                )
                if best and method != best["method"]
                else None,
            }
        )
    return rows, (best["method"] if best else None)


def markdown(rows: list[dict[str, Any]], best: str | None) -> str:
    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f}%"

    def p(x: float | None) -> str:
        return "–" if x is None else f"{x:.3g}"

    lines = [
        f"| method | prompt | n | accuracy [95% CI] | mean output tokens | tokens vs stage 1 "
        f"| p vs stage 1 | p vs best baseline ({LABELS.get(best or '', '-')}) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        accuracy = f"{pct(r['accuracy'])} [{pct(r['ci_low'])}, {pct(r['ci_high'])}]"
        change = r["token_reduction_vs_stage1"]
        tokens = "–" if change is None or r["method"] == "stage1" else f"{-100 * change:+.1f}%"
        lines.append(
            f"| {r['label']} | {r['prompt_mode']} | {r['n']} | {accuracy} "
            f"| {r['mean_output_tokens']:.1f} | {tokens} | {p(r['p_vs_stage1'])} "
            f"| {p(r['p_vs_best_baseline'])} |"
        )
    return "\n".join(lines)


def goal(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by = {r["method"]: r for r in rows}
    s1, s3, vanilla = by.get("stage1"), by.get("stage3"), by.get("stage0")
    if not (s1 and s3 and vanilla):
        return {"met": False, "why": "a row is missing"}
    reduction = s3["token_reduction_vs_stage1"] or 0.0
    checks = {
        "tokens": reduction >= GOAL_TOKEN_REDUCTION,
        "not_worse": s3["accuracy"] >= s1["accuracy"] or (s3["p_vs_stage1"] or 0.0) > ALPHA,
        "above_vanilla": s3["accuracy"] > vanilla["accuracy"],
    }
    return {**checks, "met": all(checks.values())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="Project folder (default: a temporary one).")
    parser.add_argument("--train", type=int, default=320, help="Train queries (pool).")
    parser.add_argument("--test", type=int, default=300, help="Dev queries evaluated.")
    parser.add_argument("--steps", type=int, default=24, help="Training steps per stage.")
    parser.add_argument("--lr", type=float, default=1e-3, help="LoRA learning rate.")
    parser.add_argument("--max-length", type=int, default=192, help="Training tokens/example.")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="Answer length cap.")
    parser.add_argument("--eval-batch", type=int, default=16, help="Generation batch size.")
    parser.add_argument("--compress-tokens", type=int, default=8, help="Stage-2 rationale cap.")
    parser.add_argument(
        "--threads", type=int, help="OMP/MKL threads per process (1 helps on a loaded machine)."
    )
    parser.add_argument("--md", type=Path, help="Also write the table and times here.")
    args = parser.parse_args()
    if args.threads:
        THREADS.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    for path in (CSQA_TRAIN, CSQA_DEV, COSE_TRAIN):
        if not path.is_file():
            print(f"{path}: not found (the benchmark needs ../shared/data)", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="twt-bench-outcome-"))
    root = (args.dir or work / "project").resolve()
    n_train = write_subset(CSQA_TRAIN, work / "train.jsonl", args.train, cose_ids())
    n_test = write_subset(CSQA_DEV, work / "dev.jsonl", args.test)
    load_before = os.getloadavg()
    seconds: dict[str, float] = {}
    try:
        if not (root / DB_NAME).exists():  # else: resume the project's unfinished steps
            set_up(root, work, args, seconds)
        seconds["run"] = twt("run", str(root), "--quiet", "--no-eval")
        for method in EVAL_ORDER:  # the most telling first, should time run out
            seconds[f"eval {method}"] = twt("eval", str(root), "--method", method)
        load_after = os.getloadavg()
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        reported = subprocess.run(
            [sys.executable, "-m", "twt_backend", "report", str(root), "--json"],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
    except StepFailed as exc:
        print(exc, file=sys.stderr)
        print(f"project left in {root}; run again with --dir to resume", file=sys.stderr)
        return 1
    rows, best = table_rows(json.loads(reported.stdout), per_query(root))
    steps = step_times(root)
    outcome = goal(rows)
    table = markdown(rows, best)
    times = "\n".join(f"| {s['step']} | {s['seconds']:.0f} |" for s in steps)
    settings = {k: v for k, v in vars(args).items() if k not in ("dir", "md")}
    settings.update(train_queries=n_train, test_queries=n_test)
    summary = {
        "project": str(root),
        "settings": settings,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "steps": steps,
        "rows": rows,
        "goal": outcome,
    }
    commands = "\n".join(f"| twt {name} (command) | {s:.0f} |" for name, s in seconds.items())
    text = f"{table}\n\n| step | wall s |\n| --- | --- |\n{times}\n{commands}\n"
    print(text)
    print(json.dumps(summary, indent=2))
    if args.md:
        args.md.write_text(text + "\n```json\n" + json.dumps(summary, indent=2) + "\n```\n")
    print("GOAL MET" if outcome["met"] else "GOAL NOT MET")
    return 0 if outcome["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
