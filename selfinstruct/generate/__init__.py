"""The generate engine: `selfinstruct generate`, `--dry-run` and `status` (docs/ARCHITECTURE.md).

    command.py   the command: inputs, run directory, teacher lifetime, product and summary files
    pipeline.py  the stage driver a recipe runs in: proposals and finishing work until the budget is met
    estimate.py  the dry run: requests, tokens and cost per stage, with nothing sent
    status.py    `selfinstruct status RUN_DIR`: where a run stands, read from its files
    progress.py  the live progress bars and the end-of-run table
    settings.py  the options of `generate` and `status` (GenerateConfig, StatusConfig)

The recipes (recipes/) say what is asked and kept; this package schedules them and owns the run around them.
"""
