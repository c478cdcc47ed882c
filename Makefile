# The course's two commands (README.md, docs/instructor/quick-start.md):
#   make all    set up .venv if needed, regenerate the release, autograde the samples,
#               print the score table and where the feedback is, rebuild the self-study edition
#   make test   set up .venv if needed, run the whole test suite
# Development: `make quick` runs the tests that do not autograde whole notebooks;
# `make catalogue` regrades the catalogue of submissions and rewrites its report;
# `make screenshots` runs the browser test and refreshes the screenshots in docs/images/;
# `make benchmark` times the notebook for a student and for the grader, then runs `make timings`;
# `make timings` publishes what the measuring commands recorded in artifacts/timings/ (make all, make test,
#   make quick, the benchmarks) into docs/maintainers/timings.json and renders timings.md from it;
# `make docs` regenerates docs/reference/cli.md and config.md from the parser and nbgrader_config.py.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# MNIST: $INN_DATA_ROOT if set, else ../shared/data when it exists (offline machines),
# else the notebook's default (~/data, downloaded on first use).
INN_DATA_ROOT ?= $(if $(wildcard ../shared/data/MNIST/raw),$(abspath ../shared/data),)
ifneq ($(INN_DATA_ROOT),)
export INN_DATA_ROOT
endif
export PATH := $(abspath $(BIN)):$(PATH)
export MPLBACKEND := Agg

.PHONY: all test quick release build selfstudy catalogue benchmark timings screenshots docs clean

all: $(BIN)/.installed
	@$(BIN)/python -m inn_course all

test: $(BIN)/.installed
	$(BIN)/python -m pytest

quick: $(BIN)/.installed
	$(BIN)/python -m pytest -m "not slow"

release build selfstudy: $(BIN)/.installed
	$(BIN)/python -m inn_course $@

# Grade every case of tests/submissions/catalogue.py, rewrite docs/reference/catalogue.md.
catalogue: $(BIN)/.installed
	$(BIN)/python -m tests.submissions.report

# The browser test (JupyterLab, Validate, headless Chromium); README.md and docs/student.md show two of its screenshots.
screenshots: $(BIN)/.installed
	rm -rf artifacts/browser
	$(BIN)/python -m pytest -rs tests/test_browser.py
	@test -f artifacts/browser/validate-handout.png || { echo "no screenshots: were the browser tests skipped? (see above)"; exit 1; }
	cp artifacts/browser/notebook-q16.png artifacts/browser/validate-handout.png docs/images/

docs: $(BIN)/.installed
	mkdir -p docs/reference
	$(BIN)/python -m inn_course.reference --write

benchmark: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_grading.py
	$(MAKE) --no-print-directory timings

# Merge artifacts/timings/*.json into docs/maintainers/timings.json, render timings.md (inn_course/timings.py).
timings: $(BIN)/.installed
	$(BIN)/python -m inn_course.timings

$(BIN)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

clean:
	rm -rf submitted feedback gradebook.db .pytest_cache
