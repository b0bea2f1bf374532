"""The response-only loss agrees with TRL's, packed or padded; saved adapters are checked before a run reports success."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("trl")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from selfinstruct.errors import BrokenOutput  # noqa: E402
from selfinstruct.finetune.output import check_adapter  # noqa: E402
from tests.finetune.tiny import build_model, repetitive_rows  # noqa: E402


@pytest.fixture(scope="module")
def trainer(tmp_path_factory: pytest.TempPathFactory):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig

    from selfinstruct.finetune.data import PromptTemplate, prepare_data
    from selfinstruct.finetune.trainer import ResponseLossSFTTrainer
    from selfinstruct.records import AlpacaExample

    directory = build_model(tmp_path_factory.mktemp("tiny") / "model")
    tokenizer = AutoTokenizer.from_pretrained(str(directory))
    model = AutoModelForCausalLM.from_pretrained(str(directory))
    rows = [AlpacaExample(**r) for r in repetitive_rows(12)]
    data = prepare_data(rows, PromptTemplate.load(), tokenizer, max_length=256, val_size=0, seed=0)
    args = SFTConfig(output_dir=str(tmp_path_factory.mktemp("ckpt")), use_cpu=True, bf16=False, report_to=[], max_length=None, activation_checkpointing=False)
    return ResponseLossSFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(data.train), processing_class=tokenizer)


@pytest.mark.parametrize("padding_free", [False, True])
def test_response_loss_matches_trl_loss(trainer, padding_free: bool) -> None:
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    collate = DataCollatorForLanguageModeling(pad_token_id=trainer.processing_class.pad_token_id, padding_free=padding_free)
    batch = collate([trainer.train_dataset[i] for i in range(5)])
    assert trainer.compact_loss
    with torch.no_grad():
        ours = trainer.compute_loss(trainer.model, dict(batch))
        trainer.compact_loss = False
        try:
            reference = trainer.compute_loss(trainer.model, dict(batch))
        finally:
            trainer.compact_loss = True
    assert torch.allclose(ours, reference, atol=1e-5), (ours, reference)


def test_packed_and_padded_batches_give_the_same_loss(trainer) -> None:
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    samples = [trainer.train_dataset[i] for i in range(5)]
    pad = trainer.processing_class.pad_token_id
    with torch.no_grad():
        padded = trainer.compute_loss(trainer.model, DataCollatorForLanguageModeling(pad_token_id=pad)(samples))
        packed = trainer.compute_loss(trainer.model, DataCollatorForLanguageModeling(pad_token_id=pad, padding_free=True)(samples))
    assert torch.allclose(padded, packed, atol=1e-5)


def _adapter(directory: Path, b_value: float) -> set[str]:
    tensors = {}
    for layer in range(2):
        prefix = f"base_model.model.model.layers.{layer}.self_attn.q_proj"
        tensors[f"{prefix}.lora_A.weight"] = torch.randn(4, 64)
        tensors[f"{prefix}.lora_B.weight"] = torch.full((64, 4), b_value)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(directory / "adapter_model.safetensors"))
    return set(tensors)


def test_a_trained_adapter_passes(tmp_path: Path) -> None:
    check_adapter(tmp_path, _adapter(tmp_path, 0.01))


def test_an_untrained_adapter_fails(tmp_path: Path) -> None:
    expected = _adapter(tmp_path, 0.0)
    with pytest.raises(BrokenOutput, match="every LoRA B matrix is zero"):
        check_adapter(tmp_path, expected)


def test_missing_keys_and_missing_file_fail(tmp_path: Path) -> None:
    expected = _adapter(tmp_path, 0.01)
    with pytest.raises(BrokenOutput, match="missing 1 of 5"):
        check_adapter(tmp_path, expected | {"base_model.model.lm_head.lora_A.weight"})
    with pytest.raises(BrokenOutput, match="was not written"):
        check_adapter(tmp_path / "elsewhere", expected)
