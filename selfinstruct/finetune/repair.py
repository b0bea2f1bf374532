"""Conversations as people share them, repaired the way FastChat's preprocessing repairs them before Vicuna trained.

    messages, repairs = repair_conversation(messages)    # repairs: Counter({"leading_assistant_turns_dropped": 1})

Real ShareGPT files are not clean turn-taking: 42 of the first 150 conversations of the ShareGPT
V3 dump open with the assistant (the user's first message was not captured), some turns are empty,
and a dropped turn leaves two of one role in a row. Each repair is counted:
    empty_turns_dropped              a turn with no text (or no string at all)
    system_turns_dropped             a system message anywhere but first
    leading_assistant_turns_dropped  assistant turns before the first user turn
    turns_merged                     a turn joined to the one before it of the same role (blank line between)
    trailing_user_turns_dropped      a last user turn, which has no answer to learn
A conversation left with no user turn followed by an assistant turn has nothing to train on; the
caller drops it (conversations_dropped) and fails only when a whole file is left with nothing.
"""

from __future__ import annotations

from collections import Counter

from selfinstruct.records import ChatMessage

REPAIRS = ("empty_turns_dropped", "system_turns_dropped", "leading_assistant_turns_dropped", "turns_merged", "trailing_user_turns_dropped")


def repair_conversation(messages: list[ChatMessage]) -> tuple[list[ChatMessage], Counter[str]]:
    """(the repaired conversation, or [] when nothing trainable is left; the count of each repair made)."""
    counts: Counter[str] = Counter()
    system: list[ChatMessage] = []
    body: list[ChatMessage] = []
    for t, message in enumerate(messages):
        if not message.content.strip():
            counts["empty_turns_dropped"] += 1
        elif message.role == "system":
            if t == 0:
                system.append(message)
            else:
                counts["system_turns_dropped"] += 1
        else:
            body.append(message)
    while body and body[0].role == "assistant":
        body.pop(0)
        counts["leading_assistant_turns_dropped"] += 1
    merged: list[ChatMessage] = []
    for message in body:
        if merged and merged[-1].role == message.role:
            merged[-1] = ChatMessage(role=message.role, content=f"{merged[-1].content}\n\n{message.content}")
            counts["turns_merged"] += 1
        else:
            merged.append(message)
    if merged and merged[-1].role == "user":
        merged.pop()
        counts["trailing_user_turns_dropped"] += 1
    return (system + merged if merged else []), counts


def describe_repairs(counts: Counter[str] | dict[str, int], dropped: int) -> str:
    """One line for the warning and the model card: '42 leading assistant turns dropped, 2 empty turns dropped; 1 conversation left with nothing to train on'."""
    parts = [f"{counts[name]} {name.replace('_', ' ')}" for name in REPAIRS if counts.get(name)]
    text = ", ".join(parts) or "no repairs"
    if dropped:
        text += f"; {dropped} conversation{'s' if dropped != 1 else ''} left with nothing to train on, dropped"
    return text
