"""Run a Python program from a teacher's output in a sandbox and say how it ended: ok, error, timeout.

    result = await run_python("print(sum(range(10)))", stdin="")
    result.status, result.stdout        # "ok", "45\n"

Each program runs in a fresh child process (`python -I -S -B`, the standard library only) with a
scrubbed environment, stdin from the instance's input, an empty temporary working directory that
is deleted afterwards, and a wall-clock timeout after which its whole process group is killed.
sandbox_runner.py confines the child before the program runs (resource limits, Landlock, an audit
hook, seccomp); here it is also put in a new network namespace (`unshare --net`, or with a user
namespace when not root) where the kernel allows one, so it has no network at all. Where neither
Landlock, seccomp nor namespaces exist, the runner's audit hook is the only wall: good against
careless code, not against code written to escape (`network`, `landlock` and `seccomp` on each
result say which walls stood). The process-count limit does not bind root; seccomp's refusal of
fork and exec does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

RUNNER = Path(__file__).with_name("sandbox_runner.py")
WALL_SECONDS = 5.0
CPU_SECONDS = 3
MEMORY_BYTES = 512 << 20
FILE_BYTES = 8 << 20
PROCESSES = 16
OUTPUT_CHARS = 4000  # of stdout and stderr kept for the verdict
# The program's environment: nothing of ours (API keys, proxies) reaches it.
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}


class SandboxResult(BaseModel):
    """How one run ended. status: ok, error (it raised or exited non-zero), timeout (wall or CPU
    limit), killed (another signal or a limit), blocked (it stopped because the sandbox refused
    something, e.g. a socket: not the program's fault as far as we can tell)."""

    status: Literal["ok", "error", "timeout", "killed", "blocked"]
    error_type: str | None = None
    message: str = ""
    line: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    network: str = "audit hook"  # what kept it off the network: "namespace" or the audit hook only
    landlock: int = 0  # the Landlock ABI that confined it (0: none)
    seccomp: bool = False  # whether the kernel refused it fork and exec

    @property
    def reason(self) -> str:
        """One readable line: 'ZeroDivisionError: division by zero (line 3)', 'timed out after 5 s'."""
        if self.status == "timeout":
            return f"timed out (limits: {WALL_SECONDS:g} s wall, {CPU_SECONDS} s CPU)"
        where = f" (line {self.line})" if self.line else ""
        text = f"{self.error_type}: {self.message}" if self.message else (self.error_type or self.status)
        return (text + where)[:300]


@functools.lru_cache(maxsize=1)
def network_prefix() -> tuple[str, ...]:
    """The command that puts the child in a new network namespace, or () where the kernel refuses one."""
    candidates = [("unshare", "--net"), ("unshare", "--user", "--map-root-user", "--net")]
    if os.geteuid() != 0:
        candidates.reverse()
    for prefix in candidates:
        try:
            probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)  # noqa: S603 - fixed arguments
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return prefix
    return ()


def _read(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            return fh.read(OUTPUT_CHARS * 4).decode("utf-8", "replace")[:OUTPUT_CHARS]
    except OSError:
        return ""


_BLOCKED_ERRNOS = {1, 13, 30, 97, 99, 101}  # EPERM, EACCES, EROFS, EAFNOSUPPORT, EADDRNOTAVAIL, ENETUNREACH


async def run_python(source: str, stdin: str = "", wall_seconds: float = WALL_SECONDS, audit_hook: bool = True) -> SandboxResult:
    """Run `source` as a program in the sandbox; never raises for anything the program does.

    `audit_hook=False` leaves the runner's audit hook out, so that tests can show the kernel's walls alone.
    """
    prefix = network_prefix()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="selfinstruct-sandbox-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        (root / "work").mkdir()
        (root / "program.py").write_text(source, encoding="utf-8")
        limits = [str(v) for v in (CPU_SECONDS, MEMORY_BYTES, FILE_BYTES, PROCESSES)] + ([] if audit_hook else ["kernel-only"])
        command = [*prefix, sys.executable, "-I", "-S", "-B", str(RUNNER), str(root), *limits]
        with (root / "stdout").open("wb") as out, (root / "stderr").open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE, stdout=out, stderr=err, cwd=root / "work", env=_ENV, start_new_session=True
            )
            try:
                await asyncio.wait_for(proc.communicate(stdin.encode("utf-8")), wall_seconds)
                timed_out = False
            except (asyncio.TimeoutError, TimeoutError):
                timed_out = True
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)  # anything it started goes with it
                await proc.wait()
        seconds = round(time.monotonic() - started, 4)
        common = {"stdout": _read(root / "stdout"), "stderr": _read(root / "stderr"), "seconds": seconds,
                  "network": "namespace" if prefix else "audit hook"}  # fmt: skip
        try:
            report = json.loads((root / "result.json").read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            report = {}
    if timed_out or proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and not report:
        return SandboxResult(status="timeout", **common)
    if not report:
        name = signal.Signals(-proc.returncode).name if proc.returncode and proc.returncode < 0 else f"exit code {proc.returncode}"
        return SandboxResult(status="killed", error_type=name, message=common["stderr"].strip()[-300:], **common)
    status = report.get("status", "error")
    if status == "error" and (report.get("blocked") or report.get("errno") in _BLOCKED_ERRNOS):
        status = "blocked"
    return SandboxResult(
        status=status, error_type=report.get("type"), message=report.get("message", ""), line=report.get("line"),
        landlock=report.get("landlock", 0), seccomp=bool(report.get("seccomp")), **common,
    )  # fmt: skip
