"""How llama.cpp's OpenAI-compatible server is started: its engines, their defaults and command lines.

    spec = ServerSpec(model_path=path, alias="qwen2.5-coder-1.5b", host="127.0.0.1", port=port, n_ctx=4096, n_threads=2)
    argv = llama_server_command(spec)   # llama-server, or python -m llama_cpp.server

Two engines serve the same OpenAI API (`ServerSpec.engine`, `--local-engine`):
- "native" (the default): llama.cpp's own `llama-server`, built from source into the virtualenv by
  `make llama-server`. `--parallel N` slots decode N requests at once with continuous batching,
  each slot keeps the KV cache of its last prompt, and a new request goes to the slot whose cached
  prompt shares the most with it, so prompts should put their fixed part first. Idle slots' prompt
  states are kept in a host-memory cache that llama.cpp bounds by `--cache-ram` (upstream default
  8 GiB; we set NATIVE_CACHE_RAM_MB).
- "python": `python -m llama_cpp.server` from llama-cpp-python[server], one request at a time.
  Its defaults grow without bound: it keeps every evaluated token's logits (`logits_all`, 0.6 MB a
  token with Qwen2.5's 151,936-token vocabulary) and its RAM state cache copies them into each
  saved state without counting them against `--cache_size` (a 664-token prompt: 8 MB counted,
  404 MB not). We turn `logits_all` off and its state cache off.

Starting, watching and stopping the process is llama_server.py's.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from selfinstruct.errors import UserError

Engine = Literal["native", "python"]
# Measured side by side on 2 cores with the 1.5B: llama-server decodes about as fast (1.04x tokens/s,
# bench/local_teacher.py --section engines) but keeps every stage's prompt cached, so whole runs are
# faster: a --budget 10 run 1.43x (median of 3 rounds), make demo at least 1.6x (llama-cpp-python had
# 10 of 20 instructions after 1089 s; llama-server finished all 20 in 662 s). Both stay near 2.0-2.2 GB.
DEFAULT_ENGINE: Engine = "native"


def default_threads() -> int:
    """CPU cores this process may run on (llama-cpp-python's own default is half the cores)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# Usable cores from which the native server gets 4 slots instead of 1.
SLOTS_MIN_CORES = 8


def default_parallel(cores: int | None = None) -> int:
    """Slots of the native server for a machine with `cores` usable cores: 1 below SLOTS_MIN_CORES, else 4.

    Measured on 2 cores (bench/local_teacher.py --section engines, the 1.5B): a `--budget 10` generate
    took 438 s with 1 slot, 515 s with 2 and 528 s with 4. With few cores decoding is compute-bound,
    so more slots only share the same cores. On larger machines batched decoding should pay: 4 slots
    there (not measured here).
    """
    cores = default_threads() if cores is None else cores
    return 1 if cores < SLOTS_MIN_CORES else 4


# Slots of the native server: requests decoded at once, and the local teacher's default concurrency.
DEFAULT_PARALLEL = default_parallel()
# Room for a propose prompt (8 example tasks + the 20 instructions it asks for) with margin, per
# slot; a full 4096-token KV cache is ~50 MB (0.5B) to ~115 MB (1.5B).
DEFAULT_N_CTX = 4096
# Host-memory cache of idle slots' prompt states (native engine), in MiB.
NATIVE_CACHE_RAM_MB = 256
NATIVE_BINARY = "llama-server"
NATIVE_BUILD_HINT = "run `make llama-server` in the selfinstruct checkout (it builds llama.cpp's server from source with CMake)"
PYTHON_INSTALL_HINT = "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'selfinstruct[local]'"
class ServerSpec(BaseModel):
    """Everything needed to build the server's command line."""

    model_config = ConfigDict(frozen=True)

    model_path: Path
    alias: str
    host: str
    port: int
    n_ctx: int = Field(description="context tokens per slot")
    n_threads: int
    engine: Engine = DEFAULT_ENGINE
    parallel: int = Field(DEFAULT_PARALLEL, ge=1, description="slots (native engine; the python engine has one)")
    cache_ram_mb: int = Field(NATIVE_CACHE_RAM_MB, ge=0, description="idle slots' prompt cache (native engine); 0: off")

    @property
    def slots(self) -> int:
        """Requests the server decodes at once."""
        return engine_slots(self.engine, self.parallel)


def engine_slots(engine: Engine, parallel: int = DEFAULT_PARALLEL) -> int:
    """Requests an engine decodes at once: its slots for the native server, one for llama-cpp-python."""
    return parallel if engine == "native" else 1


def native_binary() -> Path | None:
    """llama-server next to this Python (where `make llama-server` puts it), else on PATH."""
    beside = Path(sys.executable).parent / NATIVE_BINARY
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(NATIVE_BINARY)
    return Path(found) if found else None


def native_server_command(spec: ServerSpec) -> list[str]:
    """llama.cpp's `llama-server`: spec.parallel slots of spec.n_ctx tokens each, bounded prompt cache."""
    binary = native_binary()
    if binary is None:
        raise UserError(f"the local teacher needs llama.cpp's {NATIVE_BINARY}: {NATIVE_BUILD_HINT}")
    return [
        str(binary),
        "--model", str(spec.model_path),
        "--alias", spec.alias,
        "--host", spec.host,
        "--port", str(spec.port),
        # Without --kv-unified the context is split evenly between the slots.
        "--ctx-size", str(spec.n_ctx * spec.parallel),
        "--parallel", str(spec.parallel),
        "--threads", str(spec.n_threads),
        "--threads-batch", str(spec.n_threads),
        "--cache-ram", str(spec.cache_ram_mb),
        "--no-webui",
    ]  # fmt: skip


def python_server_command(spec: ServerSpec) -> list[str]:
    """`python -m llama_cpp.server`, one request at a time, with its unbounded buffers turned off."""
    for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
        if importlib.util.find_spec(module) is None:
            raise UserError(f"the python engine needs llama-cpp-python with its server extra ({module} is missing): run {PYTHON_INSTALL_HINT}")
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(spec.model_path),
        "--model_alias", spec.alias,
        "--host", spec.host,
        "--port", str(spec.port),
        "--n_ctx", str(spec.n_ctx),
        "--n_threads", str(spec.n_threads),
        "--n_threads_batch", str(spec.n_threads),
        # A newer request must not cut off one that is streaming; they queue instead.
        "--interrupt_requests", "False",
        # The server's default (True) keeps n_ctx x vocabulary floats (2.5 GB for Qwen2.5 at 4096).
        "--logits_all", "False",
        "--cache", "False",
    ]  # fmt: skip


def llama_server_command(spec: ServerSpec) -> list[str]:
    """The command line of spec's engine."""
    return native_server_command(spec) if spec.engine == "native" else python_server_command(spec)
