"""Run llama.cpp's OpenAI-compatible server on loopback as a child process, and always stop it.

    model = resolve_local_model("qwen2.5-coder-1.5b")
    with local_server(model, log_path=run_dir / "teacher.log") as endpoint:
        client = openai.OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key)
        client.chat.completions.create(model=endpoint.model, messages=[...])  # endpoint.slots at once

The command line of each engine ("native" llama-server, "python" llama-cpp-python) is llama_command.py's.

The child is stopped on every exit path: the context manager terminates it (then kills it after
a grace period) on success, error and Ctrl-C; an atexit hook catches interpreter exit; and on
Linux the child asks the kernel (prctl PR_SET_PDEATHSIG) to be killed when its parent dies, so
even `kill -9` of our process takes the server down. The child runs in its own session, so a
Ctrl-C in the terminal reaches only us and we shut the server down in order.

The port is held from the moment it is picked until the server stops: llama-server binds with
SO_REUSEPORT, so two of them can listen on one port and the kernel splits connections between
them; a port another process may still pick is never handed to the server.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from selfinstruct.errors import TeacherError, UserError
from selfinstruct.teacher.llama_command import (
    DEFAULT_ENGINE,
    DEFAULT_N_CTX,
    DEFAULT_PARALLEL,
    NATIVE_CACHE_RAM_MB,
    Engine,
    ServerSpec,
    default_threads,
    engine_slots,
    llama_server_command,
    python_server_command,
)
from selfinstruct.teacher.packaged import LocalModel

# The engines' settings and command lines are importable from here too, beside the server they start.
__all__ = [
    "DEFAULT_ENGINE", "DEFAULT_N_CTX", "DEFAULT_PARALLEL", "NATIVE_CACHE_RAM_MB", "Engine", "LocalEndpoint", "ServerSpec",
    "default_threads", "engine_slots", "free_port", "llama_server_command", "local_server", "log_tail", "python_server_command",
    "reserved_port", "server_env",
]  # fmt: skip

DEFAULT_STARTUP_TIMEOUT = 180.0  # loading a 1 GB model from a cold disk on a busy 2-core machine
STOP_GRACE_SECONDS = 5.0
_HOST = "127.0.0.1"
# What each engine logs when its port is taken.
_PORT_TAKEN = ("address already in use", "couldn't bind http server socket")

# Runs in the child before exec: ask the kernel to SIGKILL us when the parent dies (the flag
# survives exec), then exit at once if the parent already died before the flag was set. Done
# in a tiny launcher instead of Popen(preexec_fn=...), which is unsafe in threaded programs.
_DEATHSIG_LAUNCHER = """
import ctypes, os, signal, sys
parent = int(sys.argv[1])
if sys.platform.startswith("linux"):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
if os.getppid() != parent:
    os._exit(1)
os.execvp(sys.argv[2], sys.argv[2:])
"""


def free_port(host: str = _HOST) -> int:
    """A port the OS says is free right now on host (nothing holds it afterwards)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def reserved_port(host: str = _HOST) -> Iterator[int]:
    """A free port, held until the block ends: the OS hands it to no one else, yet our server can bind it.

    The socket is bound, not listening, with SO_REUSEADDR (which uvicorn sets) and SO_REUSEPORT
    (which llama-server sets); a socket bound without them, or the OS's choice of a free port,
    cannot take it meanwhile.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind((host, 0))
        yield s.getsockname()[1]


def log_tail(path: Path, lines: int = 3, max_bytes: int = 8192) -> str:
    """The last few non-empty lines of a log file, joined into one line for an error message."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - max_bytes))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    kept = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
    return " | ".join(kept) or "(empty log)"


def _exit_text(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"{code}, {signal.Signals(-code).name}"
    return str(code)


class LocalEndpoint:
    """A running local server: where to reach it, how many requests it decodes at once, whether it lives."""

    api_key = "local"  # the server checks no key, but the openai client insists on one

    def __init__(self, proc: subprocess.Popen[bytes], spec: ServerSpec, log_path: Path) -> None:
        self.proc = proc
        self.spec = spec
        self.log_path = log_path

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL, e.g. http://127.0.0.1:PORT/v1."""
        return f"http://{self.spec.host}:{self.spec.port}/v1"

    @property
    def model(self) -> str:
        """The model name the server answers to."""
        return self.spec.alias

    @property
    def slots(self) -> int:
        """Requests the server decodes at once."""
        return self.spec.slots

    @property
    def pid(self) -> int:
        """Process id of the server."""
        return self.proc.pid

    def check_alive(self) -> None:
        """Raise TeacherError with the server's last log lines if it has exited."""
        code = self.proc.poll()
        if code is not None:
            raise TeacherError(f"the local llama.cpp server exited (code {_exit_text(code)}): {log_tail(self.log_path)} (log: {self.log_path})")


_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill after a grace period; never leaves a zombie behind."""
    with _live_lock:
        _live.discard(proc)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()


@atexit.register
def _stop_all() -> None:
    for proc in list(_live):
        _stop(proc)


def server_env() -> dict[str, str]:
    """Our environment, with OpenMP threads that sleep instead of spin while waiting (unless set)."""
    # llama.cpp's CPU backend uses OpenMP, whose threads busy-wait by default. On a machine
    # whose few cores are shared with other work, a spinning thread that gets preempted
    # stalls every step: measured here on 2 busy cores, 0.5B generation went 2.9 -> 21.7 tok/s.
    return {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}


def _spawn(cmd: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    launcher = [sys.executable, "-c", _DEATHSIG_LAUNCHER, str(os.getpid()), *cmd]
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            launcher, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, env=server_env(),
        )  # fmt: skip
    with _live_lock:
        _live.add(proc)
    return proc


def _wait_ready(endpoint: LocalEndpoint, timeout: float) -> None:
    """Poll GET /v1/models until it answers 200; fail fast if the child exits meanwhile."""
    deadline = time.monotonic() + timeout
    url = endpoint.base_url + "/models"
    # No proxies: an HTTP(S)_PROXY in the environment must not capture loopback traffic.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        code = endpoint.proc.poll()
        if code is not None:
            raise TeacherError(
                f"the local llama.cpp server exited during startup (code {_exit_text(code)}): {log_tail(endpoint.log_path)} (log: {endpoint.log_path})"
            )
        try:
            with opener.open(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass  # not listening yet, or still loading the model (llama-server answers 503)
        if time.monotonic() > deadline:
            raise TeacherError(f"the local llama.cpp server did not become ready within {timeout:.0f} s (log: {endpoint.log_path})")
        time.sleep(0.2)


@contextlib.contextmanager
def local_server(
    model: LocalModel,
    n_ctx: int = DEFAULT_N_CTX,
    n_threads: int | None = None,
    *,
    engine: Engine | None = None,
    parallel: int | None = None,
    log_path: Path | None = None,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    cache_ram_mb: int = NATIVE_CACHE_RAM_MB,
    command: Callable[[ServerSpec], list[str]] | None = None,
) -> Iterator[LocalEndpoint]:
    """Start llama.cpp's server for model on a free loopback port; yield its endpoint; always stop it.

    engine and parallel default to DEFAULT_ENGINE and DEFAULT_PARALLEL. Logs go to log_path
    (appended), or to a temp file that is removed afterwards unless the server failed. `command`
    replaces the command line (tests use a small fake server). Enter this from a thread that
    lives as long as the run: the kernel's parent-death signal follows the thread that started
    the child.
    """
    if n_ctx < 256:
        raise UserError(f"--local-ctx must be at least 256 tokens, got {n_ctx}")
    if n_threads is not None and n_threads < 1:
        raise UserError(f"--local-threads must be at least 1, got {n_threads}")
    engine = engine or DEFAULT_ENGINE
    parallel = parallel or DEFAULT_PARALLEL
    if command is None:
        command = llama_server_command
    own_log = log_path is None
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="selfinstruct-llama-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    proc = None
    try:
        with contextlib.ExitStack() as ports:
            # Another program may still take a reserved port by binding it without asking the OS; try a few.
            for attempt in range(3):
                spec = ServerSpec(
                    model_path=model.path, alias=model.name, host=_HOST, port=ports.enter_context(reserved_port(_HOST)),
                    n_ctx=n_ctx, n_threads=n_threads or default_threads(), engine=engine, parallel=parallel,
                    cache_ram_mb=cache_ram_mb,
                )  # fmt: skip
                proc = _spawn(command(spec), log_path)
                endpoint = LocalEndpoint(proc, spec, log_path)
                try:
                    _wait_ready(endpoint, startup_timeout)
                    break
                except TeacherError:
                    _stop(proc)
                    if attempt < 2 and any(m in log_tail(log_path, lines=5).lower() for m in _PORT_TAKEN):
                        continue
                    raise
            yield endpoint
    except TeacherError:
        own_log = False  # keep the log the error message points to
        raise
    finally:
        if proc is not None:
            _stop(proc)
        if own_log:
            log_path.unlink(missing_ok=True)
