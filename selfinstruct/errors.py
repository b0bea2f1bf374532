"""User-facing error classes: each carries a one-line message and the exit code the CLI uses.

The CLI prints these as a short red line and exits; anything else is a bug and shows a
traceback only when SELFINSTRUCT_DEBUG=1.
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
