"""The review page and its API: a Starlette app, served by uvicorn (serve.py), guarded like any server.

    app = review_app(session, token, host="127.0.0.1")

    GET  /?token=T[&page=P][&at=K]   one page of rows, drawn server-side (Jinja); without page, where the person stopped
    GET  /api/page?page=P            X-Review-Token: T; the page's reviews and the figure, to refresh a stale tab
    POST /api/review                 X-Review-Token: T; {"row", "hash", and "verdict" | "output" | "note"}

Guards, in order, on every request (`Guard`):
- the Host header must name this server (loopback names, or the --host given), against DNS rebinding;
- the token must be given (query or header for reading; the header only for writing, so a page elsewhere
  cannot post with a cookie or a form), else 403;
- a write must be JSON, and its Origin, when sent, must be this server.
Every answer forbids framing and referrers and allows only this page's own script (a per-response nonce).
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from selfinstruct.review.render import code_segments
from selfinstruct.review.rows import ReviewData
from selfinstruct.reviews import VERDICTS, ReviewFigure, ReviewWriter, review_figure

PAGE_SIZE = 20
TOKEN_HEADER = "x-review-token"
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
MAX_TEXT = 200_000  # characters in one edit or note


@dataclass
class ReviewSession:
    """What one running review serves: the rows, the listed ones (sample or all), and the log it appends to."""

    data: ReviewData
    writer: ReviewWriter
    listed: list[int] | range
    sampled: bool
    _members: set[int] | range = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._members = self.listed if isinstance(self.listed, range) else set(self.listed)

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.listed) // PAGE_SIZE))

    def figure(self) -> ReviewFigure:
        return review_figure(self.writer.log, self.data.digests, self.listed, self.sampled)

    def resume_at(self) -> int:
        """Position in the list of the first row without a verdict on its current content (0 when all have one)."""
        log, digests = self.writer.log, self.data.digests
        for pos, i in enumerate(self.listed):
            review, _ = log.lookup(i, digests[i])
            if review is None or review.verdict is None:
                return pos
        return 0

    def row_state(self, pos: int) -> dict[str, Any]:
        i = self.listed[pos]
        review, changed = self.writer.log.lookup(i, self.data.digests[i])
        previous = self.writer.log.reviews.get(i) if changed else None
        return {"pos": pos, "row": i, "hash": self.data.digests[i], "review": review.as_json() if review else None,
                "changed": changed, "was": previous.verdict if previous else None}  # fmt: skip

    def page_rows(self, page: int) -> list[dict[str, Any]]:
        start = (page - 1) * PAGE_SIZE
        return [self.row_state(pos) for pos in range(start, min(start + PAGE_SIZE, len(self.listed)))]

    def is_listed(self, row: int) -> bool:
        return row in self._members


def allowed_host(host_header: str, bound: str) -> bool:
    """Whether a request's Host names this server: a loopback name, or the address it was bound to.

    Bound to every interface (0.0.0.0, ::), any IP literal is accepted too (an address cannot be
    rebound to another site; a DNS name can). Hand-written because Starlette's TrustedHostMiddleware
    matches names only: it cannot accept "any IP literal", and it cuts a bracketed IPv6 host at its
    first colon.
    """
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if not host:
        return False
    if host in LOOPBACK_NAMES or host == bound.lower():
        return True
    if bound in ("0.0.0.0", "::"):
        try:
            ipaddress.ip_address(host)
            return True
        except ValueError:
            return False
    return False


class Guard:
    """ASGI middleware: Host check (400), token check (403), JSON-only same-origin writes (403/415), safe headers."""

    def __init__(self, app: ASGIApp, token: str, bound: str) -> None:
        self.app, self.token, self.bound = app, token, bound

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self.problem(scope, headers)
        if problem is not None:
            status, text = problem
            await PlainTextResponse(text, status_code=status, headers=security_headers(""))(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def problem(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if not allowed_host(host, self.bound):
            return 400, "Invalid host header"
        given = headers.get(TOKEN_HEADER)
        writing = scope["method"] not in ("GET", "HEAD")
        if given is None and not writing:
            given = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [None])[0]
        if given is None or not secrets.compare_digest(given.encode(), self.token.encode()):
            return 403, "Forbidden: this review's token is missing or wrong (use the URL the command printed)"
        if writing:
            origin = headers.get("origin")
            if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
                return 403, "Forbidden: cross-origin write"
            if headers.get("content-type", "").split(";")[0].strip() != "application/json":
                return 415, "Writes are JSON"
        return None


def security_headers(nonce: str) -> dict[str, str]:
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    return {
        "Content-Security-Policy": f"default-src 'none'; script-src {script}; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; "
                                   "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }  # fmt: skip


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(value or default), low), high)
    except ValueError:
        return default


def review_app(session: ReviewSession, token: str, host: str = "127.0.0.1") -> Starlette:
    """The app for one session; `host` is the address it is bound to (for the Host check)."""
    templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
    templates.env.filters["segments"] = code_segments
    data = session.data

    async def page(request: Request) -> Response:
        asked = request.query_params.get("page")
        at = session.resume_at() if asked is None else None
        number = _int(asked, 1 + (at or 0) // PAGE_SIZE, 1, session.pages)
        start = (number - 1) * PAGE_SIZE
        focus = _int(request.query_params.get("at"), (at or start) - start, -1, PAGE_SIZE - 1)
        rows = []
        for state in session.page_rows(number):
            i = state["row"]
            original = original_output(data.rows[i])
            edited = state["review"]["output"] if state["review"] else None
            rows.append({**state, "data": data.rows[i], "ctx": data.context(i), "original": original,
                         "edited": edited is not None, "current": original if edited is None else edited})  # fmt: skip
        nonce = secrets.token_urlsafe(16)
        context = {"rows": rows, "page": number, "pages": session.pages, "size": PAGE_SIZE, "focus": focus, "token": token, "nonce": nonce,
                   "figure": session.figure(), "sampled": session.sampled, "name": data.source.name, "reviews": str(data.reviews),
                   "conversation": data.conversation, "listed": len(session.listed)}  # fmt: skip
        return templates.TemplateResponse(request, "review.html", context, headers=security_headers(nonce))

    async def page_state(request: Request) -> Response:
        number = _int(request.query_params.get("page"), 1, 1, session.pages)
        return JSONResponse({"rows": session.page_rows(number), "figure": _figure_json(session.figure())}, headers=security_headers(""))

    async def review(request: Request) -> Response:
        try:
            body = await request.json()
            row, digest = int(body["row"]), str(body["hash"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected JSON with row, hash and one of verdict, output, note"}, status_code=400)
        if not (0 <= row < len(data.rows)) or not session.is_listed(row):
            return JSONResponse({"error": f"row {row} is not in this review"}, status_code=404)
        if digest != data.digests[row]:
            return JSONResponse({"error": f"row {row} has changed since this page was drawn; reload"}, status_code=409)
        change = {k: body[k] for k in ("verdict", "output", "note") if k in body}
        if len(change) != 1:
            return JSONResponse({"error": "give exactly one of verdict, output, note"}, status_code=400)
        problem = _check_change(change, data.rows[row])
        if problem:
            return JSONResponse({"error": problem}, status_code=400)
        result = session.writer.record(row, digest, **change)
        return JSONResponse({"review": result.as_json(), "figure": _figure_json(session.figure())}, headers=security_headers(""))

    routes = [Route("/", page, methods=["GET"]), Route("/api/page", page_state, methods=["GET"]), Route("/api/review", review, methods=["POST"])]
    app = Starlette(routes=routes)
    app.add_middleware(Guard, token=token, bound=host)
    return app


def _check_change(change: dict[str, Any], row: Any) -> str | None:
    key, value = next(iter(change.items()))
    if key == "verdict":
        return None if value is None or value in VERDICTS else f"verdict must be one of {', '.join(VERDICTS)} or null"
    if value is not None and not isinstance(value, str):
        return f"{key} must be text or null"
    if value is not None and len(value) > MAX_TEXT:
        return f"{key} is longer than {MAX_TEXT} characters"
    if key == "output" and value is not None and value == original_output(row):
        change["output"] = None  # edited back to the original: no edit
    return None


def original_output(row: Any) -> str:
    """The text an edit replaces: the output, or a conversation's last assistant turn."""
    if row.messages is None:
        return row.output
    return next((text for role, text in reversed(row.messages) if role == "assistant"), "")


def _figure_json(figure: ReviewFigure) -> dict[str, Any]:
    return {**figure.model_dump(), "line": figure.line(), "scope": figure.scope}
