"""User-facing errors: each is one line for the user and the exit code the CLI ends with.

The CLI (`selfinstruct.cli_options.guarded`) prints any of these as a short red line and exits
with its code; anything else is a bug, and SELFINSTRUCT_DEBUG=1 shows its traceback.

    SelfInstructError              exit 1    base: a failure the user should see as one line
    ├── UserError                  exit 2    the user's to fix: a file, an option, a --config key, a
    │                                        prompt template; an endpoint that rejects the key, lacks
    │                                        the model, or cannot be reached before any answer came
    ├── TeacherError               exit 3    the teacher failed for good: retries spent, a rejected
    │                                        request, the local llama.cpp server died or never started
    ├── CapReached                 exit 4    --max-usd, --max-total-tokens or the proposal cap stopped
    │                                        the run before its budget; work so far is on disk
    ├── BrokenOutput               exit 1    a saved model failed its read-back check (finetune), or an
    │                                        exported GGUF disagrees with the model (export-model);
    │                                        the checkpoints, or the failing file, are kept
    └── TrainingInterrupted        exit 130  Ctrl-C during finetune; --resume continues

Mapped by the CLI without a class of ours:

    KeyboardInterrupt              exit 130  Ctrl-C anywhere else; the run resumes when rerun
    OSError                        exit 2    disk full, permission denied: one line, no traceback
    a bad or missing option value  exit 2    `--budget abc`, a missing --seeds: one line
"""


class SelfInstructError(Exception):
    """Base class for errors the user should see as one line, never as a traceback."""

    exit_code = 1


class UserError(SelfInstructError):
    """Bad input from the user: files, arguments, configuration. Exit code 2."""

    exit_code = 2


class TeacherError(SelfInstructError):
    """The teacher endpoint failed for good (unreachable, auth, unknown model, retries spent)."""

    exit_code = 3


class CapReached(SelfInstructError):
    """A spend or attempt cap stopped the run before the budget was met; work so far is on disk."""

    exit_code = 4


class BrokenOutput(SelfInstructError):
    """A saved model failed its read-back check, or an exported GGUF its comparison with the model."""

    exit_code = 1


class TrainingInterrupted(SelfInstructError):
    """Ctrl-C during training: checkpoints stay, and --resume continues from the last one."""

    exit_code = 130
