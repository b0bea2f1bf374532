"""The teacher subsystem: one seam that sends chat messages (or a completion prompt) to a model.

    client.py        Teacher.complete(messages | prompt, decoding, stage) -> Completion; retries, pacing, request log
    endpoint.py      which endpoint a run talks to (hosted or the embedded local model), resolved once
    spend.py         token counting, prices and the spend caps every request is checked against
    packaged.py      the GGUF models shipped as PyPI packages: assemble, verify, cache
    llama_server.py  the embedded llama.cpp server's lifecycle
"""

from selfinstruct.teacher.client import Completion, Decoding, Message, Teacher

__all__ = ["Completion", "Decoding", "Message", "Teacher"]
