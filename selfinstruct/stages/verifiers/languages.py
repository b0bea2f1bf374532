"""Which language a block of code is in when its fence's label cannot be trusted, and whether its SQL parses.

    foreign('console.log("hi");')          # True: not Python, though it parses as a Python call
    sql_statement("sudo apt-get update")   # "not_a_statement": a ```sql fence around shell commands
    check_sql("SELECT FROM WHERE;")        # sqlglot's first error, or None

Shared chats (ShareGPT) label their fences by a converter's guess: ```sql around shell commands,
ASCII flow charts, Markdown tables and Python; ```python around Java, TypeScript and Dockerfiles.
These rules read the text instead. An SQL block is a statement when it opens (after comments) with
one; "..." or a comment standing where lines were is an illustration of a statement, not one to
parse. A plain ```sql block is wrong only when none of the common dialects parses it. Other
languages are recognised line by line by signs Python almost never shows: shell commands, lines
ending in ";", `const`/`function`/`public` declarations, `import {...} from`, `#include`, `=>`,
Dockerfile instructions, R's `<-`.
"""

from __future__ import annotations

import re

# Dialects a plain ```sql block may be written in: it is wrong only when none of them parses it.
SQL_DIALECTS = ("postgres", "mysql", "tsql", "sqlite", "oracle", "bigquery", "snowflake")

# What an SQL block opens with when it is one: a statement, not a shell command, a table drawn in text or a diagram.
_SQL_STATEMENT = re.compile(
    r"(?:SELECT|WITH\s+(?:RECURSIVE\s+)?\w+\s*(?:\([^)]*\)\s*)?AS\b|INSERT\s+(?:OR\s+\w+\s+|IGNORE\s+)?INTO\s+[\w`\"\[]|"
    r"UPDATE\s+\S+\s+SET\b|DELETE\s+FROM\s|REPLACE\s+INTO\s|MERGE\s+INTO\s|TRUNCATE\s+(?:TABLE\s+)?\w|"
    r"(?:CREATE|ALTER|DROP)\s+(?:OR\s+REPLACE\s+)?(?:GLOBAL\s+|TEMP(?:ORARY)?\s+|UNIQUE\s+|MATERIALIZED\s+)*"
    r"(?:TABLE|VIEW|INDEX|DATABASE|SCHEMA|FUNCTION|PROCEDURE|TRIGGER|USER|ROLE|SEQUENCE|TYPE|EXTENSION)\b|"
    r"GRANT\s|REVOKE\s|DECLARE\s+@|EXEC(?:UTE)?\s+\w|CALL\s+\w+\s*\(|EXPLAIN\s|SHOW\s+\w|DESCRIBE\s+\w|"
    r"BEGIN(?:\s+TRANSACTION)?\s*;|START\s+TRANSACTION\b|COMMIT\s*;|USE\s+\w+\s*;|SET\s+@?\w+\s*=)",
    re.IGNORECASE,
)
_SQL_COMMENTS = re.compile(r"\A(?:\s*(?:--[^\n]*|/\*.*?\*/))*\s*", re.DOTALL)
# Part of the statement left out on purpose: "column1, column2, ..." or a comment standing where lines were.
_SQL_ELIDED = re.compile(r"\.\.\.|…|^[ \t]*--[^\n]*\n[ \t]*\)", re.MULTILINE)
# Signs of a language other than Python, line by line: shell commands (a prompt, a known command, a word with
# --options), C-family statements and declarations, JavaScript, Dockerfiles, R. Python that fails to parse almost never shows one.
_SHELL = (r"sudo|apt|apt-get|yum|dnf|brew|pip3?|conda|npm|npx|yarn|pnpm|node|docker|docker-compose|kubectl|helm|git|cd|ls|mkdir|rm|cp|mv|"
          r"chmod|chown|curl|wget|ssh|scp|export|source|systemctl|service|cargo|rustc|go|javac|java|gcc|g\+\+|make|cmake|dotnet|"
          r"php|composer|ruby|gem|bundle|rails|python3?|py|pytest|flask|uvicorn|gunicorn|terraform|aws|gcloud|az|nano|vim|cat|echo|tar|zip|unzip")
_FOREIGN_LINE = re.compile(
    rf"^\s*(?:(?:\([\w.-]+\)\s*)?\$\s|(?:{_SHELL})\s+[-\w./:@'\"<$]|[\w.-]+(?:\s+[\w./-]+)?\s+--?[a-zA-Z][\w-]*(?:[\s=]|$)|\./[\w.-]+|"
    r"(?:const|let|var|function|public|private|protected|static|package|using|namespace|func|fn|impl|struct|interface|"
    r"async\s+function|export\s+(?:default|const|function|class))\b(?!\s*[=:(,).\[])|"
    r"import\s+(?:\{|\w+\s+from\b|type\b|'|\")|#include\b|<\?php|</?[a-zA-Z][\w-]*[\s>]|"
    r"(?:FROM|RUN|COPY|WORKDIR|CMD|ENTRYPOINT|ENV|EXPOSE)\s+[^\s=]|//)"
    r"|;\s*(?://.*)?$|=>|&&|\|\||\bSystem\.|\bstd::|\w\s+<-\s+\w|\blibrary\(|\binstall\.packages\(",
    re.MULTILINE,
)


def foreign(text: str) -> bool:
    """Whether code reads as another language than Python (see _FOREIGN_LINE), outside its strings and comments."""
    lines = [line for line in text.splitlines() if line.strip() and not re.match(r"\s*#(?!include|define|import)", line)]
    bare = "\n".join(re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", "''", line) for line in lines)
    return _FOREIGN_LINE.search(bare) is not None


def sql_statement(text: str) -> str | None:
    """Why an SQL-labelled block is not checked ("not_a_statement", "elided"), or None when it is a statement to parse."""
    if not _SQL_STATEMENT.match(text, _SQL_COMMENTS.match(text).end()):  # type: ignore[union-attr]  # the pattern matches empty text
        return "not_a_statement"
    return "elided" if _SQL_ELIDED.search(re.sub(r"'[^'\n]*'", "''", text)) else None


def check_sql(text: str, dialect: str = "") -> str | None:
    """None when sqlglot parses the statement(s) in the block's dialect (a plain SQL block: in any of SQL_DIALECTS),
    else the first error in a line."""
    import logging

    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    # sqlglot warns on stderr for statements it keeps as an opaque command; they parse, which is all that is asked.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    first: str | None = None
    for read in (dialect or None, *(SQL_DIALECTS if not dialect else ())):
        try:
            sqlglot.parse(text, read=read)
        except (ParseError, TokenError) as exc:
            first = first or str(exc).splitlines()[0][:300]
        else:
            return None
    return first


# A sentence: a capitalised word and three or more words after it, without a sign of code.
_SENTENCE = re.compile(r"[A-Z][a-z']+(?:[ ,]+[\w'’-]+){3,}[.!?:]?$")
_PYTHON_START = re.compile(r"(?:def|class|import|from|return|if|elif|else|for|while|try|except|finally|with|print|raise|yield|"
                           r"async|await|lambda|assert|del|global|nonlocal|pass|break|continue)\b")


def prose(text: str) -> bool:
    """Whether a block reads as text rather than code: every line a sentence, or, in three lines or more, fewer than a
    third of them (blank lines and comments aside) a Python statement on their own (a lone word is not) or opening
    with a Python keyword, as in a flow chart drawn in text."""
    import ast

    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if lines and all(_SENTENCE.match(line) for line in lines):
        return True  # "You should see the master node listed."
    if len(lines) < 3:
        return False  # a line or two that do not parse are broken code more often than text
    statements = 0
    for line in lines:
        if _PYTHON_START.match(line):  # "def f(x)" or 'print "hi"': Python, however broken
            statements += 1
            continue
        try:
            body = ast.parse(line + (" pass" if line.endswith(":") else "")).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        statements += not (len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, (ast.Name, ast.Constant)))
    return 3 * statements < len(lines)
