"""How training processes start: one process, `torchrun` or `accelerate launch`.

`launch_argv` is pure (tested for exact equality). DeepSpeed ZeRO-2/3 and FSDP are
configured through generated files: a DeepSpeed JSON or an FSDP config the entry hands to
`TrainingArguments`, and for `accelerate launch` the matching flags.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from twt_backend.config import LaunchConfig

ENTRY_MODULE = "twt_backend.training.entry"

FSDP_CONFIG: dict[str, Any] = {
    "version": 2,
    "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
    "state_dict_type": "FULL_STATE_DICT",
    "reshard_after_forward": True,
}


def world_size(launch: LaunchConfig) -> int:
    return launch.nproc * launch.nnodes


def effective_launcher(launch: LaunchConfig) -> str:
    """'single' asked for several processes means torchrun."""
    if launch.launcher == "single" and world_size(launch) > 1:
        return "torchrun"
    return launch.launcher


def deepspeed_config(stage: int) -> dict[str, Any]:
    """A ZeRO config whose batch and precision fields follow TrainingArguments ("auto")."""
    zero: dict[str, Any] = {"stage": stage, "overlap_comm": True, "contiguous_gradients": True}
    if stage == 3:
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {
        "zero_optimization": zero,
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "train_micro_batch_size_per_gpu": "auto",
        "train_batch_size": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
    }


def distributed_config_name(launch: LaunchConfig) -> str | None:
    return {"zero2": "ds_zero2.json", "zero3": "ds_zero3.json", "fsdp": "fsdp.json"}.get(
        launch.distributed
    )


def write_distributed_config(launch: LaunchConfig, folder: Path) -> Path | None:
    """Write the DeepSpeed / FSDP config of a launch into `folder`; None for plain DDP."""
    name = distributed_config_name(launch)
    if name is None:
        return None
    content = (
        FSDP_CONFIG
        if launch.distributed == "fsdp"
        else deepspeed_config(int(launch.distributed[-1]))
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(content, indent=2, sort_keys=True), encoding="utf-8")
    return path


def trainer_sharding_args(launch: LaunchConfig, config_path: Path | None) -> dict[str, Any]:
    """The TrainingArguments fields that switch on DeepSpeed or FSDP."""
    if launch.distributed in ("zero2", "zero3") and config_path is not None:
        return {"deepspeed": str(config_path)}
    if launch.distributed == "fsdp":
        return {"fsdp": True, "fsdp_config": dict(FSDP_CONFIG)}
    return {}


def _accelerate_sharding_flags(launch: LaunchConfig, config_path: str | None) -> list[str]:
    if launch.distributed in ("zero2", "zero3"):
        flags = ["--use_deepspeed"]
        if config_path:
            return [*flags, "--deepspeed_config_file", config_path]
        return [*flags, "--zero_stage", launch.distributed[-1]]
    if launch.distributed == "fsdp":
        return [
            "--use_fsdp",
            "--fsdp_version",
            "2",
            "--fsdp_auto_wrap_policy",
            "TRANSFORMER_BASED_WRAP",
            "--fsdp_state_dict_type",
            "FULL_STATE_DICT",
        ]
    return ["--multi_gpu"] if world_size(launch) > 1 else []


def launch_argv(
    launch: LaunchConfig, entry_args: list[str], distributed_config: str | None = None
) -> list[str]:
    """The command line that starts the training entry under the chosen launcher."""
    launcher = effective_launcher(launch)
    if launcher == "single":
        return [sys.executable, "-m", ENTRY_MODULE, *entry_args]
    if launcher == "torchrun":
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(launch.nproc),
            "--nnodes",
            str(launch.nnodes),
            "--node_rank",
            str(launch.node_rank),
            "--master_addr",
            launch.master_addr,
            "--master_port",
            str(launch.master_port),
            "-m",
            ENTRY_MODULE,
            *entry_args,
        ]
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(world_size(launch)),
        "--num_machines",
        str(launch.nnodes),
        "--machine_rank",
        str(launch.node_rank),
        "--main_process_ip",
        launch.master_addr,
        "--main_process_port",
        str(launch.master_port),
        *_accelerate_sharding_flags(launch, distributed_config),
        "--module",
        ENTRY_MODULE,
        *entry_args,
    ]


def ddp_backend(launch: LaunchConfig, cuda: bool) -> str | None:
    if world_size(launch) == 1:
        return None
    if launch.backend != "auto":
        return launch.backend
    return "nccl" if cuda else "gloo"
