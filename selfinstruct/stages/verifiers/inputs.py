"""Instances that need an input and have none: "Given a paragraph, extract the main ideas." with input "".

    needs_missing_input("Summarize the following article.", "")      # True: the article is missing
    needs_missing_input("Translate this sentence: 'Hi there'.", "")   # False: the sentence is in it

A cheap rule, no judge. The instruction must point at material it does not hold: "given a
paragraph/text/list ...", "the following ...", "this article/sentence ...", "the text below",
"the provided/given ..."; "this recipe to ..." only after a verb that works on material ("Modify this recipe to
...", "Summarize the points from this article about ..."), and never after one that makes it ("Write this article
about ..." asks for one). It holds the material itself when it quotes it, has a colon or a line
break with words after it, a sentence after the one that points at it (unless that sentence only
goes on with the task: "If so, provide a recipe."; a question after it is material), or brackets or braces with
something inside, as seed tasks do ("Given a table employees(id, name, ...)", "Translate this sentence ...: 'The
beautiful ones ...'"). "This X" after an X the instruction named ("a product called Seeq ... this product") points back
at it, not at missing material.
Every seed of seed_tasks/seed_tasks.jsonl and of the original Self-Instruct seeds passes.
"""

from __future__ import annotations

import re

# What a task can be given to work on: text, code or data the instance's input should hold.
_MATERIAL = (
    r"(?:paragraphs?|text|texts|sentences?|passages?|articles?|essays?|stor(?:y|ies)|poems?|documents?|emails?|reviews?|"
    r"tweets?|excerpts?|dialogues?|conversations?|transcripts?|lists?|code|snippets?|program|function|data|dataset|"
    r"table|abstract|letter|message|report|statements?|paragraph\s+below|words?|phrases?|numbers|array|string|json|csv|"
    r"news|headlines?|descriptions?|summar(?:y|ies)|speech|lyrics|recipe|query|input|product|method|dish)"
)
# Verbs that work on material they are handed: "Summarize this article about ...", "Modify this recipe to ..." point
# at an article or recipe to be given, where "Write this article about ..." asks for one.
_WORKS_ON = (
    r"(?:summari[sz]e|rewrite|re-write|modify|edit|translate|analy[sz]e|improve|proofread|paraphrase|shorten|simplify|"
    r"correct|critique|revise|adapt|adjust|review|fix|debug|refactor|use|apply|follow)"
)
# "Write this article about ...", "Create this recipe to ...": the task makes the material rather than working on it.
_PRODUCES = re.compile(r"\b(?:write|draft|create|compose|generate|produce|design|invent|come\s+up\s+with)\s+$", re.IGNORECASE)
_CUE = re.compile(
    rf"\b(?:given\s+(?:a|an|the|some|two|three|\d+)?\s*(?:\w+\s+){{0,2}}?{_MATERIAL}\b"
    rf"|(?:the|these)\s+following\b"
    rf"|(?:this|these)\s+(?:\w+\s+)?{_MATERIAL}\b(?!\s+(?:that|which|to|with|of)\b)"
    rf"|\b{_WORKS_ON}\s+(?:(?:\w+\s+){{0,4}}?(?:of|from|in)\s+)?(?:this|these)\s+(?:\w+\s+)?{_MATERIAL}\b"
    rf"|(?:the|a)\s+(?:provided|given|attached|above|accompanying)\s+(?:\w+\s+)?{_MATERIAL}\b"
    rf"|\b{_MATERIAL}\s+(?:below|above|provided|given)\b(?!\s*[-\d$])"  # "the text below", not "numbers below 10"
    # "a summary of the article on climate change": a definite article, report or email that is nowhere in the task
    rf"|\bthe\s+(?:article|passage|paragraph|essay|email|report|transcript|document|excerpt|text)\s+(?:on|about)\b"
    rf")",
    re.IGNORECASE,
)
# Material carried by the instruction itself, anywhere in it: a quotation or code, lines after the first,
# brackets or braces with something inside, a list of numbers.
_INLINE = re.compile(r"[\"“”'‘’`«][^\"“”'‘’`«»]{3,}|\n\s*\S|[\[{(][^\]})]{3,}[\]})]|(?:\d+(?:\.\d+)?\s*,\s*){2,}\d")
# ... and after the words that point at it: a colon with text after it, or a capitalised word mid-sentence
# ("a metaphor that uses the following object Stars").
_AFTER = re.compile(r":\s*\S|(?<=[a-z,] )[A-Z][a-z]+")
# A sentence after the one that points at the material that only goes on with the task ("If so, provide a recipe.",
# "Please explain.", "Then list three ideas."): a condition, a connective or a request, not the material itself.
_MORE_TASK = re.compile(
    r"(?:if\s+(?:so|yes|not|no|it|this|that|there|they|you)\b|otherwise|then|also|and|finally|please|make\s+sure|be\s+sure|"
    r"(?:provide|give|write|list|explain|describe|include|suggest|tell|show|create|generate|answer|return|use|keep|add|make|"
    r"identify|summari[sz]e|rewrite|classify|translate|output|format|mention|state|note|do\s+not|don't)\b)",
    re.IGNORECASE,
)
# "Given a list of numbers, write a function that ...", "Write me some javascript that encrypts a given string": the list
# or string is the program's parameter, not missing material.
_WRITES_CODE = re.compile(
    r"\b(?:write|create|implement|design|develop|generate|construct)\s+(?:an?\s+|the\s+)?(?:\w+\s+){0,2}?"
    r"(?:function|program|script|code|query|class|method|algorithm|regex|regular\s+expression|sql|python|javascript|typescript|"
    r"java|bash|shell|c\+\+|c#|rust|go|ruby|php|kotlin|swift)(?!\w)",
    re.IGNORECASE,
)


def needs_missing_input(instruction: str, inp: str) -> bool:
    """Whether the instruction works on material that neither the input nor the instruction holds."""
    if inp.strip():
        return False
    match = _CUE.search(instruction)
    if match is None or _WRITES_CODE.search(instruction) or _PRODUCES.search(instruction, 0, match.start()):
        return False
    # "I use a product called Seeq. Are you aware of this product?": "this X" points back at an X the instruction named.
    noun = re.findall(r"[a-z]+", match.group(0).lower())[-1].rstrip("s")
    if re.search(rf"\b{noun}s?\b", instruction[: match.start()], re.IGNORECASE):
        return False
    # Words after the sentence that points at the material: the material itself ("Paraphrase this statement.
    # AI is ..."), unless every later sentence only goes on with the task ("... this ingredient list? If so, provide a recipe.").
    end = re.search(r"[.?!](?:\s|$)", instruction[match.end():])
    later = instruction[match.end() + end.end():].strip() if end is not None else ""
    # A question after it is material ("Answer this question. Why is the sky blue?"), even one opening with "If".
    if later and not all(_MORE_TASK.match(sentence) and not sentence.rstrip().endswith("?")
                         for sentence in re.split(r"(?<=[.?!])\s+", later) if sentence.strip()):  # fmt: skip
        return False
    return _INLINE.search(instruction) is None and _AFTER.search(instruction, match.end()) is None
