"""The local server's lifecycle: ports, and each real engine's start, stop and slots.

Fast tests check the port handling with stdlib servers (command lines: test_llama_command.py). The slow tests run
both engines on the packaged 0.5B model, llama-cpp-python's server (the default) and llama.cpp's
own llama-server (built by `make llama-server`): start, ready, stop, a server killed mid-run, kill -9
of its parent, a port another process holds; and requests that overlap in time when llama-server
has more than one slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from rich.console import Console

from selfinstruct.endpoint_settings import TeacherSettings
from selfinstruct.errors import TeacherError
from selfinstruct.teacher import llama_command, llama_server
from selfinstruct.teacher.endpoint import connect, resolve_endpoint
from selfinstruct.teacher.llama_server import local_server, reserved_port
from selfinstruct.teacher.packaged import LocalModel, resolve_local_model

# --- ports -------------------------------------------------------------------------------


def _bind(port: int, *, reuseaddr: bool = False, reuseport: bool = False) -> socket.socket | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuseaddr:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        s.bind(("127.0.0.1", port))
        s.listen()
        return s
    except OSError:
        s.close()
        return None


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="SO_REUSEPORT is Linux/BSD")
def test_a_reserved_port_is_bound_by_our_servers_and_by_no_one_else() -> None:
    with reserved_port() as port:
        assert port not in {llama_server.free_port() for _ in range(200)}  # the OS hands it to no one
        assert _bind(port) is None  # nor can a program that asks for it by number
        for flags in ({"reuseport": True}, {"reuseaddr": True}):  # llama-server, llama-cpp-python's uvicorn
            ours = _bind(port, **flags)
            assert ours is not None, flags
            ours.close()


@contextlib.contextmanager
def _first_port(taken: int):
    """Patch for reserved_port: `taken` first, then real reservations."""
    real, first = llama_server.reserved_port, [taken]

    @contextlib.contextmanager
    def reserve(host: str):
        if first:
            yield first.pop()
        else:
            with real(host) as port:
                yield port

    yield reserve


def test_a_port_taken_before_the_server_binds_it_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another program holds the first port: the server fails to bind, says so, and the next port is tried."""
    blocker = _bind(0)
    assert blocker is not None
    taken = blocker.getsockname()[1]
    script = tmp_path / "server.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, sys
            from http.server import BaseHTTPRequestHandler, HTTPServer
            class H(BaseHTTPRequestHandler):
                def do_GET(self):
                    body = json.dumps({"data": [{"id": "m"}]}).encode()
                    self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
                    self.wfile.write(body)
            try:
                server = HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
            except OSError:
                print("couldn't bind HTTP server socket, hostname: 127.0.0.1, port:", sys.argv[1], flush=True)
                sys.exit(1)
            server.serve_forever()
            """
        )
    )
    model = LocalModel(name="m", path=tmp_path / "m.gguf", source="test")
    log = tmp_path / "server.log"
    try:
        with _first_port(taken) as reserve:
            monkeypatch.setattr(llama_server, "reserved_port", reserve)
            with local_server(model, log_path=log, command=lambda spec: [sys.executable, str(script), str(spec.port)]) as ep:
                assert ep.spec.port != taken
                ep.check_alive()
    finally:
        blocker.close()
    assert f"port: {taken}" in log.read_text()


# --- the real llama-server ---------------------------------------------------------------


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def small_model() -> LocalModel:
    if llama_command.native_binary() is None:
        pytest.fail(f"llama-server is not built: {llama_command.NATIVE_BUILD_HINT}")
    return resolve_local_model("qwen2.5-coder-0.5b", console=Console(stderr=True))


ENGINES = ["python", "native"]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_server_starts_answers_and_stops(engine: str, small_model: LocalModel, tmp_path: Path) -> None:
    import openai

    log = tmp_path / "teacher.log"
    with local_server(small_model, n_ctx=1024, engine=engine, parallel=2, log_path=log) as ep:
        assert ep.slots == (2 if engine == "native" else 1)
        client = openai.OpenAI(base_url=ep.base_url, api_key=ep.api_key, max_retries=0, timeout=300)
        assert [m.id for m in client.models.list().data] == ["qwen2.5-coder-0.5b"]
        reply = client.chat.completions.create(
            model=ep.model, messages=[{"role": "user", "content": "Name three primary colors, comma-separated."}], max_tokens=16, temperature=0
        )
        pid = ep.pid
        assert not _gone(pid)
        if engine == "native":
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(ep.base_url.removesuffix("/v1") + "/slots", timeout=10) as resp:
                slots = json.load(resp)
            assert [s["n_ctx"] for s in slots] == [1024, 1024]  # two slots, each with the whole context asked for
    assert (reply.choices[0].message.content or "").strip() and reply.usage and reply.usage.completion_tokens > 0
    assert _wait_gone(pid)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_server_killed_mid_run_is_reported_with_its_exit(engine: str, small_model: LocalModel, tmp_path: Path) -> None:
    with local_server(small_model, n_ctx=512, engine=engine, parallel=1, log_path=tmp_path / "teacher.log") as ep:
        os.kill(ep.pid, signal.SIGKILL)
        ep.proc.wait(timeout=10)
        with pytest.raises(TeacherError, match=r"the local llama.cpp server exited \(code -9, SIGKILL\)"):
            ep.check_alive()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_kill_9_of_the_parent_takes_the_server_down(engine: str, small_model: LocalModel, tmp_path: Path) -> None:
    parent = tmp_path / "parent.py"
    parent.write_text(
        textwrap.dedent(
            f"""
            import time
            from pathlib import Path
            from selfinstruct.teacher.packaged import LocalModel
            from selfinstruct.teacher.llama_server import local_server
            model = LocalModel(name="m", path=Path({str(small_model.path)!r}), source="test")
            with local_server(model, n_ctx=512, engine={engine!r}, parallel=1, log_path=Path({str(tmp_path / "teacher.log")!r})) as ep:
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
        assert _wait_gone(child), f"the {engine} server {child} outlived its killed parent"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_server_on_a_port_another_program_holds_moves_to_another(
    engine: str, small_model: LocalModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = _bind(0)
    assert blocker is not None
    taken = blocker.getsockname()[1]
    log = tmp_path / "teacher.log"
    try:
        with _first_port(taken) as reserve:
            monkeypatch.setattr(llama_server, "reserved_port", reserve)
            with local_server(small_model, n_ctx=512, engine=engine, parallel=1, log_path=log) as ep:
                assert ep.spec.port != taken
                ep.check_alive()
    finally:
        blocker.close()
    said = {"native": "couldn't bind HTTP server socket", "python": "address already in use"}[engine]
    assert said in log.read_text()


@pytest.mark.slow
def test_concurrent_requests_to_the_local_teacher_are_decoded_together(small_model: LocalModel, tmp_path: Path) -> None:
    """As many requests as the server has slots, sent at once: the server's decoding of each overlaps the others'.

    llama-server reports each answer's prompt and generation time; ending at `end`, a request was
    decoded during [end - prompt_ms - predicted_ms, end]. Queued requests give back-to-back intervals.
    """
    import openai

    slots = 2
    settings = TeacherSettings(teacher="local", local_model=str(small_model.path), local_ctx=1024, local_engine="native", local_slots=slots)
    endpoint = resolve_endpoint(settings)

    async def one(client: openai.AsyncOpenAI, model: str, i: int) -> tuple[float, float]:
        r = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": f"Write a short story about the number {i}."}], max_tokens=48, temperature=0
        )
        end = time.monotonic()
        timings = (r.model_extra or {})["timings"]
        return end - (timings["prompt_ms"] + timings["predicted_ms"]) / 1000, end

    async def all_at_once(live) -> list[tuple[float, float]]:
        client = openai.AsyncOpenAI(base_url=live.base_url, api_key=live.api_key, max_retries=0, timeout=600)
        try:
            return await asyncio.gather(*(one(client, live.model, i) for i in range(live.concurrency)))
        finally:
            await client.close()

    with connect(endpoint, tmp_path / "teacher.log") as live:
        assert live.concurrency == slots
        spans = asyncio.run(all_at_once(live))
    # Measured with one slot: the second decode starts as the first ends (0.01 s of overlap, the
    # client's own latency); with two slots, most of each decode overlaps the other's.
    together = min(e for _, e in spans) - max(s for s, _ in spans)
    shortest = min(e - s for s, e in spans)
    assert together > 0.5 * shortest, f"decoding did not overlap: {spans}"
