"""What a person watching `finetune` sees: one line per logging step with step/total, loss, tokens/s and ETA.

    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(ProgressPrinter(console.print))
    ...                                      # after training: printer.tokens, .tokens_per_second, .train_seconds
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class ProgressPrinter(TrainerCallback):
    """Prints training progress; tokens/s counts real (non-padding) input tokens, as the Trainer tracks them."""

    def __init__(self, say: Callable[..., Any]) -> None:
        self.say = say
        self.start = 0.0
        self.start_step = 0
        self.start_tokens = 0
        self.tokens = 0
        self.train_seconds = 0.0
        self.eval_seconds = 0.0
        self.started = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = True
        self.eval_seconds = 0.0
        self.start = time.time()
        self.start_step = state.global_step
        self.start_tokens = state.num_input_tokens_seen
        resumed = f", resuming after step {state.global_step}" if state.global_step else ""
        self.say(f"training {state.max_steps} steps{resumed}")

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        if not self.started:
            return  # an evaluation before training; the caller reports it
        step, total = state.global_step, state.max_steps
        if "eval_loss" in logs:
            self.eval_seconds += logs.get("eval_runtime", 0.0)
            self.say(f"step {step}/{total}  validation loss {logs['eval_loss']:.4f}")
            return
        if "loss" not in logs:
            return
        self._measure(state)
        done = step - self.start_step
        eta = self.train_seconds / done * (total - step) if done > 0 else 0.0
        self.say(
            f"step {step}/{total}  loss {logs['loss']:.4f}  lr {logs.get('learning_rate', 0):.2e}  "
            f"{self.tokens_per_second:,.0f} tok/s  elapsed {_duration(self.train_seconds)}  eta {_duration(eta)}"
        )

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._measure(state)

    def _measure(self, state: Any) -> None:
        # Validation passes happen inside the training loop; they are not training throughput.
        self.train_seconds = time.time() - self.start - self.eval_seconds
        self.tokens = state.num_input_tokens_seen - self.start_tokens

    @property
    def tokens_per_second(self) -> float:
        """Training throughput of this session (all processes), in non-padding tokens per second."""
        return self.tokens / self.train_seconds if self.train_seconds > 0 else 0.0
