"""`twt export`: the adapter copy, the merged model (logits of base + adapter), the model card."""

from __future__ import annotations

import json

import pytest
from test_report import FAKE_KEY, RESULTS, URL_PASSWORD, add_queries, add_results, add_teacher

from twt_backend.artifacts import adapter_dir, run_config_path
from twt_backend.cli import main
from twt_backend.config import SelectionConfig, TrainingConfig
from twt_backend.errors import UsageError
from twt_backend.evaluation.export import export_stage
from twt_backend.evaluation.model_card import hub_name
from twt_backend.evaluation.provenance import adapter_sha256
from twt_backend.settings import save_config


def make_adapter(base_dir, adapter_path) -> None:
    """A LoRA adapter over the tiny model whose B matrices are non-zero (the merge matters)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    model = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear"))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.normal_(0.0, 0.2)
    model.save_pretrained(adapter_path)


def logits(model, input_ids):
    import torch

    with torch.no_grad():
        return model(input_ids=input_ids).logits


@pytest.fixture
def trained(project, tiny_model_dir, monkeypatch):
    save_config(project, TrainingConfig(student=str(tiny_model_dir)))
    save_config(project, SelectionConfig(threshold=0.9))
    add_teacher(project, monkeypatch)
    add_queries(project, 5)
    add_results(project, RESULTS)
    make_adapter(tiny_model_dir, adapter_dir(project.root, 1))
    with project.transaction() as conn:  # stage 1's results were made by this adapter
        conn.execute(
            "UPDATE eval_results SET adapter_sha256=? WHERE method='stage1'",
            (adapter_sha256(adapter_dir(project.root, 1)),),
        )
    run_config = {"settings": {"stage": 1, "n_stages": 3, "training": {"lr": 0.0002,
                  "student": "HuggingFaceTB/SmolLM2-135M-Instruct", "epochs": 2.0},
                  "lora": {"rank": 4}}, "n_examples": 17}  # fmt: skip
    run_config_path(project.root, 1).write_text(json.dumps(run_config), encoding="utf-8")
    return project


def test_merged_export_equals_base_plus_adapter(trained, tiny_model_dir, capsys):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = trained.root / "export-out"
    code = main(["export", str(trained.root), "--stage", "1", "--out", str(out), "--merged"])
    assert code == 0, capsys.readouterr().err
    assert str(out / "merged") in capsys.readouterr().out
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert list((out / "merged").glob("*.safetensors"))
    assert (out / "merged" / "tokenizer.json").is_file()
    assert not (out / "merged" / "adapter_config.json").exists()
    merged_card = (out / "merged" / "README.md").read_text("utf-8")
    assert "library_name: transformers" in merged_card and "AutoModelForCausalLM" in merged_card

    ids = torch.tensor([[1, 5, 9, 42, 7, 100, 3]])
    merged = AutoModelForCausalLM.from_pretrained(out / "merged").eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    base_logits = logits(base, ids)
    combined = PeftModel.from_pretrained(base, str(adapter_dir(trained.root, 1))).eval()
    expected = logits(combined, ids)
    assert torch.allclose(logits(merged, ids), expected, atol=1e-4)
    assert (expected - base_logits).abs().max() > 1e-2


def test_model_card_and_no_secret(trained):
    from huggingface_hub import ModelCard

    out = export_stage(trained, 1)
    assert out == trained.artifacts / "export" / "stage1"
    card = ModelCard.load(out / "adapter" / "README.md")
    assert card.data.library_name == "peft"
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"  # the run's student
    assert "twt" in card.data.tags
    text = card.text
    assert "| lr | 0.0002 |" in text  # the run's training config wins over the project's
    assert "gpt-teacher" in text and "gpt-4o-mini" in text and "openai" in text
    assert "threshold 0.9" in text
    assert "17 training examples" in text
    assert "-87.5%" in text and "+25.0" in text  # the comparison table
    for path in out.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes()
            assert URL_PASSWORD.encode() not in path.read_bytes()
            assert b"TWT_TEST_REPORT_KEY" not in path.read_bytes()
    assert export_stage(trained, 1) == out  # an earlier export is replaced


def test_export_refusals(trained, tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not empty"):
        export_stage(trained, 1, foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert main(["export", str(trained.root), "--stage", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stage 2 has not been trained" in err
    assert main(["export", str(trained.root), "--stage", "9"]) == 2
    assert main(["export", str(tmp_path / "nowhere"), "--stage", "1"]) == 2


def test_hub_name():
    assert hub_name("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert hub_name("/models/student") is None
    assert hub_name("smollm2-135m") is None
