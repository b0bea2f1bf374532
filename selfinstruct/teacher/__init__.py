"""The teacher subsystem: one seam that sends chat messages (or a completion prompt) to a model.

    seam.py           TeacherSeam: the protocol both teachers provide (complete, spend, in_flight, drain, report)
    wire.py           messages, decoding options, request bodies, completions
    client.py         Teacher.complete(messages | prompt, decoding, stage) -> Completion; pacing, request log
    retry.py          which faults are retried and how long to wait (tenacity), what a failure was
    batch.py          BatchTeacher: the same seam over the OpenAI Batch API (batch_lines.py, batch_journal.py)
    endpoint.py       which endpoint a run talks to (hosted or the embedded local model), resolved once
    endpoints.py      several endpoints sharing the requests; rate*.py, pacer.py: rate limits and pacing
    spend.py          token counting, prices and the spend caps every request is checked against; holds.py its journal
    packaged.py       the GGUF models shipped as PyPI packages: assemble, verify, cache
    llama_command.py  the embedded llama.cpp server's engines and command lines; llama_server.py its lifecycle
"""

from selfinstruct.teacher.client import Teacher
from selfinstruct.teacher.seam import TeacherSeam
from selfinstruct.teacher.wire import Completion, Decoding, Message

__all__ = ["Completion", "Decoding", "Message", "Teacher", "TeacherSeam"]
