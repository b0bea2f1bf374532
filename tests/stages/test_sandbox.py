"""The code verifier's sandbox as a security boundary: each escape attempt is contained and the next run goes on.

The attempts are kept small for a shared machine: the fork bomb is refused at its first fork, the
10 GB allocation is refused by the address-space limit before any page is touched, and the
endless loop is stopped by the 3 s CPU limit. The kernel-only tests leave the runner's audit hook
out to show that the network namespace, Landlock and seccomp hold by themselves where the kernel
has them (the fork test forks once, never a bomb).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from selfinstruct.stages.verifiers.sandbox import network_prefix, run_python


def run(source: str, **kwargs: object):  # noqa: ANN201
    return asyncio.run(run_python(source, **kwargs))  # type: ignore[arg-type]


@pytest.fixture
def listener():  # noqa: ANN201
    """A TCP server on 127.0.0.1 that counts the connections it accepts: any count above 0 is an escape."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    accepted.append(conn.recv(100))
                except OSError:
                    accepted.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def _connect(port: int) -> str:
    return f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\ns.sendall(b'escaped')\nprint('connected')"


def test_a_program_runs_and_its_output_and_errors_come_back():
    ok = run("import sys\nprint(sum(range(10)))\nprint(sys.stdin.read().upper())", stdin="hello")
    assert ok.status == "ok" and ok.stdout.split() == ["45", "HELLO"]
    failed = run("x = 1\nprint(x)\n1 / 0")
    assert failed.status == "error" and failed.reason == "ZeroDivisionError: division by zero (line 3)"


def test_a_socket_reaches_nothing(listener):
    port, accepted = listener
    result = run(_connect(port))
    assert result.status == "blocked" and "connected" not in result.stdout
    time.sleep(0.3)
    assert accepted == []
    assert run("print('next')").stdout == "next\n"  # the run goes on


def test_writes_outside_its_folder_land_nowhere():
    marker = f"escape-{uuid.uuid4().hex}"
    targets = [Path("/tmp") / marker, Path.home() / marker]
    program = "\n".join(
        f"try:\n    open({str(t)!r}, 'w').write('x')\nexcept OSError as exc:\n    print(type(exc).__name__)" for t in targets
    ) + "\nopen('inside.txt', 'w').write('fine')\nprint(open('inside.txt').read())"
    result = run(program)
    assert result.status == "ok" and result.stdout.split() == ["SandboxBlocked", "SandboxBlocked", "fine"]
    assert not any(t.exists() for t in targets)


def test_a_fork_bomb_is_stopped_and_the_run_goes_on():
    before = len(os.listdir("/proc"))
    started = time.monotonic()
    result = run("import os\nwhile True:\n    os.fork()")
    assert result.status == "blocked" and "os.fork" in result.message
    assert time.monotonic() - started < 3
    assert len(os.listdir("/proc")) < before + 10  # nothing multiplied
    result = run("import subprocess\nsubprocess.run(['sh', '-c', ':(){ :|:& };:'])")
    assert result.status == "blocked"
    assert run("print('next')").status == "ok"


def test_ten_gigabytes_are_refused_without_touching_memory():
    result = run("data = bytearray(10 * 1024 ** 3)\nprint(len(data))")
    assert result.status == "error" and result.error_type == "MemoryError"
    growing = run("chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 ** 2))")
    assert growing.status == "error" and growing.error_type == "MemoryError"


def test_a_program_that_never_ends_is_stopped():
    started = time.monotonic()
    spinning = run("while True:\n    pass")
    # 3 s of CPU, or the 5 s wall clock on a busy machine; a little slack for starting the process.
    assert spinning.status == "timeout" and time.monotonic() - started < 8
    sleeping = run("import time\ntime.sleep(60)", wall_seconds=1.0)
    assert sleeping.status == "timeout" and sleeping.seconds < 3


def test_its_environment_holds_none_of_ours(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-key")
    result = run("import os\nprint(sorted(os.environ))\nprint(os.getcwd())\nprint(os.listdir('.'))")
    assert "OPENAI_API_KEY" not in result.stdout and "sk-secret" not in result.stdout
    assert result.stdout.splitlines()[-1] == "[]"  # an empty working folder


@pytest.mark.skipif(not network_prefix(), reason="this kernel gives no network namespace")
def test_the_network_namespace_alone_stops_a_connection(listener):
    port, accepted = listener
    result = run(_connect(port), audit_hook=False)
    assert result.network == "namespace" and result.status == "blocked" and "connected" not in result.stdout
    time.sleep(0.3)
    assert accepted == []


def test_landlock_alone_stops_writes_outside():
    marker = Path("/tmp") / f"escape-{uuid.uuid4().hex}"
    result = run(f"open({str(marker)!r}, 'w').write('x')", audit_hook=False)
    if result.landlock == 0:
        marker.unlink(missing_ok=True)
        pytest.skip("this kernel has no Landlock")
    assert result.status == "blocked" and result.error_type == "PermissionError" and not marker.exists()


def test_seccomp_alone_refuses_a_fork_and_keeps_threads():
    # One fork, never a bomb: where the filter is missing, the child leaves at once.
    result = run("import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nprint('forked')", audit_hook=False)
    if not result.seccomp:
        pytest.skip("this kernel or architecture has no seccomp filter here")
    assert result.status == "blocked" and result.error_type == "PermissionError" and "forked" not in result.stdout
    threads = run("import threading\nout = []\nts = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]\n"
                  "[t.start() for t in ts]\n[t.join() for t in ts]\nprint(sorted(out))", audit_hook=False)  # fmt: skip
    assert threads.status == "ok" and threads.stdout == "[0, 1, 2, 3]\n"
