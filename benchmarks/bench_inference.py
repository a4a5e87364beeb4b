"""Batched student inference vs one-at-a-time `generate`, same prompts, same run.

Goal (issue 5): batched >= 4x faster at batch 8 on the 2-core CPU machine.
Run: .venv/bin/python benchmarks/bench_inference.py [--model smollm2|tiny] [--n 16]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from twt_backend.config import GenerationConfig
from twt_backend.evaluation.inference import generate, load_student

CACHE = Path(__file__).resolve().parents[1] / "tests" / ".cache"
QUESTIONS = [
    "Tom has {a} apples and buys {b} more. How many apples does he have?",
    "A train travels {a} km in {b} hours. What is its average speed in km per hour?",
    "Sara reads {a} pages a day for {b} days. How many pages does she read in total?",
    "A box holds {a} pencils. How many pencils are in {b} boxes?",
]


def prompts(n: int) -> list[str]:
    return [QUESTIONS[i % len(QUESTIONS)].format(a=3 + i, b=2 + i % 5) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    from twt_backend import model_fixtures as models

    folder = (
        models.smollm2_folder(CACHE / "smollm2-135m-instruct")
        if args.model == "smollm2"
        else models.build_tiny_model(CACHE / "tiny-lm")
    )
    model, tokenizer = load_student(folder)
    items = prompts(args.n)
    # greedy with a fixed budget: ignore EOS so both sides generate the same token count
    model.generation_config.eos_token_id = None

    start = time.perf_counter()
    singles = [
        generate(
            model,
            tokenizer,
            [p],
            GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=1),
        )[0]
        for p in items
    ]
    single_s = time.perf_counter() - start

    start = time.perf_counter()
    batched = generate(
        model, tokenizer, items, GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=8)
    )
    batched_s = time.perf_counter() - start

    tokens = sum(c.tokens for c in batched)
    print(
        json.dumps(
            {
                "model": args.model,
                "prompts": args.n,
                "max_new_tokens": args.max_new_tokens,
                "one_at_a_time_s": round(single_s, 2),
                "batched_s": round(batched_s, 2),
                "speedup": round(single_s / batched_s, 2),
                "goal": ">= 4x",
                "tokens_batched": tokens,
                "tokens_single": sum(c.tokens for c in singles),
                "batched_tokens_per_s": round(tokens / batched_s, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
