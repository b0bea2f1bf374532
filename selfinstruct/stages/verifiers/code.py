"""Find the code in an output, check it, and say what was found: Python, SQL, another language, or none.

    blocks = find_code(output)                 # [CodeBlock(language="python", text=..., stated_output=...)]
    verdict = await check_code(instruction, inp, output)
    verdict.reason, verdict.detail, verdict.checks   # "code_error", "ZeroDivisionError: ... (line 3)", [...]

Code is what sits in Markdown fences (```python, ```sql, ```js, or a bare ``` whose text parses as
a Python program), or a whole output of several lines without fences that parses as a Python
program with a statement only code has (an import, a def, a class, a loop, a call) and either is
one def or class or has two statements; or a `>>>` session; or an SQL statement. Prose almost never
parses, and the lines of words that do ("Yes", "Name: John", "x = 2") are names, annotations and
assignments, which alone do not count.
Python is parsed with `ast`, then run in the sandbox (sandbox.py) with the instance's input on
stdin; an output that also states what the program prints ("Output:" and a block after the code,
"Output: 120" on the line after it, or a `>>>` session) is compared with what it printed, unless
the program is not deterministic (random, time, uuid ...). Where the input is a call of the
function the code defines ("factorial(5)") and the output states a result, the call's printed
result is what is compared. Other claims about values (prose such as "so the answer is 120") are
not checked: reading them reliably needs a judge. What the sandbox refuses, a module that is not in the standard library,
a read past the end of stdin, a file it expects to find, or a name the instance itself supplies is not the program's fault
as far as can be told: that instance is kept, counted as unchecked. SQL is parsed by sqlglot;
other languages are counted and left alone.

A fence's label is a claim, not proof (languages.py): an SQL block is parsed only when it opens with
a statement and elides nothing; a Python-labelled block that does not parse but reads as another
language is counted as that; an unlabelled one that reads as another language is not taken for
Python even when it parses (`console.log("hi");`). A name the program lacks that the task, an
earlier turn of the conversation (`context`) or another language's block of the same output
supplies, or `self` in a method body shown alone, makes it a fragment: kept, counted as unchecked.
"""

from __future__ import annotations

import ast
import doctest
import re
from dataclasses import dataclass, field

from selfinstruct.stages.verifiers.languages import check_sql, foreign, prose, sql_statement
from selfinstruct.stages.verifiers.sandbox import SandboxResult, run_python

PYTHON = {"python", "py", "python3", "py3", "pycon", "ipython"}
# sqlglot's dialect for a fence's language, "" for plain SQL.
SQL = {"sql": "", "mysql": "mysql", "postgresql": "postgres", "postgres": "postgres", "psql": "postgres",
       "sqlite": "sqlite", "tsql": "tsql", "plsql": "oracle", "sparksql": "spark", "bigquery": "bigquery"}  # fmt: skip
# Fences that hold what a program prints, or plain text, not code.
TEXT = {"text", "txt", "output", "console", "plaintext", "plain", "stdout", "shell-session", "markdown", "md", "json", "csv"}
# Modules whose programs print something different each run: their stated output is not compared.
NONDETERMINISTIC = {"random", "time", "datetime", "uuid", "secrets", "os", "threading", "asyncio", "tempfile", "getpass", "socket"}
# Exceptions that say the program needed something the sandbox has not got, not that it is wrong.
# A file the program reads ("data.csv", "/path/to/dir") is the user's, not in the empty folder it runs in.
UNCHECKABLE_ERRORS = {"ModuleNotFoundError", "ImportError", "EOFError", "KeyboardInterrupt", "FileNotFoundError", "NotADirectoryError",
                      "TclError"}  # fmt: skip  # TclError: a window, which needs a display the sandbox has not got

# A fence closes on a line of its own or at the end of the last code line ("print(x)```"), as models write it.
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_OUTPUT_CUE = re.compile(r"\b(output|outputs|prints?|printed|result|returns?|displays?|gives|produces?)\b[^\n]{0,40}:?\s*$", re.I)
# "Output: 120" on the first line after the last fence: what the code above prints (or its call returns).
_INLINE_OUTPUT = re.compile(r"\A\s*(?:\*\*)?(?:output|result|it prints|this prints|prints)(?:\*\*)?\s*:\s*(?:\*\*)?\s*(\S[^\n]*)$",
                            re.IGNORECASE | re.MULTILINE)
_SQL_START = re.compile(r"^\s*(SELECT|WITH|INSERT\s+INTO|UPDATE|DELETE\s+FROM|CREATE\s+(?:TABLE|VIEW|INDEX)|ALTER\s+TABLE|DROP\s+TABLE)\b")
# Statements only code has. An assignment alone is not enough outside a Python fence ("x = 2" answers an
# equation), and an annotation without a value is how "Name: John" parses.
_STRONG_STATEMENTS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.While,
                      ast.With, ast.Try)


@dataclass
class CodeBlock:
    """One piece of code in an output, with what the output says it prints (the block after it)."""

    language: str  # "python", "sql", another fence's language, or "unknown"
    text: str
    dialect: str = ""
    stated_output: str | None = None
    labelled: bool = True  # the fence named the language; False: guessed from the text


@dataclass
class CodeVerdict:
    """reason: None (kept) or why the instance goes; checks: what was checked, for the counts."""

    reason: str | None = None
    detail: str | None = None
    checks: list[str] = field(default_factory=list)
    runs: list[SandboxResult] = field(default_factory=list)


def _python_program(text: str) -> ast.Module | None:
    """The parsed program when `text` is Python with a statement only code has (or a call), else None."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    body = tree.body
    calls = [s for s in body if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)]
    if not (calls or any(isinstance(s, _STRONG_STATEMENTS) for s in body)):
        return None
    return tree


def _is_session(text: str) -> bool:
    return any(line.lstrip().startswith(">>> ") for line in text.splitlines())


def _guess(text: str, instruction: str) -> tuple[str, str]:
    """The language of an unlabelled fence: Python when it parses as a program and shows no sign of another
    language, SQL when it reads as a statement."""
    if _is_session(text) or (_python_program(text) is not None and not foreign(text)):
        return "python", ""
    if _SQL_START.match(text) or (re.search(r"\bsql\b", instruction, re.I) and re.match(r"\s*select\b", text, re.I)):
        return "sql", ""
    return "unknown", ""


def find_code(output: str, instruction: str = "") -> list[CodeBlock]:
    """Every piece of code in an output, in order; a fenced block after an "Output:"-like line is what the code before it prints."""
    blocks: list[CodeBlock] = []
    last_end = 0
    for match in _FENCE.finditer(output):
        label, text = match.group(1).lower().strip(".") or "", match.group(2)
        between = output[last_end:match.start()].strip()
        last_end = match.end()
        if blocks and (label in TEXT or not label) and _OUTPUT_CUE.search(between.splitlines()[-1] if between else ""):
            blocks[-1].stated_output = text.strip()
            continue
        if label in TEXT:
            continue
        if label in PYTHON:
            language, dialect = "python", ""
        elif label in SQL:
            language, dialect = "sql", SQL[label]
        elif label:
            language, dialect = label, ""
        else:
            language, dialect = _guess(text, instruction)
        blocks.append(CodeBlock(language=language, text=text, dialect=dialect, labelled=bool(label)))
    if blocks and blocks[-1].language == "python" and blocks[-1].stated_output is None:
        inline = _INLINE_OUTPUT.search(output[last_end:])
        if inline:
            blocks[-1].stated_output = inline.group(1).strip().strip("`")
    if blocks or "```" in output:
        return blocks
    stripped = output.strip()
    if _is_session(stripped) and stripped.lstrip().startswith(">>> "):
        return [CodeBlock(language="python", text=stripped)]
    tree = _python_program(stripped) if stripped.count("\n") >= 1 else None
    if tree is not None and (len(tree.body) >= 2 or isinstance(tree.body[0], _STRONG_STATEMENTS)) and not foreign(stripped):
        return [CodeBlock(language="python", text=stripped, labelled=False)]
    if _SQL_START.match(stripped):
        # The statement runs to its first blank line; an explanation may follow.
        return [CodeBlock(language="sql", text=re.split(r"\n\s*\n", stripped, maxsplit=1)[0], labelled=False)]
    return []


def _syntax_error(text: str) -> str | None:
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


def _deterministic(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if any(n.split(".")[0] in NONDETERMINISTIC for n in names):
            return False
    return True


def _same_output(printed: str, stated: str) -> bool:
    """Whether a program printed what its output says, line by line, ignoring trailing spaces and quotes around a lone line."""

    def lines(text: str) -> list[str]:
        return [line.rstrip() for line in text.strip().replace("\r\n", "\n").split("\n")]

    a, b = lines(printed), lines(stated)
    if len(b) == 1 and len(a) == 1:
        return a[0].strip("'\"` ") == b[0].strip("'\"` ")
    return a == b


def _looks_like_a_value(stated: str) -> bool:
    """Whether a stated output is something a program prints (a number, a literal, a few words, several lines),
    not a description of it ("Output: a list of the even numbers"), which is not compared."""
    text = stated.strip()
    if "\n" in text or re.search(r"[\d\[\]{}()'\"=]", text) or len(text.split()) <= 3:
        return True
    return False


def _session_program(text: str) -> str:
    """A `>>>` session as a doctest run: the program fails when an example's result differs."""
    examples = doctest.DocTestParser().get_examples(text)
    cases = [(e.source, e.want) for e in examples]
    return (
        "import doctest\n"
        f"_cases = {cases!r}\n"
        "_globs = {'__name__': '__main__'}\n"
        "for _source, _want in _cases:\n"
        "    _test = doctest.DocTest([doctest.Example(_source, _want)], _globs, 'session', 'main.py', 0, None)\n"
        "    _runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)\n"
        "    _runner.run(_test, out=lambda s: None)\n"
        "    if _runner.failures:\n"
        "        raise AssertionError(f'>>> {_source.strip()[:80]} did not give {_want.strip()[:80]!r}')\n"
    )


def _input_call(source: str, inp: str) -> str | None:
    """The instance's input when it is one call of a function the program defines at top level and never calls itself."""
    try:
        expression = ast.parse(inp.strip(), mode="eval").body
        program = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not isinstance(expression, ast.Call) or not isinstance(expression.func, ast.Name):
        return None
    defined = {node.name for node in program.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    calls = {n.func.id for stmt in program.body if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
             for n in ast.walk(stmt) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}  # fmt: skip
    name = expression.func.id
    return inp.strip() if name in defined and name not in calls else None


def _supplied_name(result: SandboxResult, material: str, source: str) -> bool:
    """A NameError for a name the material gives ("Given a list `nums`, ...", an earlier turn's code, another language's
    block, the answer's own words quoting it: "where `WarningCategory` is the type to ignore"), `self` in a method body
    shown alone, or a base class the program never defines or imports (`class MainApp(MDApp):`, a piece of an app on a
    framework): a fragment meant to be filled in, not wrong code."""
    match = re.search(r"name '(\w+)' is not defined", result.message)
    if result.error_type != "NameError" or not match:
        return False
    name = match.group(1)
    return name in ("self", "cls") or re.search(rf"\b{name}\b", material) is not None or name in _unbound_bases(source)


def _unbound_bases(source: str) -> set[str]:
    """Base classes named in the program that nothing in it binds (defines, assigns or imports)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    bases = {b.id for node in ast.walk(tree) if isinstance(node, ast.ClassDef) for b in node.bases if isinstance(b, ast.Name)}
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound |= {node.name for node in ast.walk(tree) if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))}
    bound |= {(a.asname or a.name).split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)) for a in node.names}
    return bases - bound


# A request to go on with code cut off before ("Go on from the last line", "continue", "the rest of the code").
_CONTINUES = re.compile(r"\b(?:continue|go\s+on|keep\s+going|rest\s+of\s+(?:the|your)\s+code|from\s+(?:the\s+)?(?:last|previous)\s+line|"
                        r"where\s+you\s+(?:left\s+off|stopped)|(?:was|is|got)\s+cut)\b", re.IGNORECASE)
_MAGIC = re.compile(r"^([ \t]*)[!%]", re.MULTILINE)  # a notebook's shell escape or magic ("!pip install x"): not Python


def _without_magics(text: str) -> str:
    return _MAGIC.sub(r"\1pass  # ", text) if not _is_session(text) else text


def _placeholders_filled(text: str) -> str | None:
    """The program with `pass` in every block whose body is only comments ("if condition:\\n    # do this"), or None
    when it has no such block: an illustration of a shape, not a program to run."""
    lines = text.splitlines()
    filled, found = [], False
    for i, line in enumerate(lines):
        filled.append(line)
        code = line.split("#", 1)[0].rstrip()
        if not code.endswith(":") or not code.strip():
            continue
        indent = len(line) - len(line.lstrip())
        body = []
        for later in lines[i + 1 :]:
            if later.strip() and (len(later) - len(later.lstrip()) <= indent or not later.lstrip().startswith("#")):
                break
            body.append(later)
        ends_block = i + 1 + len(body) == len(lines) or len(lines[i + 1 + len(body)]) - len(lines[i + 1 + len(body)].lstrip()) <= indent
        if any(b.strip() for b in body) and ends_block:
            filled.append(" " * (indent + 4) + "pass")
            found = True
    return "\n".join(filled) if found else None


async def check_python(blocks: list[CodeBlock], instruction: str, inp: str, run: bool, material: str = "") -> CodeVerdict:
    """Parse every Python block, then run them as one program (later blocks use earlier definitions). `material`: text
    whose names the program may use without defining them (an earlier turn, the output's blocks in other languages)."""
    verdict = CodeVerdict()
    programs: list[str] = []
    stateds: list[str] = []
    continuing = _CONTINUES.search(instruction) is not None
    for block in blocks:
        if _is_session(block.text):
            programs.append(_session_program(block.text))
            verdict.checks.append("python_session")
            continue
        text = _without_magics(block.text)
        error = _syntax_error(text)
        if error and (foreign(text) or prose(text)):
            verdict.checks.append("other_language:python_label")  # "```python" around shell commands, Java or a flow chart
            continue
        filled = _placeholders_filled(text) if error and "expected an indented block" in error else None
        if filled is not None and _syntax_error(filled) is None:
            return CodeVerdict(checks=["python_unchecked:placeholder"])  # parses once the commented bodies are filled in
        if error and continuing and re.search(r"unexpected indent|unindent does not match|unmatched '[)\]}]'", error):
            return CodeVerdict(checks=["python_unchecked:continuation"])  # code that starts inside the block before it
        if error:
            return CodeVerdict(reason="code_syntax", detail=error)
        programs.append(text)
        stateds += [block.stated_output] if block.stated_output is not None else []
    # What the program prints: the one output stated, or, where several blocks each state theirs, all of them in order.
    stated = "\n".join(s.strip() for s in stateds) if stateds else None
    if not programs:
        return verdict
    verdict.checks.append("python_parsed")
    if not run:
        return verdict
    source = "\n\n".join(programs)
    call = _input_call(source, inp) if stated is not None else None
    if call is not None:
        # The input names a call of the function the output defines ("factorial(5)") and the output states its
        # result: print it, so that the result is compared like any stated output.
        source += f"\n\nprint({call})\n"
        verdict.checks.append("python_input_called")
    result = await run_python(source, stdin=inp)
    verdict.runs.append(result)
    if result.status == "ok":
        verdict.checks.append("python_ran")
        if stated is not None:
            if not result.stdout.strip() or not _deterministic(ast.parse(source)) or "..." in stated or not _looks_like_a_value(stated):
                verdict.checks.append("python_output_not_compared")
            elif _same_output(result.stdout, stated):
                verdict.checks.append("python_output_matched")
            else:
                return CodeVerdict(
                    reason="code_wrong_output", detail=f"prints {result.stdout.strip()[:120]!r}, the output says {stated.strip()[:120]!r}",
                    checks=verdict.checks, runs=verdict.runs,
                )  # fmt: skip
        return verdict
    top_level_await = result.error_type == "SyntaxError" and "'await' outside" in result.message  # a notebook cell or an async REPL
    if result.status == "blocked" or result.error_type in UNCHECKABLE_ERRORS or _supplied_name(result, f"{instruction}\n{inp}\n{material}", source) or (
        result.status == "error" and re.search(r"\bsys\.argv\b|\bargparse\b", source)
    ) or top_level_await:
        verdict.checks.append(f"python_unchecked:{result.error_type or result.status}")
        return verdict
    if result.error_type == "NameError" and continuing:
        verdict.checks.append("python_unchecked:continuation")  # "Go on from the last line": its names are in the code before
        return verdict
    if result.status == "timeout" and re.search(r"\bsleep\s*\(", source):
        verdict.checks.append("python_unchecked:sleep")  # a program that waits on purpose (two examples of time.sleep(3))
        return verdict
    reason = "code_timeout" if result.status == "timeout" else "code_error"
    return CodeVerdict(reason=reason, detail=result.reason, checks=verdict.checks, runs=verdict.runs)


async def check_code(instruction: str, inp: str, output: str, run: bool = True, context: str = "") -> CodeVerdict:
    """Every check the code in an output gets; the first failure decides. No code: nothing checked. `context`: the
    conversation before this answer, whose code the answer's may go on from."""
    blocks = find_code(output, instruction)
    verdict = CodeVerdict()
    for block in blocks:
        if block.language == "sql":
            skip = sql_statement(block.text)
            if skip is not None:
                verdict.checks.append(f"sql_unchecked:{skip}")
                continue
            error = check_sql(block.text, block.dialect)
            if error:
                return CodeVerdict(reason="sql_syntax", detail=error)
            verdict.checks.append("sql_parsed")
        elif block.language not in ("python",):
            verdict.checks.append(f"other_language:{block.language}")
    python = [b for b in blocks if b.language == "python"]
    if python:
        # What the answer's words quote as code ("where `WarningCategory` is the type"), and its other languages' blocks.
        quoted = " ".join(re.findall(r"`([^`\n]+)`", re.sub(r"```.*?(?:```|\Z)", " ", output, flags=re.DOTALL)))
        others = "\n".join([quoted, *(b.text for b in blocks if b.language != "python")])
        checked = await check_python(python, instruction, inp, run, material=f"{context}\n{others}")
        if checked.reason:
            return checked
        verdict.checks += checked.checks
        verdict.runs += checked.runs
    return verdict
