"""Configuration dataclasses with the paper's defaults.

The CLI flags (twt_backend/cli/flags.py) and the GUI forms (twt_gui/forms.py) are both
built from these dataclasses, through `field_specs`: every field carries
`metadata={"help": ...}` and, where useful, `choices` (or a `Literal`/`Enum` type), `min`,
`max`, `flag` (its CLI name when not the field's) and `label` (its form label when not
the field's). One new field = one edit here.
Secrets never live here: a teacher names the environment variable (or keyring entry)
that holds its key.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import functools
import json
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from twt_backend.errors import UsageError
from twt_backend.secrets import check_variable_name

T = TypeVar("T")


def _f(default: Any, help: str, **extra: Any) -> Any:
    meta = {"help": help, **extra}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


PROVIDERS = ("openai", "mistral", "local", "replay")


@dataclass
class TeacherConfig:
    name: str = _f("", "Unique name of this teacher in the project.")
    provider: str = _f("openai", "Provider.", choices=PROVIDERS)
    model: str = _f("", "Model name at the provider, a local folder, or the replay file.")
    base_url: str | None = _f(
        None,
        "OpenAI-compatible base URL (vLLM, Ollama, llama.cpp, "
        "`transformers serve`); empty for the provider's default. A custom URL gets a key "
        "only from --api-key-env or the keyring (never OPENAI_API_KEY/MISTRAL_API_KEY).",
    )
    api_key_env: str | None = _f(
        None, "NAME of the environment variable holding the API key (never the key itself)."
    )
    keyring_service: str | None = _f(
        None, "OS keyring service holding the API key (username = teacher name)."
    )
    concurrency: int = _f(8, "Requests in flight at once.", min=1, max=1024)
    rpm: int | None = _f(None, "Requests per minute limit (empty: none).", min=1)
    tpm: int | None = _f(None, "Tokens per minute limit (empty: none).", min=1)
    temperature: float = _f(0.0, "Sampling temperature (paper: 0).", min=0.0, max=2.0)
    top_p: float = _f(0.95, "Top-p (nucleus) sampling (paper: 0.95).", min=0.0, max=1.0)
    max_tokens: int = _f(
        2048,
        "Maximum output tokens per answer (paper: 2048); a reply cut there is "
        "stored with parse status 'truncated'.",
        min=1,
    )
    price_in: float = _f(0.0, "Price in USD per million input tokens.", min=0.0)
    price_out: float = _f(0.0, "Price in USD per million output tokens.", min=0.0)
    timeout_s: float = _f(
        120.0, "Timeout of one request in seconds.", min=0.1, flag="timeout", label="Timeout (s)"
    )
    max_retries: int = _f(6, "Retries of one request before it is stored as failed.", min=0)
    use_batch_api: bool = _f(
        False,
        "Use the provider's batch API (about half the price, hours).",
        flag="batch",
        label="Use the batch API",
    )
    logprobs: bool = _f(False, "Ask for token log-probabilities (for the logprob strategy).")

    def validate(self) -> None:
        validate_fields(self)
        if not self.name.strip():
            raise UsageError("teacher name: must not be empty")
        if not self.model.strip():
            raise UsageError("model: must not be empty")
        if self.api_key_env is not None:
            check_variable_name(self.api_key_env)


@dataclass
class SelectionConfig:
    strategy: str = _f(
        "dcrs",
        "Selection strategy (random: the paper's random-sampling ablation, as many outputs "
        "as DCRS keeps, picked at random).",
        choices=("dcrs", "quality", "hard", "logprob", "random", "none"),
    )
    threshold: float = _f(
        0.95, "Quality threshold s on the teacher's confidence.", min=0.0, max=1.0
    )
    min_teachers: int = _f(3, "Kept teachers needed before the diversity step applies.", min=2)
    embedder: str = _f(
        "sentence-transformers/all-mpnet-base-v2", "Sentence-embedding model name or local folder."
    )
    logprob_threshold: float = _f(-0.5, "Mean token log-probability threshold (logprob strategy).")
    require_agreement: bool = _f(
        False, "Also require the answer to agree with the teachers' majority."
    )
    batch_size: int = _f(64, "Embedding batch size.", min=1)


@dataclass
class LoraConfig:
    rank: int = _f(8, "LoRA rank r.", min=1, max=1024)
    alpha: int = _f(16, "LoRA alpha.", min=1)
    dropout: float = _f(0.05, "LoRA dropout.", min=0.0, max=1.0)
    target_modules: str = _f("all-linear", "Modules to adapt: 'all-linear' or a comma list.")
    load_in_4bit: bool = _f(False, "Load the base model in 4 bits (needs bitsandbytes and a GPU).")


@dataclass
class TrainingConfig:
    student: str = _f(
        "HuggingFaceTB/SmolLM2-135M-Instruct", "Student model: a local folder or a name."
    )
    epochs: float = _f(4.0, "Training epochs.", min=0.0)
    max_steps: int = _f(-1, "Stop after this many steps (-1: use epochs).")
    batch_size: int = _f(8, "Per-device batch size.", min=1)
    grad_accum: int = _f(1, "Gradient accumulation steps.", min=1)
    lr: float = _f(1e-5, "Learning rate.", min=0.0)
    warmup_ratio: float = _f(0.03, "Warm-up fraction of the steps.", min=0.0, max=1.0)
    max_length: int = _f(4096, "Maximum tokens per training example.", min=8)
    bf16: str = _f("auto", "bf16 mixed precision: auto, yes or no.", choices=("auto", "yes", "no"))
    group_by_length: bool = _f(True, "Batch examples of similar length together.")
    padding_free: str = _f(
        "auto",
        "Padding-free batches (examples concatenated, no cross-example attention): auto = "
        "where the attention skips the other examples (flash, flex); yes = also sdpa/eager "
        "(exact, but attention over the packed row is quadratic); no = length grouping.",
        choices=("auto", "yes", "no"),
    )
    save_steps: int = _f(50, "Save a checkpoint every N steps.", min=1)
    logging_steps: int = _f(1, "Log metrics every N steps.", min=1)
    eval_steps: int = _f(
        0, "Evaluate on the validation slice every N steps (0: epoch ends only).", min=0
    )
    eval_size: int = _f(64, "Validation slice size for live evaluation (0: off).", min=0)
    eval_max_new_tokens: int = _f(
        0,
        "Maximum new tokens of the live evaluation's answers (0: 256 for reasoning stages "
        "and code, 32 for answer-only math and choice).",
        min=0,
    )
    prompt_mode: str = _f(
        "shared",
        "Student instruction: 'shared' = one instruction for every stage and the vanilla "
        "student (the paper's setting: the token drop is learnt), 'stage' = each stage's "
        "own hint (step by step / briefly / answer only).",
        choices=("shared", "stage"),
    )
    failed_rewrites: str = _f(
        "keep",
        "Compressed stages: a sample whose rewrite failed keeps its earlier rationale "
        "(keep: the paper trains on all N samples) or is left out (drop).",
        choices=("keep", "drop"),
    )
    seed: int = _f(42, "Random seed.")
    merge_export: bool = _f(False, "Also export the merged model (safetensors).")


@dataclass
class LaunchConfig:
    launcher: str = _f(
        "single", "How to start training processes.", choices=("single", "torchrun", "accelerate")
    )
    nproc: int = _f(1, "Processes per node (one per GPU).", min=1)
    nnodes: int = _f(1, "Number of nodes.", min=1)
    node_rank: int = _f(0, "Rank of this node.", min=0)
    master_addr: str = _f("127.0.0.1", "Address of the rank-0 node.")
    master_port: int = _f(29500, "Port of the rank-0 node.", min=1, max=65535)
    distributed: str = _f("ddp", "Sharding strategy.", choices=("ddp", "zero2", "zero3", "fsdp"))
    backend: str = _f("auto", "torch.distributed backend.", choices=("auto", "nccl", "gloo"))


@dataclass
class GenerationConfig:
    """Student inference settings (paper: temperature 0, top-p 0.95, 2048 new tokens)."""

    temperature: float = _f(0.0, "Sampling temperature (0: greedy).", min=0.0, max=2.0)
    top_p: float = _f(0.95, "Top-p.", min=0.0, max=1.0)
    max_new_tokens: int = _f(2048, "Maximum new tokens.", min=1)
    batch_size: int = _f(8, "Generation batch size.", min=1)
    engine: str = _f(
        "auto",
        "Student-inference engine: hf (transformers generate), vllm (a vLLM server, see "
        "docs/scaling-out.md), auto (vLLM where installed with a GPU or a server URL is set).",
        choices=("hf", "vllm", "auto"),
    )


@dataclass
class RefineConfig:
    method: str = _f(
        "teacher",
        "Compression method: teacher = rewrite towards the student's answer (paper); "
        "compressor = shorten without the student; fixed-length = keep the first N tokens.",
        choices=("teacher", "fixed-length", "compressor"),
    )
    teacher: str | None = _f(
        None, "Refine with this teacher only (empty: each sample's own teacher)."
    )
    fixed_length_tokens: int = _f(64, "Token budget of the fixed-length truncation.", min=1)


@dataclass(frozen=True)
class FieldSpec:
    """What the CLI and the forms need to know of one config field, read from its type and
    metadata: the one description both front ends are built from."""

    name: str
    kind: type  # bool, int, float or str
    optional: bool  # None is allowed (an empty form field, an unset flag)
    default: Any
    help: str
    choices: tuple[Any, ...] | None
    min: float | None
    max: float | None
    flag: str  # the CLI name without dashes or prefix, e.g. "timeout" for timeout_s
    label: str  # the form label

    def bounds_text(self) -> str:
        """'1 to 1024', 'at least 0', 'at most 2', or '' (for help texts and tooltips)."""
        if self.min is not None and self.max is not None:
            return f"{self.min} to {self.max}"
        if self.min is not None:
            return f"at least {self.min}"
        return f"at most {self.max}" if self.max is not None else ""

    def help_with_range(self) -> str:
        """The help, with the range of a number field (flag help, form tooltip)."""
        bounds = self.bounds_text()
        text = self.help.rstrip()
        return f"{text} Range: {bounds}." if bounds and self.choices is None else text


def _choices(hint: Any, meta: Any) -> tuple[Any, ...] | None:
    if meta.get("choices"):
        return tuple(meta["choices"])
    if typing.get_origin(hint) is Literal:
        return tuple(typing.get_args(hint))
    if isinstance(hint, type) and typing.get_origin(hint) is None and issubclass(hint, enum.Enum):
        return tuple(member.value for member in hint)
    return None


@functools.cache
def field_specs(cls: type) -> tuple[FieldSpec, ...]:
    """The specs of a config dataclass's fields, in declaration order."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints[f.name]
        args = typing.get_args(hint)
        optional = type(None) in args
        if optional:
            rest = [a for a in args if a is not type(None)]
            hint = rest[0] if len(rest) == 1 else hint
        choices = _choices(hint, f.metadata)
        if choices is not None:
            kind = type(choices[0])
        elif hint in (bool, int, float, str):
            kind = hint
        else:
            kind = str
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        specs.append(
            FieldSpec(
                name=f.name,
                kind=kind,
                optional=optional,
                default=None if default is dataclasses.MISSING else default,
                help=f.metadata.get("help", ""),
                choices=choices,
                min=f.metadata.get("min"),
                max=f.metadata.get("max"),
                flag=f.metadata.get("flag", f.name),
                label=f.metadata.get("label", f.name.replace("_", " ").capitalize()),
            )
        )
    return tuple(specs)


def check_finite(name: str, value: Any) -> None:
    """Refuse NaN and infinities, naming the field or flag: the one check of every float."""
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{name}: {value} is not a finite number")


def finite_float(text: str) -> float:
    """An argparse `type` for float flags that are no config field (e.g. `--budget`)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return value


def _check_number(name: str, kind: type, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{name}: {value!r} is not a number")
    check_finite(name, value)
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise UsageError(f"{name}: {value} is not a whole number")


def validate_fields(obj: Any) -> None:
    """Check types of numbers (finite: no NaN or infinity), choices and numeric bounds
    declared in the field metadata. Every config passes here: CLI flags, the app's forms,
    saved settings and configs read back from a project."""
    for spec in field_specs(type(obj)):
        value = getattr(obj, spec.name)
        if value is None:
            continue
        if spec.kind in (int, float):
            _check_number(spec.name, spec.kind, value)
        check_choice_and_bounds(spec, value)


def check_choice_and_bounds(spec: FieldSpec, value: Any) -> None:
    """The choices and numeric bounds of a field's metadata (flags are checked here too)."""
    name, choices = spec.name, spec.choices
    if isinstance(value, enum.Enum):
        value = value.value
    if choices and value not in choices:
        raise UsageError(f"{name}: {value!r} is not one of {', '.join(map(str, choices))}")
    low, high = spec.min, spec.max
    if low is not None and isinstance(value, (int, float)) and value < low:
        raise UsageError(f"{name}: {value} is below the minimum {low}")
    if high is not None and isinstance(value, (int, float)) and value > high:
        raise UsageError(f"{name}: {value} is above the maximum {high}")


def stored_teacher(name: str, raw: str) -> TeacherConfig:
    """A teacher config read back from a project, checked like any other; the error names the
    teacher and how to repair it (a received or hand-edited project may hold anything)."""
    try:
        return from_dict(TeacherConfig, json.loads(raw))
    except (UsageError, TypeError, ValueError) as exc:
        raise UsageError(
            f"teacher {name}: {exc}; repair it with `twt teacher add DIR {name} ... --replace` "
            "or on the app's Setup page"
        ) from None


def to_json(obj: Any) -> str:
    return json.dumps(dataclasses.asdict(obj), sort_keys=True, allow_nan=False)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a config from a dict, refusing unknown keys (typos must not pass silently)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise UsageError(f"{cls.__name__}: unknown option(s) {', '.join(unknown)}")
    obj = cls(**data)
    validate_fields(obj)
    return obj
