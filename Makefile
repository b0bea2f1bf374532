# Two entry points for a fresh machine: `make demo` (offline generation on the embedded
# teacher) and `make test` (the whole test suite). Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch; override with TORCH_SPEC=torch for your platform's default build.
TORCH_SPEC ?= torch==2.13.0
# llama.cpp's native CPU tuning crashes on some virtual machines; the portable build is safe everywhere.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
BIN := $(VENV)/bin

.PHONY: install chromium lint test test-fast demo clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -e ".[dev,local,finetune,report]"
	touch $@

install: $(BIN)/.installed

# The report's browser test loads report.html in Debian's chromium; installed only when missing.
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

lint: install
	$(BIN)/ruff check selfinstruct tests bench

test: install chromium lint
	$(BIN)/python -m pytest

test-fast: install chromium
	$(BIN)/python -m pytest -m "not slow"

demo: install
	$(BIN)/selfinstruct generate --seeds seed_tasks/seed_tasks.jsonl --budget 20

clean:
	rm -rf $(VENV) .pytest_cache
