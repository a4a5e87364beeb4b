"""Training throughput: the engine (a real `train` job) vs a plain transformers+peft loop.

Both train the same student with the same LoRA config, batch size, learning rate, step
count and tokenised examples (variable lengths) in the same run. Throughput counts real
(non-padding) tokens per second of training; padding is the share of padded positions.
The plain loop shuffles and pads each batch to its longest example, as a hand-written
loop usually does; the engine packs each batch padding-free (`--padding-free yes`, the
default here; `auto` packs only for flash/flex attention), `grouped` is the engine with
padding_free no, i.e. length-grouped padded batches (the engine's choice on CPU).

    .venv/bin/python benchmarks/bench_training.py [--model tiny|smollm2|PATH] [--steps N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from twt_backend import jobs  # noqa: E402
from twt_backend.store import Project, utcnow  # noqa: E402

WORDS = "first add the two numbers then multiply the sum by three and check the result".split()


def seed_project(root: Path, n: int, max_words: int, seed: int) -> Project:
    """A math project with n selected samples whose rationales vary widely in length."""
    rng = random.Random(seed)
    project = Project.create(root, "math")
    now = utcnow()
    with project.transaction() as conn:
        conn.execute(
            "INSERT INTO teachers(name, provider, model, config, created_at) "
            "VALUES ('t', 'replay', 'x', '{}', ?)",
            (now,),
        )
        for i in range(n):
            payload = json.dumps({"question": f"What is {i} times 3 plus {i % 7}?"})
            qid = conn.execute(
                "INSERT INTO queries(source_id, payload, content_hash, created_at) "
                "VALUES (?, ?, ?, ?)",
                (f"q{i}", payload, hashlib.sha256(payload.encode()).hexdigest(), now),
            ).lastrowid
            words = [rng.choice(WORDS) for _ in range(rng.randint(4, max_words))]
            gid = conn.execute(
                "INSERT INTO generations(query_id, teacher_id, request_hash, status, rationale, "
                "answer, confidence, parse_status, created_at, updated_at) "
                "VALUES (?, 1, ?, 'ok', ?, ?, 0.99, 'ok', ?, ?)",
                (qid, f"h{i}", " ".join(words), str(3 * i + i % 7), now, now),
            ).lastrowid
            conn.execute(
                "INSERT INTO selections(generation_id, query_id, selected, updated_at) "
                "VALUES (?, ?, 1, ?)",
                (gid, qid, now),
            )
    return project


def student_path(name: str, cache: Path) -> Path:
    from twt_backend import model_fixtures as models

    if name == "tiny":
        return models.build_tiny_model(cache / "tiny-lm")
    if name == "smollm2":
        return models.smollm2_folder(cache / "smollm2-135m-instruct")
    return Path(name).resolve()


def run_engine(
    project: Project, student: Path, args: argparse.Namespace, padding_free: str
) -> dict:
    config = {
        "stage": 1,
        "training": {
            "padding_free": padding_free,
            "student": str(student),
            "max_steps": args.steps,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "max_length": args.max_length,
            "save_steps": 10**6,
            "eval_size": 0,
            "warmup_ratio": 0.0,
        },
    }
    job_id = jobs.create_job(project, "train", config)
    jobs.start_detached(project, job_id).wait()
    job = jobs.get_job(project, job_id)
    if job["status"] != "finished":
        raise SystemExit(f"engine run {job['status']}: {job['error']}")
    rank = json.loads((project.root / "artifacts/stages/stage1/ranks/rank0.json").read_text())
    return {
        "tokens_per_s": rank["tokens_seen_all_ranks"] / rank["train_runtime_s"],
        "padding": rank["padding_fraction"],
        "seconds": rank["train_runtime_s"],
        "tokens": rank["tokens_seen_all_ranks"],
        "padding_free": rank["padding_free"],
        "attention": rank["attention"],
    }


def run_plain_loop(project: Project, student: Path, args: argparse.Namespace) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq

    from twt_backend.stage_data import stage_examples, tokenize_examples

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(student)
    features = tokenize_examples(tokenizer, stage_examples(project, 1), args.max_length)
    model = AutoModelForCausalLM.from_pretrained(student)
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear",
                      task_type="CAUSAL_LM")  # fmt: skip
    model = get_peft_model(model, lora)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    collate = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100)
    order = list(range(len(features)))
    random.Random(0).shuffle(order)
    tokens = positions = 0
    start = time.perf_counter()
    for step in range(args.steps):
        at = (step * args.batch_size) % len(order)
        batch = collate([features[i] for i in order[at : at + args.batch_size]])
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        tokens += int(batch["attention_mask"].sum())
        positions += int(batch["attention_mask"].numel())
    seconds = time.perf_counter() - start
    return {
        "tokens_per_s": tokens / seconds,
        "padding": 1 - tokens / positions,
        "seconds": seconds,
        "tokens": tokens,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny", help="tiny, smollm2 or a model folder")
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--max-words", type=int, default=150, help="longest rationale (words)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument(
        "--padding-free", choices=("auto", "yes"), default="yes",
        help="the engine run's padding_free setting (the other run: no)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    student = student_path(args.model, REPO_ROOT / "tests" / ".cache")
    with tempfile.TemporaryDirectory() as tmp:
        project = seed_project(Path(tmp) / "proj", args.examples, args.max_words, seed=0)
        plain = run_plain_loop(project, student, args)
        grouped = run_engine(project, student, args, padding_free="no")
        engine = run_engine(project, student, args, padding_free=args.padding_free)
    result = {
        "model": args.model,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "engine": engine,
        "grouped": grouped,
        "plain_loop": plain,
        "speedup": engine["tokens_per_s"] / plain["tokens_per_s"],
        "packed_vs_grouped": engine["tokens_per_s"] / grouped["tokens_per_s"],
        "load_average": os.getloadavg(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"model {args.model}, batch {args.batch_size}, {args.steps} steps, LoRA r8 all-linear")
    for name in ("engine", "grouped", "plain_loop"):
        row = result[name]
        print(
            f"{name:>10}: {row['tokens_per_s']:9.1f} tokens/s  padding {row['padding']:6.1%}  "
            f"({row['tokens']} tokens in {row['seconds']:.1f} s)"
        )
    print(f"   speedup: {result['speedup']:.2f}x the plain loop")
    print(f"    packed: {result['packed_vs_grouped']:.2f}x grouped (load {result['load_average']})")


if __name__ == "__main__":
    main()
