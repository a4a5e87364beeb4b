"""A GPU check that fits a short lease: the GPU paths of TwT Studio, end to end, in minutes.

On a machine with a CUDA GPU and no network it builds a small Llama-style student from a
config (no hub), then runs real jobs, each in a throw-away project:

    cuda         the device, its memory and bf16 support
    train-bf16   one training stage (LoRA, bf16, padding-free where it pays: flash-attn)
    packing      padding-free vs length-grouped batches, same data: tokens/s ratio
    train-4bit   the same with the base loaded in 4 bits (if bitsandbytes is importable)
    torchrun     two processes with NCCL (if two GPUs)
    fsdp         FSDP (over the GPUs present, up to two)
    vllm         `twt eval --engine vllm` (if vLLM is installed: TWT_VLLM_PYTHON or this
                 interpreter, or TWT_VLLM_URL), compared with `--engine hf`

One line per check: ok / skipped (why) / failed (the error), and its tokens/s; exit 1 when
any check failed. Without a GPU every check after `cuda` says skipped, and it exits 0.

    .venv/bin/python benchmarks/gpu_check.py [--steps 40] [--size small|tiny] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from bench_training import seed_project  # noqa: E402

from twt_backend import jobs  # noqa: E402

SIZES = {  # Llama-style students built from a config: (hidden, layers, heads, kv heads)
    "tiny": (64, 2, 4, 2),
    "small": (512, 8, 8, 4),
}


@dataclass
class Result:
    check: str
    status: str  # ok | skipped | failed
    detail: str
    tokens_per_s: float | None = None

    def line(self) -> str:
        speed = f"  {self.tokens_per_s:.0f} tokens/s" if self.tokens_per_s else ""
        return f"{self.check:<11} {self.status:<8} {self.detail}{speed}"


class Skipped(Exception):
    """A check that cannot run here; the message says why."""


# ---- the student -------------------------------------------------------------------------------
def build_student(folder: Path, size: str) -> Path:
    """A randomly initialised Llama-style student with the tests' local tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from twt_backend.models import build_tiny_model

    tokenizer = AutoTokenizer.from_pretrained(build_tiny_model(folder / "tiny-lm"))
    hidden, layers, heads, kv_heads = SIZES[size]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 8 // 3,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    out = folder / f"student-{size}"
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


# ---- checks ------------------------------------------------------------------------------------
def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_cuda() -> tuple[str, float | None]:
    import torch

    if not torch.cuda.is_available():
        raise Skipped(f"no CUDA device (torch {torch.__version__})")
    props = torch.cuda.get_device_properties(0)
    bf16 = "bf16" if torch.cuda.is_bf16_supported() else "no bf16"
    return (
        f"{gpu_count()} x {props.name}, {props.total_memory / 2**30:.0f} GiB, {bf16}, "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}",
        None,
    )


def train(work: Path, name: str, student: Path, steps: int, **sections: Any) -> tuple[str, float]:
    """One stage-1 train job in a fresh project; (detail, real tokens/s) from its summary."""
    project = seed_project(work / name, 256, 150, seed=0)
    training = {
        "student": str(student), "max_steps": steps, "batch_size": 8, "lr": 1e-4,
        "max_length": 512, "save_steps": 10**6, "eval_size": 0, "warmup_ratio": 0.0,
        "bf16": "yes", **sections.pop("training", {}),
    }  # fmt: skip
    job_id = jobs.create_job(project, "train", {"stage": 1, "training": training, **sections})
    process = jobs.start_detached(project, job_id)
    try:
        process.wait(timeout=300)
    except subprocess.TimeoutExpired:
        jobs.cancel(project, job_id)
        raise RuntimeError("did not finish within 300 s") from None
    job = jobs.get_job(project, job_id)
    if job["status"] != "finished":
        log = project.root / "artifacts" / "stages" / "stage1" / "train.log"
        tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.is_file() else []
        raise RuntimeError(f"{job['status']}: {job['error']} {' | '.join(tail)}")
    ranks = sorted((project.root / "artifacts" / "stages" / "stage1" / "ranks").glob("*.json"))
    records = [json.loads(path.read_text()) for path in ranks]
    first = records[0]
    detail = (
        f"{len(records)} process(es), {first['global_step']} steps, loss "
        f"{first['train_loss']:.3f}, padding {first['padding_fraction']:.1%} "
        f"({'padding-free' if first['padding_free'] else 'grouped'}, {first['attention']})"
    )
    if len({r["trainable_sha256"] for r in records}) != 1:
        raise RuntimeError(f"ranks disagree on the LoRA weights: {detail}")
    return detail, float(first["real_tokens_per_s"])


def check_bf16(work: Path, student: Path, steps: int) -> tuple[str, float]:
    import torch

    if not torch.cuda.is_bf16_supported():
        raise Skipped("this GPU has no bf16")
    return train(work, "bf16", student, steps)


def check_packing(work: Path, student: Path, steps: int) -> tuple[str, float]:
    """Padding-free vs length-grouped batches on the same data: the tokens/s ratio."""
    packed, packed_speed = train(work, "packed", student, steps, training={"padding_free": "yes"})
    _, grouped_speed = train(work, "grouped", student, steps, training={"padding_free": "no"})
    ratio = packed_speed / grouped_speed
    return f"{ratio:.2f}x grouped ({grouped_speed:.0f} tokens/s); packed: {packed}", packed_speed


def check_4bit(work: Path, student: Path, steps: int) -> tuple[str, float]:
    if importlib.util.find_spec("bitsandbytes") is None:
        raise Skipped("bitsandbytes is not importable (pip install bitsandbytes)")
    return train(work, "4bit", student, steps, lora={"load_in_4bit": True})


def check_torchrun(work: Path, student: Path, steps: int) -> tuple[str, float]:
    if gpu_count() < 2:
        raise Skipped(f"{gpu_count()} GPU: torchrun with NCCL needs 2")
    launch = {"launcher": "torchrun", "nproc": 2, "backend": "nccl"}
    return train(work, "torchrun", student, steps, launch=launch)


def check_fsdp(work: Path, student: Path, steps: int) -> tuple[str, float]:
    nproc = min(2, gpu_count())
    launch = {"launcher": "torchrun", "nproc": nproc, "distributed": "fsdp", "backend": "nccl"}
    return train(work, "fsdp", student, steps, launch=launch)


def check_vllm(work: Path, student: Path, steps: int) -> tuple[str, float]:
    from twt_backend.evaluation import vllm_server

    if vllm_server.vllm_source() is None:
        raise Skipped(vllm_server.absent_reason().removeprefix("--engine vllm: "))
    os.environ.setdefault(vllm_server.ARGS_ENV, "--enforce-eager --max-model-len 2048")
    from bench_engines import seed_project as seed_test_split

    project = seed_test_split(work / "vllm", 64)
    results = {}
    for engine in ("vllm", "hf"):
        with project.transaction() as conn:
            conn.execute("DELETE FROM eval_results")
        argv = [sys.executable, "-m", "twt_backend", "eval", str(project.root), "--stage", "0",
                "--engine", engine, "--student", str(student), "--max-new-tokens", "64",
                "--batch-size", "64"]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=420)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"twt eval --engine {engine}: {done.stderr.strip()[-500:]}")
        rows = project.rows("SELECT query_id, output, tokens FROM eval_results ORDER BY query_id")
        results[engine] = (rows, seconds)
    rows, seconds = results["vllm"]
    tokens = sum(r["tokens"] for r in rows)
    agree = sum(a == b for a, b in zip(rows, results["hf"][0], strict=True))
    return (
        f"{len(rows)} answers, {tokens} tokens, job {seconds:.0f} s with the server's start "
        f"(hf job {results['hf'][1]:.0f} s); {agree}/{len(rows)} identical to hf",
        tokens / seconds,
    )


def run_checks(checks: list[tuple[str, Callable[[], tuple[str, float | None]]]]) -> list[Result]:
    """Run each check, printing its line as it ends; a check after a skipped `cuda` is
    skipped with the same reason."""
    results: list[Result] = []
    no_gpu: str | None = None
    for name, run in checks:
        if no_gpu is not None:
            result = Result(name, "skipped", no_gpu)
        else:
            try:
                detail, speed = run()
                result = Result(name, "ok", detail, speed)
            except Skipped as why:
                result = Result(name, "skipped", str(why))
                if name == "cuda":
                    no_gpu = str(why)
            except Exception as exc:  # noqa: BLE001 - reported as the check's failure
                message = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:600]
                result = Result(name, "failed", message)
                traceback.print_exc(file=sys.stderr)
        results.append(result)
        print(result.line(), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="training steps per check")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="twt-gpu-check-") as tmp:
        work = Path(tmp)
        student: list[Path] = []

        def with_student(check: Callable[[Path, Path, int], tuple[str, float]]) -> Callable:
            def run() -> tuple[str, float]:
                if not student:
                    student.append(build_student(work, args.size))
                return check(work, student[0], args.steps)

            return run

        results = run_checks([
            ("cuda", check_cuda),
            ("train-bf16", with_student(check_bf16)),
            ("packing", with_student(check_packing)),
            ("train-4bit", with_student(check_4bit)),
            ("torchrun", with_student(check_torchrun)),
            ("fsdp", with_student(check_fsdp)),
            ("vllm", with_student(check_vllm)),
        ])  # fmt: skip
    failed = [r.check for r in results if r.status == "failed"]
    print(f"{len(results)} checks in {time.perf_counter() - started:.0f} s: "
          f"{sum(r.status == 'ok' for r in results)} ok, "
          f"{sum(r.status == 'skipped' for r in results)} skipped, {len(failed)} failed")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
