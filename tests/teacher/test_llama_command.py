"""The local server's engines: command lines, slots, and the messages naming what is missing to build one."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfinstruct.endpoint_settings import TeacherSettings
from selfinstruct.errors import UserError
from selfinstruct.teacher import llama_command
from selfinstruct.teacher.endpoint import LOCAL_SLOTS, resolve_endpoint
from selfinstruct.teacher.llama_command import ServerSpec, engine_slots
from selfinstruct.teacher.llama_server import local_server
from selfinstruct.teacher.packaged import LocalModel

SPEC = ServerSpec(model_path=Path("/m.gguf"), alias="a", host="127.0.0.1", port=1234, n_ctx=4096, n_threads=2)


def _flags(cmd: list[str]) -> dict[str, str]:
    return {flag: value for flag, value in zip(cmd, cmd[1:]) if flag.startswith("--") and not value.startswith("--")}


def test_native_command_gives_each_slot_the_context_and_bounds_the_prompt_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llama_command, "native_binary", lambda: Path("/venv/bin/llama-server"))
    cmd = llama_command.llama_server_command(SPEC.model_copy(update={"parallel": 3, "cache_ram_mb": 128}))
    flags = _flags(cmd)
    assert cmd[0] == "/venv/bin/llama-server"
    assert flags["--host"] == "127.0.0.1" and flags["--port"] == "1234" and flags["--alias"] == "a"
    assert flags["--parallel"] == "3" and flags["--ctx-size"] == str(3 * 4096)
    assert flags["--threads"] == "2" and flags["--threads-batch"] == "2"
    assert flags["--cache-ram"] == "128"  # llama.cpp's own default is 8 GiB


def test_python_command_turns_off_the_buffers_that_grow(monkeypatch: pytest.MonkeyPatch) -> None:
    cmd = llama_command.llama_server_command(SPEC.model_copy(update={"engine": "python"}))
    flags = _flags(cmd)
    assert cmd[1:3] == ["-m", "llama_cpp.server"]
    assert flags["--model_alias"] == "a" and flags["--n_ctx"] == "4096" and flags["--n_threads"] == "2"
    assert flags["--logits_all"] == "False" and flags["--cache"] == "False"
    assert flags["--interrupt_requests"] == "False"


def test_slots_follow_the_engine() -> None:
    assert SPEC.model_copy(update={"parallel": 3}).slots == 3
    assert SPEC.model_copy(update={"engine": "python", "parallel": 3}).slots == 1
    assert LOCAL_SLOTS == engine_slots(llama_command.DEFAULT_ENGINE, llama_command.DEFAULT_PARALLEL)
    assert resolve_endpoint(TeacherSettings()).concurrency == LOCAL_SLOTS
    assert resolve_endpoint(TeacherSettings(concurrency=7)).concurrency == 7


def test_default_slots_follow_the_usable_cores() -> None:
    """One slot where more would only share a few cores (measured: 1 slot fastest on 2), four from 8 cores."""
    assert [llama_command.default_parallel(cores) for cores in (1, 2, 4, 7, 8, 16, 64)] == [1, 1, 1, 1, 4, 4, 4]
    assert llama_command.DEFAULT_PARALLEL == llama_command.default_parallel(llama_command.default_threads())


def test_missing_native_binary_names_the_build_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llama_command, "native_binary", lambda: None)
    model = LocalModel(name="m", path=tmp_path / "m.gguf", source="test")
    with pytest.raises(UserError, match=r"needs llama.cpp's llama-server: run `make llama-server`"):
        with local_server(model, engine="native"):
            pass


def test_missing_llama_cpp_python_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = llama_command.importlib.util.find_spec
    monkeypatch.setattr(llama_command.importlib.util, "find_spec", lambda name: None if name == "llama_cpp" else real(name))
    model = LocalModel(name="m", path=tmp_path / "m.gguf", source="test")
    with pytest.raises(UserError, match=r"llama_cpp is missing\): run CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'selfinstruct\[local\]'"):
        with local_server(model, engine="python"):
            pass


def test_native_binary_is_found_next_to_python_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "bin" / "llama-server"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setattr(llama_command.sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", "")
    assert llama_command.native_binary() == binary
    binary.unlink()
    assert llama_command.native_binary() is None
