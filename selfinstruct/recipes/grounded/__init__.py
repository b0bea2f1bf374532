"""The grounded recipe (LLaVA-style): questions and answers about the user's own documents and annotations.

    recipe.py    the recipe's hooks: per-context requests for each response type, grounding checks, rows
    contexts.py  reading the contexts (text, Markdown, PDF pages, annotation JSONL) and chunking them
    order.py     journaling examples in request order, whichever answer finished first
    options.py   its options (--context, --types, --chunk-tokens, --verify, ...)
    product.py   the files a finished run writes
"""
