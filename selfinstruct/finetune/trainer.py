"""TRL's SFTTrainer with one change for CPUs: the loss projects only the positions that carry a label.

    trainer = ResponseLossSFTTrainer(model=model, args=SFTConfig(...), train_dataset=..., processing_class=tokenizer)

TRL computes the loss with a fused, chunked LM head. On CUDA it scores only labelled positions
with Triton kernels; elsewhere it scores every position (prompt and padding too) through a torch
fallback that makes several full passes over each [tokens x vocab] tile. For a 262K-vocabulary
model like Gemma 3 on a CPU that head is most of the step. Here the model's own forward projects
just the labelled positions (`logits_to_keep`, which also applies the model's logit scaling and
soft-capping), and cross-entropy runs on those: the same loss (tests/finetune/test_output.py),
2.7x the tokens/s of TRL's head for Gemma 3 270M with LoRA on 2 CPU cores (bench/finetune.py).
Everything else - the loop, accumulation, DDP, checkpoints, evaluation - is the Trainer's own.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F
from trl import SFTTrainer

IGNORE_INDEX = -100


def _accepts_logits_to_keep(model: Any) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(type(base).forward).parameters


class ResponseLossSFTTrainer(SFTTrainer):
    """SFTTrainer whose loss, off CUDA, is cross-entropy over the labelled (response) positions only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.compact_loss = self.args.device.type not in ("cuda", "xpu") and _accepts_logits_to_keep(self.model)

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        if not self.compact_loss or return_outputs:
            return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        labels = inputs["labels"]
        # Position i predicts token i + 1; the last position predicts nothing.
        targets = F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)
        # One index list for the whole batch: padding-free batches are a single row, so it is exact there;
        # for padded batches it is the union over rows, still far fewer than all positions.
        keep = (targets != IGNORE_INDEX).any(dim=0).nonzero().flatten()
        forward = {k: v for k, v in inputs.items() if k != "labels"}
        outputs = model(**forward, logits_to_keep=keep, use_cache=False)
        logits = outputs.logits.float().flatten(0, 1)
        loss_sum = F.cross_entropy(logits, targets[:, keep].flatten(), ignore_index=IGNORE_INDEX, reduction="sum")
        count = (targets != IGNORE_INDEX).sum() if num_items_in_batch is None else num_items_in_batch
        loss = loss_sum / torch.as_tensor(count, device=loss_sum.device).clamp(min=1)
        # As in Trainer.compute_loss: num_items_in_batch counts every rank's tokens, and DDP averages gradients.
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        return loss
