"""The review server for tests: the real app under the real uvicorn, in a thread, on a free port of 127.0.0.1."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from selfinstruct.review.app import ReviewSession
from selfinstruct.review.serve import bind, make_server, open_session, page_url
from selfinstruct.review.settings import ReviewConfig


@dataclass
class Served:
    url: str  # the page's URL with its token, as the command prints it
    base: str  # http://127.0.0.1:PORT
    host: str  # the Host header a browser sends: 127.0.0.1:PORT
    token: str
    session: ReviewSession


@contextmanager
def serving(source: Path, **settings: object) -> Iterator[Served]:
    """Serve `source` as `selfinstruct review SOURCE` would (sample, seed as given), until the block ends."""
    opened = open_session(ReviewConfig(source=source, **settings))
    sock = bind("127.0.0.1", 0)
    token = secrets.token_urlsafe(24)
    server = make_server(opened.session, "127.0.0.1", token)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the review server did not start"
        time.sleep(0.01)
    port = sock.getsockname()[1]
    try:
        yield Served(url=page_url("127.0.0.1", sock, token), base=f"http://127.0.0.1:{port}", host=f"127.0.0.1:{port}", token=token,
                     session=opened.session)  # fmt: skip
    finally:
        server.should_exit = True
        thread.join(10)
        opened.session.writer.close()
        sock.close()


def alpaca_rows(n: int) -> list[dict[str, str]]:
    """n distinct rows; every fifth has an input, every seventh a fenced code block."""
    rows = []
    for i in range(n):
        output = f"The answer to question {i} is {i * 3}."
        if i % 7 == 3:
            output += f"\n\n```python\nprint({i} * 3)\n```"
        rows.append({"instruction": f"Answer question number {i}.", "input": f"context {i}" if i % 5 == 0 else "", "output": output})
    return rows


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def review_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
