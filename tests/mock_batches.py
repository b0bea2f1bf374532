"""The mock teacher's Batch API: /v1/files and /v1/batches, as OpenAI serves them, with knobs for faults.

    mock.batches.delay = 0.5          # seconds from creation until a batch is done (slow completion)
    mock.batches.delays = [0, 2.0]    # per batch, in creation order (then `delay`)
    mock.batches.fail_validation = 1  # the next N batches fail validation (status "failed", errors listed)
    mock.batches.expire = 1           # the next N batches expire; `expire_done` of their lines finish first
    mock.batches.error_every = 7      # every 7th line of a batch comes back as an error (HTTP 500 in the error file)
    mock.batches.cancel = 1           # the next N batches are cancelled (as from the provider's dashboard)

Uploads are multipart like the real API; a batch is worked out lazily when it is retrieved after
`delay`, each line answered exactly as an online request would be and recorded in `mock.requests`
with its batch id, so tests can count what the provider served (and would bill).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.mock_teacher import MockTeacher

TERMINAL = ("completed", "failed", "expired", "cancelled")


def parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Fields of a multipart/form-data body: name -> (filename, bytes)."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if not boundary:
        raise ValueError("no multipart boundary")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in raw.split(b"--" + boundary.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, body = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        disposition = head.decode("utf-8", "replace")
        name = re.search(r'name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if name:
            fields[name.group(1)] = (filename.group(1) if filename else None, body.removesuffix(b"\r\n"))
    return fields


class BatchService:
    """Files and batches held in memory; state advances when a batch is retrieved."""

    def __init__(self, mock: MockTeacher) -> None:
        self.mock = mock
        self.delay = 0.0
        self.delays: list[float] = []
        self.fail_validation = 0
        self.expire = 0
        self.expire_done = 0.5
        self.error_every = 0
        self.cancel = 0
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._fate: dict[str, str] = {}
        self._ids = itertools.count(1)
        self.lock = threading.RLock()

    # --- what tests read -------------------------------------------------------------

    def lines_served(self) -> int:
        """Batch lines the mock answered (and a provider would bill)."""
        return sum(1 for r in self.mock.requests if r.get("batch"))

    def input_lines(self) -> list[dict[str, Any]]:
        """Every line of every batch created, in creation order."""
        lines = []
        for batch in self.batches.values():
            lines += [json.loads(x) for x in self.contents[batch["input_file_id"]].splitlines() if x.strip()]
        return lines

    # --- HTTP --------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        """(status, JSON object or raw bytes) for a /files or /batches request."""
        path = path.split("?", 1)[0].rstrip("/")
        with self.lock:
            if method == "POST" and path.endswith("/files"):
                return self._upload(headers.get("Content-Type", ""), raw)
            match = re.search(r"/files/([^/]+)/content$", path)
            if method == "GET" and match:
                data = self.contents.get(match.group(1))
                return (200, data) if data is not None else (404, _error(404, "no such file"))
            if method == "POST" and path.endswith("/batches"):
                return self._create(json.loads(raw or b"{}"))
            if method == "GET" and path.endswith("/batches"):
                data = [self._advance(b) for b in self.batches.values()][::-1]
                return 200, {"object": "list", "data": data, "has_more": False,
                             "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}
            match = re.search(r"/batches/([^/]+)(/cancel)?$", path)
            if match and match.group(1) in self.batches:
                batch = self.batches[match.group(1)]
                if match.group(2) and method == "POST":
                    if batch["status"] not in TERMINAL:
                        self._fate[batch["id"]] = "cancelled"
                        batch["status"] = "cancelling"
                    return 200, batch
                return 200, self._advance(batch)
            return 404, _error(404, f"unknown path {path}")

    def _upload(self, content_type: str, raw: bytes) -> tuple[int, Any]:
        fields = parse_multipart(content_type, raw)
        if "file" not in fields or fields.get("purpose", (None, b""))[1] != b"batch":
            return 400, _error(400, "expected a file with purpose=batch")
        filename, data = fields["file"]
        file_id = f"file-{next(self._ids)}"
        self.contents[file_id] = data
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                               "filename": filename or "input.jsonl", "purpose": "batch", "status": "processed"}
        return 200, self.files[file_id]

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        file_id = body.get("input_file_id")
        if file_id not in self.contents:
            return 400, _error(400, f"no such file {file_id}")
        if body.get("completion_window") != "24h" or body.get("endpoint") not in ("/v1/chat/completions", "/v1/completions"):
            return 400, _error(400, "bad endpoint or completion_window")
        lines = [x for x in self.contents[file_id].splitlines() if x.strip()]
        batch_id = f"batch_{next(self._ids)}"
        fate = "completed"
        for knob in ("fail_validation", "expire", "cancel"):
            if getattr(self, knob):
                setattr(self, knob, getattr(self, knob) - 1)
                fate = {"fail_validation": "failed", "expire": "expired", "cancel": "cancelled"}[knob]
                break
        self._fate[batch_id] = fate
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "input_file_id": file_id,
            "completion_window": "24h", "status": "validating", "created_at": int(time.time()),
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": body.get("metadata"), "output_file_id": None, "error_file_id": None, "errors": None,
            "_created": time.monotonic(), "_delay": self.delays.pop(0) if self.delays else None,
        }
        return 200, self._public(self.batches[batch_id])

    # --- the work ----------------------------------------------------------------------

    def _advance(self, batch: dict[str, Any]) -> dict[str, Any]:
        if batch["status"] in TERMINAL:
            return self._public(batch)
        fate = self._fate[batch["id"]]
        if fate == "failed":
            batch.update(status="failed", failed_at=int(time.time()),
                         errors={"object": "list", "data": [{"code": "invalid_request", "message": "mock: validation failed", "line": 1}]})
            return self._public(batch)
        if time.monotonic() - batch["_created"] < (self.delay if batch["_delay"] is None else batch["_delay"]):
            batch["status"] = "in_progress"
            return self._public(batch)
        self._finish(batch, fate)
        return self._public(batch)

    def _finish(self, batch: dict[str, Any], fate: str) -> None:
        from tests.mock_teacher import completion_payload

        lines = [json.loads(x) for x in self.contents[batch["input_file_id"]].splitlines() if x.strip()]
        answered = len(lines)
        if fate in ("expired", "cancelled"):
            answered = int(len(lines) * self.expire_done)
        out, err = [], []
        for n, line in enumerate(lines):
            cid = line["custom_id"]
            if n >= answered:
                if fate == "expired":
                    err.append({"id": f"req_{n}", "custom_id": cid, "response": None,
                                "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}})
                continue
            if self.error_every and (n + 1) % self.error_every == 0:
                err.append({"id": f"req_{n}", "custom_id": cid,
                            "response": {"status_code": 500, "request_id": f"r{n}", "body": _error(500, "The server had an error.")}, "error": None})
                continue
            chat = line["url"].endswith("/chat/completions")
            payload = completion_payload(self.mock, chat, line["body"], extra={"batch": batch["id"], "custom_id": cid})
            out.append({"id": f"req_{n}", "custom_id": cid, "response": {"status_code": 200, "request_id": f"r{n}", "body": payload}, "error": None})
        out.reverse()  # output order is not input order
        for kind, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                file_id = f"file-{next(self._ids)}"
                self.contents[file_id] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                batch[kind] = file_id
        batch["request_counts"] = {"total": len(lines), "completed": len(out), "failed": sum(1 for e in err if e["response"])}
        batch["status"] = fate
        batch[f"{fate}_at"] = int(time.time())

    @staticmethod
    def _public(batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if not k.startswith("_")}


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "mock", "code": status}}
