"""`selfinstruct review`: choose the rows, then print the figure (--summary) or serve the page with uvicorn.

    review(ReviewConfig(source=Path("outputs/run-1"), sample=50), console)   # serves until Ctrl-C
    session, figure = open_session(cfg)                                       # what the command serves, for tests

The socket is bound here, before uvicorn starts, so a port in use is one line (exit 2) and
`--port 0` knows its port for the URL; it is listening before the URL is printed, so the browser
(`--open`) never races the server. The URL carries a fresh random token: every request needs it.
Uvicorn's access log is off, since it would print that token with every request.
"""

from __future__ import annotations

import errno
import random
import secrets
import socket
import threading
import webbrowser
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from selfinstruct.errors import UserError
from selfinstruct.review.app import ReviewSession, review_app
from selfinstruct.review.rows import load_rows
from selfinstruct.review.settings import ReviewConfig
from selfinstruct.reviews import ReviewLog, ReviewWriter

DEFAULT_SEED = 42
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def choose_rows(n: int, writer: ReviewWriter, sample: int | None, seed: int | None) -> tuple[list[int] | range, bool, list[str]]:
    """(positions listed for review, whether they are a sample, notes for the user).

    A sample is extended by drawing the missing rows uniformly from the rows not yet in it, so the
    whole stays a uniform sample and no row already drawn (or reviewed) is dropped or redrawn.
    """
    log, notes = writer.log, []
    drawn = [i for i in log.sample if i < n]
    if len(drawn) < len(log.sample):
        notes.append(f"{len(log.sample) - len(drawn)} sampled rows are past the end of the data (it has {n} rows now) and are left out")
    if sample is None:
        return (drawn, True, notes) if log.sample else (range(n), False, notes)
    first = log.sample_seed
    if first is not None and seed is not None and seed != first:
        raise UserError(f"--seed {seed}: this data's sample was drawn with seed {first}, and a sample is only ever extended; leave --seed out")
    use_seed = first if first is not None else seed if seed is not None else DEFAULT_SEED
    wanted = min(sample, n)
    if wanted > len(drawn):
        taken = set(drawn)
        rest = [i for i in range(n) if i not in taken]
        added = random.Random(f"{use_seed}:{len(drawn)}").sample(rest, wanted - len(drawn))
        writer.add_to_sample(use_seed, n, added)
        drawn += added
    elif sample < len(drawn):
        notes.append(f"the sample already holds {len(drawn)} rows; a sample only grows, so all {len(drawn)} are listed")
    return drawn, True, notes


@dataclass
class Opened:
    session: ReviewSession
    notes: list[str]


def open_session(cfg: ReviewConfig) -> Opened:
    """Load the rows and their reviews, and choose the rows to list (extending the sample in reviews.jsonl)."""
    data = load_rows(cfg.source)
    writer = ReviewWriter(ReviewLog.read(data.reviews))
    listed, sampled, notes = choose_rows(len(data.rows), writer, cfg.sample, cfg.seed)
    return Opened(ReviewSession(data=data, writer=writer, listed=listed, sampled=sampled), notes)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; a port in use or an unknown host is one UserError."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UserError(f"--host {host}: cannot listen there ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart need not wait for TIME_WAIT
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"--port {port}: already in use on {host}; choose another port, or --port 0 for any free one") from None
        raise UserError(f"--host {host} --port {port}: cannot listen there ({exc.strerror})") from None
    return sock


def page_url(host: str, sock: socket.socket, token: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/?token={token}"


def make_server(session: ReviewSession, host: str, token: str):  # type: ignore[no-untyped-def]
    import uvicorn

    config = uvicorn.Config(review_app(session, token, host), log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


def review(cfg: ReviewConfig, console: Console) -> None:
    """The command: print the figure and stop (--summary), or serve the page until Ctrl-C."""
    opened = open_session(cfg)
    session = opened.session
    for note in opened.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    if cfg.summary:
        print(session.figure().line(), flush=True)
        return
    if cfg.host not in LOOPBACK:
        console.print(f"[yellow]warning:[/yellow] --host {escape(cfg.host)} lets other machines reach this review; "
                      "anyone with the URL (and its token) can read the data and mark rows", highlight=False)  # fmt: skip
    sock = bind(cfg.host, cfg.port)
    token = secrets.token_urlsafe(24)
    url = page_url(cfg.host, sock, token)
    what = f"a sample of {len(session.listed)} of {len(session.data.rows)} rows" if session.sampled else f"{len(session.data.rows)} rows"
    print(f"reviewing {what} at {url}", flush=True)
    console.print(f"verdicts go to {escape(str(session.data.reviews))}; Ctrl-C stops the server", highlight=False)
    if cfg.open_browser:
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    server = make_server(session, cfg.host, token)
    try:
        server.run(sockets=[sock])
    finally:
        session.writer.close()
        sock.close()
