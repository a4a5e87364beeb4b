"""Student inference: the transformers engine vs the vLLM engine on the same eval job.

The prompts and generation settings are those of a real `eval` job (stage 0, the test split
of a throw-away math project, rendered by `evaluation.job.eval_items`); both engines answer
them in one run, greedy with the same token budget and end-of-sequence respected:
`inference.generate` on the loaded model, and `vllm_engine.generate_on_server` on a vLLM
server started from TWT_VLLM_PYTHON (base model and an adapter-free request, the same
concurrency the engine uses). Reported: generation seconds (model loading and the server's
start reported apart), output tokens (the same on both sides when the engines agree) and
tokens/s. Needs vLLM; see docs/scaling-out.md.

    TWT_VLLM_PYTHON=~/vllm-venv/bin/python .venv/bin/python benchmarks/bench_engines.py \
        [--model smollm2|PATH] [--n 32] [--max-new-tokens 64] [--batch-size 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from twt_backend.store import Project, utcnow  # noqa: E402

QUESTIONS = [
    "Tom has {a} apples and buys {b} more. How many apples does he have?",
    "A train travels {a} km in {b} hours. What is its average speed in km per hour?",
    "Sara reads {a} pages a day for {b} days. How many pages does she read in total?",
    "A box holds {a} pencils. How many pencils are in {b} boxes?",
]


def seed_project(root: Path, n: int) -> Project:
    project = Project.create(root, "math")
    with project.transaction() as conn:
        for i in range(n):
            a, b = 3 + i, 2 + i % 5
            payload = json.dumps({"question": QUESTIONS[i % len(QUESTIONS)].format(a=a, b=b)})
            conn.execute(
                "INSERT INTO queries(source_id, split, payload, reference, content_hash, "
                "created_at) VALUES (?, 'test', ?, ?, ?, ?)",
                (f"t{i}", payload, str(a + b), f"h{i}", utcnow()),
            )
    return project


def run_hf(student: Path, prompts: list[str], gen: object) -> dict:
    from twt_backend.evaluation.inference import generate, load_student

    start = time.perf_counter()
    model, tokenizer = load_student(student)
    loaded = time.perf_counter()
    answers = generate(model, tokenizer, prompts, gen)  # type: ignore[arg-type]
    return summary("hf", answers, loaded - start, time.perf_counter() - loaded)


def run_vllm(student: Path, prompts: list[str], gen: object, log_dir: Path) -> dict:
    from transformers import AutoTokenizer

    from twt_backend.evaluation import vllm_server as vs
    from twt_backend.evaluation.vllm_engine import generate_on_server, serve_dtype

    source = vs.vllm_source()
    if source is None or source.python is None:
        raise SystemExit(vs.absent_reason())
    tokenizer = AutoTokenizer.from_pretrained(student)
    argv = vs.serve_argv(
        source.python, str(student), {}, vs.free_port(), serve_dtype(),
        gpu=vs.gpu_present(), extra=vs.extra_args(),
    )  # fmt: skip
    start = time.perf_counter()
    with vs.VllmServer(argv, log_dir / "vllm_server.log") as server:
        ready = time.perf_counter()
        answers = generate_on_server(
            server.base_url,
            vs.BASE_NAME,
            tokenizer,
            student,
            prompts,
            gen,  # type: ignore[arg-type]
        )
        done = time.perf_counter()
    return summary("vllm", answers, ready - start, done - ready)


def summary(engine: str, answers: list, setup_s: float, generation_s: float) -> dict:
    tokens = sum(a.tokens for a in answers)
    return {
        "engine": engine,
        "setup_s": round(setup_s, 1),
        "generation_s": round(generation_s, 1),
        "tokens": tokens,
        "tokens_per_s": round(tokens / generation_s, 1),
        "answers": [(a.text, a.tokens) for a in answers],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="smollm2 or a model folder")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from twt_backend import models

    student = (
        models.smollm2_folder(REPO_ROOT / "tests" / ".cache" / "smollm2-135m-instruct")
        if args.model == "smollm2"
        else Path(args.model).resolve()
    )
    from twt_backend.config import GenerationConfig
    from twt_backend.evaluation.job import eval_items

    gen = GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        project = seed_project(Path(tmp) / "proj", args.n)
        prompts = [item.prompt for item in eval_items(project, {"stage": 0, "split": "test"})]
        hf = run_hf(student, prompts, gen)
        vllm = run_vllm(student, prompts, gen, Path(tmp))
    same = hf.pop("answers") == vllm.pop("answers")
    result = {
        "model": args.model, "queries": args.n, "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size, "hf": hf, "vllm": vllm, "same_answers": same,
        "speedup_tokens_per_s": round(vllm["tokens_per_s"] / hf["tokens_per_s"], 2),
        "load_average": os.getloadavg(),
    }  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for row in (hf, vllm):
        print(
            f"{row['engine']:>5}: {row['tokens_per_s']} tokens/s ({row['tokens']} tokens in "
            f"{row['generation_s']} s; setup {row['setup_s']} s)"
        )
    print(
        f"vLLM/hf: {result['speedup_tokens_per_s']}x tokens/s; same answers and counts: "
        f"{same}; load {result['load_average']}"
    )


if __name__ == "__main__":
    main()
