# Two entry points for a fresh machine: `make demo` (offline generation on the embedded
# teacher) and `make test` (the whole test suite). Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch; override with TORCH_SPEC=torch for your platform's default build.
TORCH_SPEC ?= torch==2.13.0
# llama.cpp's native CPU tuning crashes on some virtual machines; the portable build is safe everywhere.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
BIN := $(VENV)/bin

.PHONY: install llama-server chromium lint test test-fast demo clean

# What generation needs and nothing more: the package and the default teacher's model packages (no torch, no
# compiled Python packages). `make demo` stops here; everything else builds on it.
$(BIN)/.installed-generate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -e ".[teacher]"
	touch $@

# Everything the tests use: torch first (so pip does not pick a build for you), then every extra.
$(BIN)/.installed: $(BIN)/.installed-generate
	$(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -e ".[dev,local,finetune,report,review,ray]"
	touch $@

# The local teacher's server: llama.cpp's own llama-server (MIT), built from the llama.cpp sources
# vendored in the llama-cpp-python sdist of the version pyproject.toml's local extra pins (read from
# there, so the demo, which does not install llama-cpp-python, builds the same sources). Built once
# (about 10 CPU-minutes); editing pyproject.toml does not rebuild it, deleting $(BIN)/llama-server does.
LLAMA_BUILD := $(VENV)/llama-server-build
LLAMA_CPP_PYTHON := $(shell sed -n 's/.*"llama-cpp-python\[server\]==\([0-9.]*\)".*/\1/p' pyproject.toml)
JOBS ?= $(shell getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
LLAMA_SERVER_FLAGS := -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
	-DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF

$(BIN)/llama-server: | $(BIN)/.installed-generate
	test -n "$(LLAMA_CPP_PYTHON)" || (echo "pyproject.toml's local extra must pin llama-cpp-python[server]==X.Y.Z" && exit 1)
	rm -rf $(LLAMA_BUILD) && mkdir -p $(LLAMA_BUILD)
	$(BIN)/pip download -q --no-deps --no-binary :all: -d $(LLAMA_BUILD) "llama-cpp-python==$(LLAMA_CPP_PYTHON)"
	tar -xzf $(LLAMA_BUILD)/llama_cpp_python-*.tar.gz -C $(LLAMA_BUILD)
	cmake -S $(LLAMA_BUILD)/llama_cpp_python-*/vendor/llama.cpp -B $(LLAMA_BUILD)/build $(CMAKE_ARGS) $(LLAMA_SERVER_FLAGS)
	cmake --build $(LLAMA_BUILD)/build --target llama-server -j $(JOBS)
	install -m 755 $(LLAMA_BUILD)/build/bin/llama-server $@
	rm -rf $(LLAMA_BUILD)

llama-server: $(BIN)/llama-server

install: $(BIN)/.installed $(BIN)/llama-server

# The report's browser test loads report.html in Debian's chromium; installed only when missing.
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# ruff, then the layers and the no-cycle rule of docs/ARCHITECTURE.md (import-linter's contracts in pyproject.toml).
lint: install
	$(BIN)/ruff check selfinstruct tests bench
	$(BIN)/lint-imports --no-logo

test: install chromium lint
	$(BIN)/python -m pytest

test-fast: install chromium
	$(BIN)/python -m pytest -m "not slow"

# Only what generation needs (no torch, no llama-cpp-python wheel): `make install` adds the rest later.
demo: $(BIN)/.installed-generate $(BIN)/llama-server
	$(BIN)/selfinstruct generate --seeds seed_tasks/seed_tasks.jsonl --budget 20

clean:
	rm -rf $(VENV) .pytest_cache
