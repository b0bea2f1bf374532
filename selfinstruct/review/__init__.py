"""`selfinstruct review`: read rows in the browser, mark them right or wrong, and get the share of right rows with its interval.

    selfinstruct review outputs/run-1 --sample 50      # serves a page on 127.0.0.1, prints its URL (with a token)
    selfinstruct review outputs/run-1 --summary        # the figure, without a browser

    settings.py  ReviewConfig: the command's options
    rows.py      the rows of a run or a data file, and each row's context (flags, gate note, chunk, siblings)
    render.py    prose as written, fenced code as code
    app.py       the Starlette app: page, API, and the guards (Host, token, same-origin JSON writes)
    serve.py     choose rows (the sample only grows), bind, print the URL, run uvicorn

reviews.jsonl itself (append, fold with the later line winning, content hashes, what it does to the
data) and the figure (share right, 95% Wilson interval) are `selfinstruct.reviews`, one layer down,
so export, report and finetune read reviews without importing this package or a web server.
Nothing here is imported by the CLI until the command runs.
"""
