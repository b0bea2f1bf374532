"""`selfinstruct eval`: two contestants answer the same tasks and the pairwise judge (judge/) compares them.

    command.py      the command, top to bottom (read tasks, resolve contestants, answer, judge, write)
    settings.py     its options (EvalConfig)
    contestants.py, answering.py, generation.py, answer_files.py   who answers, and how
    loop.py         finetune --eval's round; calibrate.py the judge's and the gate's calibration
    journal.py, estimate.py, report.py, stats.py, tasks.py
"""
