"""The launcher is a pure function from config to argv; sharding configs; CLI flags."""

from __future__ import annotations

import json
import sys

import pytest

from twt_backend.config import LaunchConfig
from twt_backend.errors import UsageError
from twt_backend.training.launch import (
    deepspeed_config,
    effective_launcher,
    launch_argv,
    trainer_sharding_args,
    write_distributed_config,
)
from twt_backend.training.run_settings import settings_from_config

ENTRY = ["--config", "/p/artifacts/stages/stage1/run_config.json"]
PY = sys.executable


def test_single_process_argv():
    assert launch_argv(LaunchConfig(), ENTRY) == [PY, "-m", "twt_backend.training.entry", *ENTRY]


def test_torchrun_argv():
    launch = LaunchConfig(
        launcher="torchrun",
        nproc=4,
        nnodes=2,
        node_rank=1,
        master_addr="10.0.0.5",
        master_port=29555,
    )
    assert launch_argv(launch, ENTRY) == [
        PY, "-m", "torch.distributed.run",
        "--nproc_per_node", "4", "--nnodes", "2", "--node_rank", "1",
        "--master_addr", "10.0.0.5", "--master_port", "29555",
        "-m", "twt_backend.training.entry", *ENTRY,
    ]  # fmt: skip


def test_single_with_several_processes_means_torchrun():
    launch = LaunchConfig(nproc=2)
    assert effective_launcher(launch) == "torchrun"
    assert launch_argv(launch, ENTRY)[1:5] == [
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
    ]


def test_accelerate_ddp_argv():
    launch = LaunchConfig(launcher="accelerate", nproc=2, nnodes=2, node_rank=0, master_addr="h0")
    assert launch_argv(launch, ENTRY) == [
        PY, "-m", "accelerate.commands.launch",
        "--num_processes", "4", "--num_machines", "2", "--machine_rank", "0",
        "--main_process_ip", "h0", "--main_process_port", "29500",
        "--multi_gpu", "--module", "twt_backend.training.entry", *ENTRY,
    ]  # fmt: skip


def test_accelerate_one_process_has_no_multi_gpu_flag():
    argv = launch_argv(LaunchConfig(launcher="accelerate"), ENTRY)
    assert "--multi_gpu" not in argv and argv[-3:] == ["twt_backend.training.entry", *ENTRY]


@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_accelerate_deepspeed_argv(stage):
    launch = LaunchConfig(launcher="accelerate", nproc=8, distributed=stage)
    assert launch_argv(launch, ENTRY, "/p/ds.json") == [
        PY, "-m", "accelerate.commands.launch",
        "--num_processes", "8", "--num_machines", "1", "--machine_rank", "0",
        "--main_process_ip", "127.0.0.1", "--main_process_port", "29500",
        "--use_deepspeed", "--deepspeed_config_file", "/p/ds.json",
        "--module", "twt_backend.training.entry", *ENTRY,
    ]  # fmt: skip
    without_file = launch_argv(launch, ENTRY)
    assert without_file[13:16] == ["--use_deepspeed", "--zero_stage", stage[-1]]


def test_accelerate_fsdp_argv():
    launch = LaunchConfig(launcher="accelerate", nproc=2, distributed="fsdp")
    assert launch_argv(launch, ENTRY)[13:21] == [
        "--use_fsdp", "--fsdp_version", "2",
        "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP",
        "--fsdp_state_dict_type", "FULL_STATE_DICT", "--module",
    ]  # fmt: skip


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_config_file(tmp_path, stage):
    launch = LaunchConfig(launcher="torchrun", nproc=2, distributed=f"zero{stage}")
    path = write_distributed_config(launch, tmp_path)
    content = json.loads(path.read_text())
    assert content == deepspeed_config(stage)
    assert content["zero_optimization"]["stage"] == stage
    assert content["train_micro_batch_size_per_gpu"] == "auto"
    assert ("stage3_gather_16bit_weights_on_model_save" in content["zero_optimization"]) == (
        stage == 3
    )
    assert trainer_sharding_args(launch, path) == {"deepspeed": str(path)}


def test_fsdp_and_ddp_sharding_args(tmp_path):
    fsdp = LaunchConfig(nproc=2, distributed="fsdp")
    path = write_distributed_config(fsdp, tmp_path)
    args = trainer_sharding_args(fsdp, path)
    assert (
        args["fsdp"] is True and args["fsdp_config"]["auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    )
    assert json.loads(path.read_text()) == args["fsdp_config"]
    assert write_distributed_config(LaunchConfig(), tmp_path / "none") is None
    assert trainer_sharding_args(LaunchConfig(), None) == {}


def test_train_cli_flags_build_the_job_config(project, tmp_path):
    from twt_backend.cli import build_parser
    from twt_backend.cli.train_cmds import train_job_config

    args = build_parser().parse_args(
        ["train", str(tmp_path), "--stage", "2", "--student", str(tmp_path), "--epochs", "2",
         "--max-steps", "7", "--batch-size", "4", "--lr", "2e-4", "--max-length", "512",
         "--lora-rank", "16", "--nproc", "2", "--nnodes", "2", "--node-rank", "1",
         "--master-addr", "10.1.1.1", "--no-group-by-length", "--distributed", "zero3"]
    )  # fmt: skip
    config = train_job_config(args, project)
    assert config["stage"] == 2 and config["n_stages"] == 3
    training = config["training"]
    assert (training["epochs"], training["max_steps"], training["batch_size"]) == (2.0, 7, 4)
    assert (training["lr"], training["max_length"], training["group_by_length"]) == (
        2e-4,
        512,
        False,
    )
    assert training["student"] == str(tmp_path.resolve())
    assert training["save_steps"] == 50  # untouched flags keep the paper's defaults
    assert config["lora"]["rank"] == 16 and config["lora"]["alpha"] == 16
    launch = config["launch"]
    assert (launch["launcher"], launch["nproc"], launch["nnodes"], launch["node_rank"]) == (
        "torchrun",
        2,
        2,
        1,
    )
    assert launch["master_addr"] == "10.1.1.1" and launch["distributed"] == "zero3"


def test_paper_defaults_and_validation():
    settings = settings_from_config({"stage": 1})
    assert (settings.training.lr, settings.training.batch_size, settings.training.epochs) == (
        1e-5,
        8,
        4.0,
    )
    assert (settings.lora.rank, settings.lora.alpha, settings.lora.dropout) == (8, 16, 0.05)
    assert settings.training.max_length == 4096
    assert settings_from_config({"stage": 4}).n_stages == 4
    with pytest.raises(UsageError, match="unknown option"):
        settings_from_config({"stage": 1, "training": {"learning_rate": 1.0}})
    with pytest.raises(UsageError, match="stage"):
        settings_from_config({"stage": 5})
    with pytest.raises(UsageError, match="lr"):
        settings_from_config({"stage": 1, "training": {"lr": -1.0}})


def test_twt_train_refuses_a_stage_that_cannot_start_without_creating_a_job(
    project, tiny_model_dir, capsys
):
    from training_helpers import seed_samples

    from twt_backend.cli import main

    flags = ["--student", str(tiny_model_dir), "--quiet"]
    assert main(["train", str(project.root), "--stage", "1", *flags]) == 2
    assert "twt select" in capsys.readouterr().err
    seed_samples(project, 3)
    assert main(["train", str(project.root), "--stage", "2", *flags]) == 2
    assert "train stage 1 first" in capsys.readouterr().err
    assert project.scalar("SELECT COUNT(*) FROM jobs") == 0


def test_train_cli_starts_from_the_projects_saved_settings(project):
    from twt_backend.cli import build_parser
    from twt_backend.cli.train_cmds import train_job_config
    from twt_backend.config import LoraConfig, TrainingConfig
    from twt_backend.settings import save_config

    save_config(project, TrainingConfig(lr=3e-4, batch_size=2, max_length=256))
    save_config(project, LoraConfig(rank=4))
    args = build_parser().parse_args(["train", str(project.root), "--stage", "1", "--lr", "1e-3"])
    config = train_job_config(args, project)
    assert config["training"]["lr"] == 1e-3  # a flag wins
    assert (config["training"]["batch_size"], config["training"]["max_length"]) == (2, 256)
    assert config["lora"]["rank"] == 4
    project.set_meta("n_stages", "4")
    assert train_job_config(args, project)["n_stages"] == 4
