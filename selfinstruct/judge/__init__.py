"""The LLM judge, below both the gate stage and `eval` (docs/ARCHITECTURE.md).

    pairwise.py       which of two answers is better, from the judge's letter probabilities, both orders
    pointwise.py      a 1-5 quality score for one answer (the quality gate's judge)
    graded.py         a verdict graded against a reference answer
    answer_kind.py    does an instruction ask for code? (one yes/no token)
    probabilities.py  reading verdicts from top_logprobs
    calibration.py    ROC AUC and thresholds on labelled pairs
"""
