"""`selfinstruct review`: read rows in the browser, mark them right or wrong, and get the share of right rows with its interval.

    selfinstruct review outputs/run-1 --sample 50      # serves a page on 127.0.0.1, prints its URL (with a token)
    selfinstruct review outputs/run-1 --summary        # the figure, without a browser

    settings.py  ReviewConfig: the command's options
    rows.py      the rows of a run or a data file, and each row's context (flags, gate note, chunk, siblings)
    verdicts.py  reviews.jsonl: append, fold (later wins), content hashes, apply to data (export, finetune)
    figure.py    reviewed, share right, 95% Wilson interval, and what the share stands for
    render.py    prose as written, fenced code as code
    app.py       the Starlette app: page, API, and the guards (Host, token, same-origin JSON writes)
    serve.py     choose rows (the sample only grows), bind, print the URL, run uvicorn

Nothing here is imported by the CLI until the command runs; export, report and finetune import
verdicts.py and figure.py only (no web server needed to apply reviews).
"""
