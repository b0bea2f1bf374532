"""A deterministic OpenAI-compatible teacher on 127.0.0.1 for tests, with knobs for latency and faults.

It serves /v1/chat/completions and /v1/completions over real HTTP, so the real `openai` client,
its timeouts and our retry code all run for real. Answers depend only on the prompt: it recognises
our templates' fixed text and answers like a reasonable (slightly sloppy) model would, including
a few candidates each filter should reject.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.mock_batches import BatchService
from tests.mock_grounded import grounded_answer, grounded_stage
from tests.mock_rate import RateLimits
from tests.mock_verifiers import verifier_answer, verifier_stage

VERBS = ["Explain", "Describe", "Summarize", "Compare", "Suggest", "Outline", "List", "Propose", "Evaluate", "Recommend",
         "Sketch out", "Argue", "Identify", "Plan", "Estimate", "Critique", "Brainstorm", "Justify", "Predict", "Rewrite"]
TOPICS = ["compound interest", "urban beekeeping", "volcanic soil", "remote onboarding", "tide pools", "sourdough starters",
          "solar inverters", "medieval trade routes", "sleep hygiene", "password managers", "coral bleaching", "jazz improvisation",
          "crop rotation", "quantum tunneling", "library fines", "marathon training", "supply chains", "glacier retreat",
          "bicycle commuting", "tax brackets", "container gardening", "folk tales", "wind turbines", "spreadsheet formulas",
          "customer churn", "bird migration", "fermentation", "public speaking", "recycling plastics", "board game design",
          "photosynthesis", "credit scores", "tea ceremonies", "rainwater harvesting", "chess openings", "museum curation"]
AUDIENCES = ["a curious teenager", "new employees", "a retired engineer", "busy parents", "first-year students", "a small bakery owner",
             "hospital volunteers", "a skeptical investor", "tourists in Kyoto", "a high school debate team", "remote workers",
             "an elderly neighbor", "city council members", "amateur astronomers", "a startup founder", "night-shift nurses"]
STYLES = ["in three short paragraphs", "using a single analogy", "with two concrete examples", "in plain language",
          "as a numbered checklist", "in under eighty words", "with one surprising fact", "from a historical angle",
          "with pros and cons", "as a friendly letter", "using everyday vocabulary", "with a memorable closing line"]
LABEL_SETS = [("positive", "negative"), ("urgent", "routine"), ("fact", "opinion"), ("formal", "informal"),
              ("safe", "risky"), ("renewable", "non-renewable"), ("spam", "not spam"), ("true", "false")]
CLASSIFY_SUBJECTS = ["review", "email", "headline", "claim", "sentence", "message", "product description", "forum post",
                     "support ticket", "tweet", "statement", "memo"]

_CLASSIFY_HINT = re.compile(r"^(classify|label|decide whether|is the|does the|determine whether|categorize)", re.IGNORECASE)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


def make_instruction(rng: random.Random) -> str:
    """A plausible, varied instruction; about one in five is a classification task."""
    if rng.random() < 0.2:
        subject = rng.choice(CLASSIFY_SUBJECTS)
        a, b = rng.choice(LABEL_SETS)
        return f"Classify the {subject} about {rng.choice(TOPICS)} as {a} or {b}."
    return f"{rng.choice(VERBS)} {rng.choice(TOPICS)} for {rng.choice(AUDIENCES)} {rng.choice(STYLES)}."


# Proposal answers for `generate --language German|Japanese`: (verbs, topics, audiences, ending, a near-duplicate edit).
FOREIGN = {
    "German": (["Erkläre", "Beschreibe", "Übersetze", "Vergleiche", "Bewerte", "Fasse zusammen:"],
               ["die Photosynthese", "den Zinseszins", "die Gezeitentümpel", "das Sauerteigbrot", "die Windkraft", "den Vogelzug",
                "die Schacheröffnungen", "die Mülltrennung", "das Bienenhalten in der Stadt", "die Steuerklassen"],
               ["für Schüler", "für Rentner", "für neue Mitarbeiter", "für Touristen", "für Eltern"],
               "in drei kurzen Sätzen.", ("kurzen", "knappen")),
    "Japanese": (["わかりやすく説明してください。", "三つの例を挙げて説明してください。", "短くまとめてください。", "長所と短所を比べてください。"],
                 ["光合成", "複利", "潮だまり", "サワードウ", "風力発電", "渡り鳥", "チェスの定跡", "ごみの分別", "都市養蜂", "税率区分"],
                 ["中学生向けに", "高齢者向けに", "新入社員向けに", "観光客向けに", "保護者向けに"],
                 "", ("ください", "下さい")),
}  # fmt: skip


def _examples_from(prompt: str) -> list[str]:
    """The example instructions our proposal prompt lists, so the mock can 'copy' one like real models do."""
    block = prompt.split("Here are some example tasks:", 1)[-1]
    return [m.group(1) for m in re.finditer(r"^\d+\.\s+(?:Instruction:\s*)?(.+)$", block, re.MULTILINE)]


class MockTeacher:
    """Server state and knobs; tests flip the knobs between or during runs."""

    def __init__(self) -> None:
        self.latency = 0.0
        self.api_key: str | None = None          # when set, other keys get 401
        self.models: set[str] | None = None      # when set, other models get 404
        self.repeat = False                      # answer every proposal with the same list
        self.sloppy = True                       # add candidates each filter should reject
        self.ignore_output_first = False         # answer output-first prompts with chatter, like small models
        self.fault_rate = 0.0
        self.fault_kinds: list[str] = ["429", "500", "timeout", "drop"]
        self.schedule: list[str | None] = []     # explicit faults for the next requests, in order
        self.fault_rng = random.Random(0)
        self.timeout_sleep = 2.0
        self.name = "mock"                       # names this endpoint in `requests` when several run at once
        self.dead = False                        # every request's connection closes unanswered, like a crashed server
        self.latency_fn: Callable[[dict[str, Any]], float] | None = None  # per-request latency, overrides `latency`
        self.slots: Any = contextlib.nullcontext()  # set_slots(n): decode n at a time, queue the rest (llama.cpp, vLLM)
        self.limits = RateLimits()               # requests/tokens per window, enforced with 429s and x-ratelimit headers
        self.batches = BatchService(self)        # /v1/files and /v1/batches (tests/mock_batches.py)
        # Conversations (recipe conversation): the simulator ends a chat with the stop marker once it holds
        # this many user turns; `refuse(user_message)` / `restate` make the assistant refuse / the simulator repeat.
        self.stop_after_turns: int | None = None
        self.refuse: Callable[[str], bool] | None = None
        self.restate = False
        self.echo_rules = False  # the simulator copies the rule about the stop marker, as small models do
        # Recipe grounded (tests/mock_grounded.py): grounded_fault(type, prompt) -> a fault name or None.
        self.grounded_fault: Callable[[str, str], str | None] | None = None
        self.verify_unreadable = False
        self.on_request: Callable[[dict[str, Any]], None] | None = None
        self.requests: list[dict[str, Any]] = []
        self.faults: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> MockTeacher:
        handler = type("Handler", (_Handler,), {"mock": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def set_slots(self, n: int) -> None:
        """Answer at most n requests at a time, queueing the rest, as a self-hosted server does."""
        self.slots = threading.BoundedSemaphore(n)

    def latency_for(self, body: dict[str, Any]) -> float:
        return self.latency_fn(body) if self.latency_fn else self.latency

    def count(self, stage: str | None = None) -> int:
        return sum(1 for r in self.requests if stage is None or r["stage"] == stage)

    # --- faults ------------------------------------------------------------------------

    def next_fault(self) -> str | None:
        with self.lock:
            if self.schedule:
                fault = self.schedule.pop(0)
            elif self.fault_rate and self.fault_rng.random() < self.fault_rate:
                fault = self.fault_rng.choice(self.fault_kinds)
            else:
                fault = None
            if fault:
                self.faults[fault] += 1
            return fault

    # --- answers -----------------------------------------------------------------------

    def answer(self, prompt: str, max_tokens: int, context: str | None = None) -> tuple[str, str]:
        """(text, finish_reason) for a prompt (the last turn), by which of our templates its conversation came from."""
        evaluated = eval_answer(self, prompt)  # `eval`: judge prompts and contestant answers (section at the end)
        if evaluated is not None:
            return evaluated
        context = context or prompt
        grounded = grounded_stage(context)  # recipe grounded (tests/mock_grounded.py)
        if grounded is not None:
            return grounded_answer(self, grounded, prompt, context), "stop"
        if ASSISTANT_MARK in context:
            return self._assistant(prompt)
        if SIMULATOR_MARK in context:
            return self._simulator(prompt, context)
        if _is_classify(context):
            return self._classify(prompt), "stop"
        if ("Class label:" in context and "classification task" in context) or "worked examples for a classification task" in context:
            if self.ignore_output_first:
                return "Sure, here are some labels you could use for this task.", "stop"
            return self._output_first(prompt), "stop"
        if "Come up with examples for the task below" in context or "worked examples for a task" in context:
            return self._input_first(prompt), "stop"
        match = re.search(r"List of (\d+) (new )?tasks:\s*$", prompt)
        if match:
            n = int(match.group(1))
            if "###" in prompt:
                return self._alpaca(prompt, n), "stop"
            return self._propose(prompt, n), "stop"
        return "I am a mock teacher.", "stop"

    def _propose(self, prompt: str, n: int) -> str:
        language = re.search(r"Write each instruction in (\w+)", prompt)
        if language and language.group(1) in FOREIGN:
            return self._propose_foreign(prompt, n, language.group(1))
        if self.repeat:
            items = ["Explain how tides work to a child in two sentences."] * n
        else:
            rng = _rng("propose", prompt)
            items = [make_instruction(rng) for _ in range(n)]
            examples = _examples_from(prompt)
            if self.sloppy and n >= 8:
                items[1] = "Draw a picture of your favourite animal."   # keyword
                items[3] = "Summarize this."                             # too short
                items[5] = examples[0] if examples else items[5]        # copies an example: near-duplicate
                items[7] = "Write a program that sorts numbers."        # write_a_program
        lines = [f"{i}. {text}" for i, text in enumerate(items, 1)]
        return "Here are the new tasks:\n\n" + "\n".join(lines) + "\n\nI hope these help!"

    def _propose_foreign(self, prompt: str, n: int, language: str) -> str:
        """A list in German or Japanese, with near-duplicates (one word or two characters changed) at items 3, 6 and 9."""
        rng = _rng("propose", language, prompt)
        verbs, topics, audiences, tail, swap = FOREIGN[language]
        items = [(f"{rng.choice(verbs)} {rng.choice(topics)} {rng.choice(audiences)} {tail}" if language == "German" else
                  f"{rng.choice(topics)}について{rng.choice(audiences)}{rng.choice(verbs)}{tail}") for _ in range(n)]  # fmt: skip
        for i in (2, 5, 8):
            if i < n:
                items[i] = items[i - 1].replace(*swap)
        return "\n".join(f"{i}. {text}" for i, text in enumerate(items, 1))

    def _alpaca(self, prompt: str, n: int) -> str:
        rng = _rng("alpaca", prompt)
        blocks = []
        for i in range(1, n + 1):
            inst = make_instruction(rng)
            inp = "<noinput>" if rng.random() < 0.6 else f"The topic is {rng.choice(TOPICS)}."
            # About as long as a real model's short answer, so token counts look like a real run's.
            out = (f"Here is a careful answer about {rng.choice(TOPICS)} written for {rng.choice(AUDIENCES)}. "
                   "It starts with the key idea, gives one concrete example, and ends with a short summary of what matters most.")
            if self.sloppy and n >= 8 and i in (2, 4, 8, 6):
                # Rejects for the filters: a keyword, too short, "write a program", and an unfinished output.
                inst, out = {2: ("Draw a picture of a lighthouse at dusk.", out), 4: ("Summarize this.", out),
                             8: ("Write a program that sorts numbers.", out), 6: (inst, "The answer is as follows:")}[i]
            blocks.append(f"###\n{i}. Instruction: {inst}\n{i}. Input:\n{inp}\n{i}. Output:\n{out}")
        return "\n".join(blocks)

    def _assistant(self, prompt: str) -> tuple[str, str]:
        """An answer to the user's last message, a little different for each message."""
        if self.refuse is not None and self.refuse(prompt):
            return "I'm sorry, but I can't help with that request.", "stop"
        rng = _rng("assistant", prompt)
        topic, audience = rng.choice(TOPICS), rng.choice(AUDIENCES)
        return (f"Here is what matters about '{' '.join(prompt.split()[:8])}': start from {topic}, explain it for {audience}, "
                f"and finish with one practical step.", "stop")

    def _simulator(self, prompt: str, context: str = "") -> tuple[str, str]:
        """The user's next message: a clarification, a deeper question, a constraint or a correction; or the stop marker."""
        transcript = prompt.split("The conversation so far:", 1)[-1]
        users = re.findall(r"^User: (.*)$", transcript, re.MULTILINE)
        if self.stop_after_turns is not None and len(users) >= self.stop_after_turns:
            return "[[END]]", "stop"
        if self.restate and users:
            return users[-1], "stop"
        if self.echo_rules:
            rule = next(line for line in context.splitlines() if "[[END]]" in line)
            return rule.lstrip("- "), "stop"
        rng = _rng("simulator", transcript)
        topic = rng.choice(TOPICS)
        follow_ups = [
            f"Could you clarify the part about {topic}? I did not follow it.",
            f"Interesting. How does this connect to {topic}, and why does that matter?",
            f"Please redo it in under {rng.randint(30, 90)} words and add an example about {topic}.",
            f"I think you got the point about {topic} wrong; can you check it and correct your answer?",
        ]
        return f"User: {follow_ups[len(users) % len(follow_ups)]}", "stop"

    def _classify(self, prompt: str) -> str:
        tail = prompt.rsplit("\n\n", 1)[-1]  # the numbered tasks to judge: the last turn
        tasks = re.findall(r"^(\d+)\.\s+(.+)$", tail, re.MULTILINE)
        if "Is it classification?" in prompt:  # an older Yes/No template
            return "\n".join(f"{num}. {'Yes' if _CLASSIFY_HINT.match(text) else 'No'}" for num, text in tasks)
        kind = "one label from a fixed set"
        return "\n".join(f"{num}. {kind if _CLASSIFY_HINT.match(text) else 'an explanation'}" for num, text in tasks)

    def _task(self, prompt: str) -> str:
        return prompt.rsplit("Task:", 1)[-1].strip()

    def _input_first(self, prompt: str) -> str:
        task = self._task(prompt)
        rng = _rng("instances", task)
        out = []
        for i in range(1, rng.randint(2, 4)):
            topic = rng.choice(TOPICS)
            if rng.random() < 0.5:
                out.append(f"Example {i}\nInput: <noinput>\nOutput: A worked answer to '{task[:40]}' about {topic}.")
            else:
                out.append(f"Example {i}\nInput: Focus on {topic}.\nOutput: An answer that focuses on {topic}, step by step.")
        return "\n".join(out)

    def _output_first(self, prompt: str) -> str:
        task = self._task(prompt)
        match = re.search(r"as (.+?) or (.+?)\.?$", task)
        labels = [match.group(1), match.group(2)] if match else ["Yes", "No"]
        rng = _rng("labels", task)
        return "\n".join(f"Class label: {label.capitalize()}\nInput: A {rng.choice(CLASSIFY_SUBJECTS)} about {rng.choice(TOPICS)} that is clearly {label}." for label in labels)


# Fixed text of the two conversation templates (prompts/conversation_assistant.txt, conversation_user.txt).
ASSISTANT_MARK = "You are a helpful, knowledgeable and honest assistant in a conversation"
SIMULATOR_MARK = "You write the user's side of a conversation between a user and an AI assistant"


def _stage(context: str, prompt: str) -> str:
    """Which of our templates a request came from, as the tests count requests."""
    grounded = grounded_stage(context)
    if grounded is not None:
        return grounded
    if ASSISTANT_MARK in context:
        return "assistant"
    if SIMULATOR_MARK in context:
        return "simulator"
    if _is_classify(context):
        return "classify"
    return "instances" if "Task:" in prompt.rsplit("\n\n", 1)[-1] else "propose"


def _is_classify(context: str) -> bool:
    return "Is it classification?" in context or "sort tasks by the kind of answer" in context


def _as_json(text: str, stage: str) -> str:
    """A text answer in the JSON a schema-constrained request gets back: verdicts, or examples."""
    if stage == "classify":
        return json.dumps({n: v.strip() for n, v in re.findall(r"^(\d+)\.\s+(.+)$", text, re.MULTILINE)})
    if "Class label:" in text:
        pairs = re.findall(r"^Class label: (.*)\nInput: (.*)$", text, re.MULTILINE)
        return json.dumps({"examples": [{"label": label, "input": inp} for label, inp in pairs]})
    pairs = re.findall(r"^Input: (.*)\nOutput: (.*)$", text, re.MULTILINE)
    return json.dumps({"examples": [{"input": "" if inp == "<noinput>" else inp, "output": out} for inp, out in pairs]})


def _usage(prompt: str, text: str) -> dict[str, int]:
    p, c = max(1, len(prompt) // 4), max(1, len(text) // 4)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def completion_payload(mock: MockTeacher, chat: bool, body: dict[str, Any], fault: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of a chat or completions answer to `body` (online or as a batch line); recorded when `extra` is given."""
    prompt = body["messages"][-1]["content"] if chat else body.get("prompt", "")
    context = "\n\n".join(str(m.get("content", "")) for m in body["messages"]) if chat else prompt
    stage = request_stage(chat, body)
    record: dict[str, Any] = {"stage": stage, "api": "chat" if chat else "completions", "model": body.get("model"), "body": body, **(extra or {})}
    if extra is not None:
        with mock.lock:
            mock.requests.append(record)
    text, finish = mock.answer(prompt, int(body.get("max_tokens") or 1024), context)
    if body.get("response_format") and stage in ("classify", "instances"):
        text = _as_json(text, stage)  # a schema-constrained answer, as llama.cpp's grammar or OpenAI give it
    if fault == "length":
        text, finish = text[: max(1, len(text) * 2 // 3)], "length"
    if fault == "content-filter":
        text, finish = "", "content_filter"
    usage = _usage(context, text)  # a real server counts the whole conversation
    record["usage"] = usage  # what the provider bills for this answer
    top = body.get("top_logprobs") if chat and body.get("logprobs") else (body.get("logprobs") if not chat else None)
    logprobs = _logprobs(mock, text, int(top), chat) if top and not getattr(mock, "no_logprobs", False) else None
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish, "logprobs": logprobs}
    else:
        choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": logprobs}
    return {"id": "mock-1", "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
            "model": body.get("model"), "choices": [choice], "usage": usage}


# Log-probabilities, as llama.cpp's server and OpenAI send them when asked (top_logprobs): the first token of the
# answer gets `mock.first_token_p` (0.9 by default), the rest of the letters or digits share what is left; a letter
# or digit verdict's alternatives are the other letters or digits, as a judge's would be. `mock.no_logprobs = True`
# answers without them, like an endpoint that does not support them.
_ALTERNATIVES = (("A", "B", "C"), ("1", "2", "3", "4", "5"), ("Yes", "No"))


def _logprobs(mock: MockTeacher, text: str, k: int, chat: bool) -> dict[str, Any]:
    import math

    first = (text.split() or [""])[0]
    p = getattr(mock, "first_token_p", 0.9)
    others = next((tuple(o for o in group if o != first) for group in _ALTERNATIVES if first in group), ())
    top = {first: math.log(p), **{o: math.log((1 - p) / len(others)) for o in others}} if others else {first: math.log(p)}
    top = dict(list(top.items())[:k])
    if chat:
        return {"content": [{"token": first, "logprob": top[first], "bytes": list(first.encode()),
                             "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in top.items()]}]}
    return {"tokens": [first], "token_logprobs": [top[first]], "top_logprobs": [top], "text_offset": [0]}


def request_stage(chat: bool, body: dict[str, Any]) -> str:
    """Which of our stages a request body comes from, by its templates' fixed text."""
    prompt = body["messages"][-1]["content"] if chat else body.get("prompt", "")
    context = "\n\n".join(str(m.get("content", "")) for m in body["messages"]) if chat else prompt
    if "Score the output from 1 to 5" in context or prompt.startswith(OWN_ANSWER_START):
        return "quality"  # the quality gate's prompt, its follow-up, or its own answer to a short-answer instruction
    return verifier_stage(prompt) or _stage(context, prompt)


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (timeout, cancelled run) leaves a broken pipe behind: expected, not news.

    The listen backlog is a provider's, not socketserver's 5: past 5 connections opening at once the kernel drops
    the next SYNs, and each of those requests reaches the server a second late (TCP's first SYN retry), which no
    hosted API does and which made the rate-limit tests measure the retry, not the pacing.
    """

    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    mock: MockTeacher
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps({"error": {"message": message, "type": "mock", "code": status}}).encode(), headers)

    def _batch_api(self, method: str, raw: bytes) -> bool:
        """Serve /files and /batches (tests/mock_batches.py); False for any other path."""
        if not re.search(r"/(files|batches)(/|$|\?)", self.path):
            return False
        if self.mock.dead:
            self.close_connection = True
            return True
        status, payload = self.mock.batches.handle(method, self.path, self.headers, raw)
        self._send(status, payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        return True

    def do_GET(self) -> None:  # noqa: N802
        if self._batch_api("GET", b""):
            return
        if self.path.rstrip("/").endswith("/models"):
            names = sorted(self.mock.models or {"mock-teacher"})
            self._send(200, json.dumps({"object": "list", "data": [{"id": n, "object": "model"} for n in names]}).encode())
        else:
            self._error(404, "not found")

    def do_POST(self) -> None:  # noqa: N802
        mock = self.mock
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        if len(raw) < length:  # the client hung up mid-request (a cancelled run): nothing to answer
            self.close_connection = True
            return
        if self._batch_api("POST", raw):
            return
        if mock.dead:  # a server that died: the connection closes with no answer
            self.close_connection = True
            return
        body = json.loads(raw or b"{}")
        chat = self.path.endswith("/chat/completions")
        if not chat and not self.path.endswith("/completions"):
            return self._error(404, f"unknown path {self.path}")
        # The whole conversation tells which of our templates asked (worked examples come as earlier turns).
        stage = request_stage(chat, body)
        record = {"endpoint": mock.name, "stage": stage, "api": "chat" if chat else "completions", "model": body.get("model"), "body": body,
                  "auth": self.headers.get("Authorization", "")}
        with mock.lock:
            mock.requests.append(record)
        if mock.on_request:
            mock.on_request(record)
        if mock.api_key is not None and self.headers.get("Authorization") != f"Bearer {mock.api_key}":
            # Like some real servers, echo the key back: our logs and messages must still never show it.
            presented = self.headers.get("Authorization", "").removeprefix("Bearer ")
            return self._error(401, f"Incorrect API key provided: {presented}.")
        if mock.models is not None and body.get("model") not in mock.models:
            return self._error(404, f"The model `{body.get('model')}` does not exist.")
        throttled = mock.limits.admit(body)
        if throttled is not None:
            record["fault"] = "rate-limit"
            return self._error(429, "Rate limit reached for requests.", throttled)
        fault = mock.next_fault()
        record["fault"] = fault
        with mock.slots:  # a self-hosted server decodes this many at a time; the rest queue
            if mock.latency or mock.latency_fn:
                time.sleep(mock.latency_for(body))
        payload = completion_payload(mock, chat, body, fault=fault)
        if fault == "429":
            return self._error(429, "Rate limit reached.")
        if fault == "429-retry-after":
            return self._error(429, "Rate limit reached.", {"Retry-After": "0.05"})
        if fault in ("500", "502", "503"):
            return self._error(int(fault), "The server had an error.")
        # Computed, so billed, whether or not the client is still there to read it: what a provider charges for.
        record["usage"] = payload["usage"]
        if fault == "timeout":
            time.sleep(mock.timeout_sleep)
        if fault == "empty-choices":
            payload["choices"] = []
        data = json.dumps(payload).encode()
        if fault == "bad-json":
            data = data[: len(data) // 2]
            return self._send(200, data, mock.limits.headers())
        if fault == "drop":
            # Promise a longer body than we send, then hang up mid-body.
            self._send(200, data[: len(data) // 3], length=len(data))
            self.close_connection = True
            return
        self._send(200, data, mock.limits.headers())


# --- eval: the judge mode and contestant answers ---------------------------------------
#
# A judge prompt (it shows "[Start of Answer A]" and "[Start of Answer B]") is answered
# deterministically: by default the answer with more words wins and equal lengths tie, so
# "correct" answers beat ones truncated to their first words. Knobs, set on the MockTeacher:
#   judge_prefers(answer_a, answer_b) -> "A" | "B" | "tie"   replaces the length rule
#   judge_position_bias = p      with probability p (per prompt, seeded) the verdict is "A" whatever the answers
#   judge_unreadable = p         with probability p the first reply has no verdict in it
#   judge_unreadable_follow_up   the verdict-only follow-up is unreadable too (so the pair becomes a tie)
#   judge_style = "..."          the verdict line's form, "{v}" is the verdict: "Verdict: {v}", "[[{v}]]", ...
#   contestant_answer(prompt)    answers any prompt that is not one of our templates (openai:MODEL contestants)

JUDGE_MARKERS = ("[Start of Answer A]", "[Start of Answer B]")
FOLLOW_UP_START = "Reply with only your verdict"


def _between(prompt: str, start: str, end: str) -> str:
    return prompt.split(start, 1)[-1].split(end, 1)[0].strip()


def eval_answer(mock: MockTeacher, prompt: str) -> tuple[str, str] | None:
    """The judge's reply to a judge prompt or follow-up, a contestant's answer, or None for other prompts."""
    if prompt.startswith(FOLLOW_UP_START):
        if getattr(mock, "judge_unreadable_follow_up", False):
            return "I cannot decide.", "stop"
        return "Verdict: A", "stop"
    if all(marker in prompt for marker in JUDGE_MARKERS):
        answer_a = _between(prompt, "[Start of Answer A]", "[End of Answer A]")
        answer_b = _between(prompt, "[Start of Answer B]", "[End of Answer B]")
        rng = _rng("judge", prompt)
        if rng.random() < getattr(mock, "judge_unreadable", 0.0):
            return "Both answers have some merit and some problems, and it is hard to say.", "stop"
        prefers = getattr(mock, "judge_prefers", None)
        if rng.random() < getattr(mock, "judge_position_bias", 0.0):
            verdict = "A"
        elif prefers is not None:
            verdict = prefers(answer_a, answer_b)
        else:
            words_a, words_b = len(answer_a.split()), len(answer_b.split())
            verdict = "A" if words_a > words_b else "B" if words_b > words_a else "tie"
        if "Reply with one letter" in prompt:
            return {"A": "A", "B": "B"}.get(verdict, "C"), "stop"
        style = getattr(mock, "judge_style", "Verdict: {v}")
        reason = "Answer A is more complete." if verdict == "A" else "Answer B is more complete." if verdict == "B" else "They are equally good."
        return f"{reason}\n{style.format(v=verdict)}", "stop"
    if "Score the output from 1 to 5" in prompt and "[Output]" in prompt:
        return _quality(mock, prompt), "stop"
    verified = verifier_answer(mock, prompt)  # the verifiers' requests (tests/mock_verifiers.py)
    if verified is not None:
        return verified, "stop"
    if prompt.startswith(OWN_ANSWER_START):
        return _own_answer(mock, prompt)
    if prompt.startswith("Reply with only the score line"):
        return ("no idea" if getattr(mock, "quality_unreadable_follow_up", False) else "Score: 2"), "stop"
    answer = getattr(mock, "contestant_answer", None)
    if answer is not None and not any(t in prompt for t in ("Is it classification?", "Come up with examples", "List of ")):
        return answer(prompt), "stop"
    return None


# The quality gate's prompt ("Score the output from 1 to 5") gets "Reason: ...\nScore: N": 1 for a bare
# sentiment label given to an instruction that asks for more, else 4. Knobs: quality_score(instruction,
# input, output) -> int replaces that rule; quality_against_reference(reference, output) -> int scores a
# prompt that shows a reference answer; quality_unreadable = True answers without a score (the
# follow-up then says "Score: 2", or nothing readable with quality_unreadable_follow_up = True).

_LABELS = {"positive", "negative", "neutral"}
# The gate's own-answer prompt (a short output is checked against the judge's own answer) gets "A mock
# answer."; knob: own_answer(instruction, input) -> str, or None for an answer cut off at max_tokens.
OWN_ANSWER_START = "Answer the instruction briefly and correctly."


def _own_answer(mock: MockTeacher, prompt: str) -> tuple[str, str]:
    rule = getattr(mock, "own_answer", None)
    if rule is None:
        return "A mock answer.", "stop"
    answer = rule(_between(prompt, "[Instruction]", "[Input]"), prompt.split("[Input]", 1)[-1].strip())
    return ("word " * 80, "length") if answer is None else (answer, "stop")


def _quality(mock: MockTeacher, prompt: str) -> str:
    instruction = _between(prompt, "[Instruction]", "[Input]")
    given = _between(prompt, "[Input]", "[Reference answer]" if "[Reference answer]" in prompt else "[Output]")
    output = prompt.split("[Output]", 1)[-1].split("Reply with the score alone", 1)[0].strip()
    if getattr(mock, "quality_unreadable", False):
        return "This example is interesting."
    rule = getattr(mock, "quality_score", None)
    against = getattr(mock, "quality_against_reference", None)
    if against is not None and "[Reference answer]" in prompt:
        score = against(_between(prompt, "[Reference answer]", "[Output]"), output)
    elif rule is not None:
        score = rule(instruction, given, output)
    else:
        score = 1 if output.strip(" .").lower() in _LABELS and "classify" not in instruction.lower() else 4
    if "Reply with the score alone" in prompt:
        return str(score)
    reason = "A bare label does not answer the instruction." if score == 1 else "Correct and on topic."
    return f"Reason: {reason}\nScore: {score}"


def count_judge(mock: MockTeacher) -> int:
    """Requests the mock answered as the judge (first asks and follow-ups)."""
    return sum(1 for r in mock.requests if _is_judge(r["body"]))


def _is_judge(body: dict[str, Any]) -> bool:
    prompt = body["messages"][-1]["content"] if "messages" in body else body.get("prompt", "")
    return prompt.startswith(FOLLOW_UP_START) or all(marker in prompt for marker in JUDGE_MARKERS)


def main() -> None:
    """Serve the mock as a child process, standing in for llama.cpp's server in lifecycle tests.

    --die-after N makes the process exit abruptly when request N+1 arrives, like a crashed server.
    """
    import argparse
    import os

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--die-after", type=int, default=None)
    args = parser.parse_args()
    mock = MockTeacher()
    if args.die_after is not None:
        def die(record: dict[str, Any]) -> None:
            if len(mock.requests) > args.die_after:
                os._exit(1)

        mock.on_request = die
    handler = type("Handler", (_Handler,), {"mock": mock})
    server = _QuietServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    print(f"mock teacher listening on {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
