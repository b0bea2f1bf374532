"""The review server treated as a server: loopback by default, a token on every request, the Host checked,
writes only with the token in a header, a warning for other addresses, and one line (exit 2) for bad input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from selfinstruct.cli import app
from selfinstruct.review.app import allowed_host
from selfinstruct.review.settings import ReviewConfig
from tests.review.serving import alpaca_rows, review_lines, serving, write_rows


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    data = write_rows(tmp_path_factory.mktemp("security") / "data.json", alpaca_rows(30))
    with serving(data) as s:
        yield s


def _post(s, body: dict, headers: dict | None = None, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{s.base}/api/review", content=json.dumps(body), headers={"Content-Type": "application/json", **(headers or {})}, **kwargs)


def test_binds_loopback_by_default() -> None:
    assert ReviewConfig(source=Path("x")).host == "127.0.0.1"


def test_every_request_without_the_token_is_forbidden(served) -> None:  # type: ignore[no-untyped-def]
    s = served
    for path in ("/", "/?page=2", "/api/page?page=1", "/favicon.ico", "/nothing"):
        response = httpx.get(s.base + path)
        assert response.status_code == 403, path
        assert s.token not in response.text
    assert httpx.get(f"{s.base}/?token=wrong-{s.token}").status_code == 403
    assert httpx.get(f"{s.base}/api/page", headers={"X-Review-Token": s.token[:-1]}).status_code == 403
    page = httpx.get(s.url)
    assert page.status_code == 200 and "Answer question number" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"] and page.headers["referrer-policy"] == "no-referrer"
    assert httpx.get(f"{s.base}/api/page?page=1", headers={"X-Review-Token": s.token}).status_code == 200


def test_writes_need_the_token_in_a_header(served) -> None:  # type: ignore[no-untyped-def]
    s = served
    row = s.session.data
    body = {"row": 0, "hash": row.digests[0], "verdict": "right"}
    assert _post(s, body).status_code == 403
    assert httpx.post(f"{s.base}/api/review?token={s.token}", content=json.dumps(body), headers={"Content-Type": "application/json"}).status_code == 403
    assert _post(s, body, cookies={"token": s.token, "x-review-token": s.token}).status_code == 403
    # A form post from another site: no header, a form content type, a foreign origin.
    form = httpx.post(f"{s.base}/api/review", data={"row": "0", "verdict": "wrong"}, headers={"Origin": "http://evil.example"})
    assert form.status_code == 403
    assert _post(s, body, {"X-Review-Token": s.token, "Origin": "http://evil.example"}).status_code == 403
    assert httpx.post(f"{s.base}/api/review", content=json.dumps(body), headers={"X-Review-Token": s.token, "Content-Type": "text/plain"}).status_code == 415
    assert not s.session.data.reviews.exists() or all(line["row"] != 0 for line in review_lines(s.session.data.reviews))
    ok = _post(s, body, {"X-Review-Token": s.token, "Origin": s.base})
    assert ok.status_code == 200 and ok.json()["review"]["verdict"] == "right"
    assert [line["verdict"] for line in review_lines(s.session.data.reviews) if line["row"] == 0] == ["right"]


def test_bad_writes_are_refused_and_write_nothing(served) -> None:  # type: ignore[no-untyped-def]
    s = served
    auth = {"X-Review-Token": s.token}
    before = s.session.data.reviews.read_text() if s.session.data.reviews.exists() else ""
    assert _post(s, {"row": 1, "hash": "0" * 16, "verdict": "right"}, auth).status_code == 409  # content not what was shown
    assert _post(s, {"row": 999, "hash": "x", "verdict": "right"}, auth).status_code == 404
    assert _post(s, {"row": 1, "hash": s.session.data.digests[1], "verdict": "maybe"}, auth).status_code == 400
    assert _post(s, {"row": 1, "hash": s.session.data.digests[1], "verdict": "right", "note": "x"}, auth).status_code == 400
    assert httpx.post(f"{s.base}/api/review", content="{not json", headers={**auth, "Content-Type": "application/json"}).status_code == 400
    after = s.session.data.reviews.read_text() if s.session.data.reviews.exists() else ""
    assert after == before


def test_the_host_header_is_checked_against_dns_rebinding(served) -> None:  # type: ignore[no-untyped-def]
    s = served
    port = s.host.split(":")[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "", "localhost.evil.example"):
        response = httpx.get(s.url, headers={"Host": host})
        assert response.status_code == 400, host
        assert s.token not in response.text
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert httpx.get(s.url, headers={"Host": host}).status_code == 200, host
    assert allowed_host("[::1]:8000", "127.0.0.1") and not allowed_host("[fe80::1]:8000", "127.0.0.1")
    assert allowed_host("192.168.1.5:8000", "0.0.0.0") and not allowed_host("rebind.example:8000", "0.0.0.0")


def _spawn(*args: str) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "selfinstruct.cli", "review", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_any_address_warns_and_still_needs_the_token(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "data.json", alpaca_rows(5))
    proc = _spawn(str(data), "--host", "0.0.0.0", "--port", "0")
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert "at http://127.0.0.1:" in line, line + proc.stderr.read()  # type: ignore[union-attr]
        url = line.split(" at ", 1)[1].strip()
        base = url.split("/?", 1)[0]
        assert httpx.get(base + "/").status_code == 403
        assert httpx.get(url).status_code == 200
        assert _listening_addresses(int(base.rsplit(":", 1)[1])) in ({"00000000"}, set())  # every address (or no /proc)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "warning: --host 0.0.0.0 lets other machines reach this review" in err
    assert "Traceback" not in err


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on a TCP port, from the kernel's table (hex, as /proc/net/tcp writes them)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":
                found.add(address)
    return found


def test_default_command_listens_on_loopback_only_and_stops_cleanly(tmp_path: Path) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux's /proc/net/tcp to see which address a port listens on")
    data = write_rows(tmp_path / "data.json", alpaca_rows(5))
    proc = _spawn(str(data))
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("reviewing 5 rows at http://127.0.0.1:"), line
        port = int(line.split("127.0.0.1:", 1)[1].split("/", 1)[0])
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and no other address
    finally:
        proc.send_signal(2)  # Ctrl-C
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "Traceback" not in err and "warning" not in err  # Ctrl-C: saved, as any command says


def _one_red_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    assert "not found" in _one_red_line(runner.invoke(app, ["review", str(tmp_path / "missing")]))
    assert "not a run directory" in _one_red_line(runner.invoke(app, ["review", str(tmp_path)]))
    (tmp_path / "notes.txt").write_text("hello")
    assert "not a dataset" in _one_red_line(runner.invoke(app, ["review", str(tmp_path / "notes.txt")]))
    (tmp_path / "bad.json").write_text('{"rows": 3}')
    assert "bad.json" in _one_red_line(runner.invoke(app, ["review", str(tmp_path / "bad.json")]))
    (tmp_path / "odd.json").write_text('[{"question": "a", "answer": "b"}]')
    assert "cannot tell the data format" in _one_red_line(runner.invoke(app, ["review", str(tmp_path / "odd.json")]))
    data = write_rows(tmp_path / "data.json", alpaca_rows(3))
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        line = _one_red_line(runner.invoke(app, ["review", str(data), "--port", str(port)]))
        assert f"--port {port}: already in use" in line
    finally:
        taken.close()
    assert "--port" in _one_red_line(runner.invoke(app, ["review", str(data), "--port", "70000"]))


def test_summary_prints_the_figure_without_a_server(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "data.json", alpaca_rows(40))
    runner = CliRunner()
    result = runner.invoke(app, ["review", str(data), "--sample", "10", "--seed", "3", "--summary"])
    assert result.exit_code == 0 and "no rows reviewed yet (of 10 in the review)" in result.output
    lines = review_lines(tmp_path / "data.reviews.jsonl")
    sample = lines[0]["add"]
    digests = json.loads(data.read_text())
    from selfinstruct.reviews import ReviewLog, ReviewWriter, row_digest

    writer = ReviewWriter(ReviewLog.read(tmp_path / "data.reviews.jsonl"))
    for n, i in enumerate(sample[:9]):
        row = digests[i]
        writer.record(i, row_digest(row["instruction"], row["input"], row["output"]), verdict="wrong" if n < 2 else "right")
    writer.close()
    started = time.perf_counter()
    result = runner.invoke(app, ["review", str(data), "--summary"])
    assert time.perf_counter() - started < 10
    assert result.exit_code == 0, result.output
    assert result.output.strip() == ("7 of 9 reviewed rows right: 77.8% (95% Wilson interval 45.3%-93.7%); "
                                     "an estimate for all 40 rows, from a uniform sample of 10 (seed 3)")  # fmt: skip
