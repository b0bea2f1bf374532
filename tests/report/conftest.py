"""A mock-teacher run directory shared by the report tests (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.runs import make_run


@pytest.fixture(scope="session")
def mock_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("report") / "run", 25)
