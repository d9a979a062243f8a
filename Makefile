# Two commands set everything up: `make lab` and `make test`.
# Both create (or refresh, when pyproject.toml changes) the .venv and install the project.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
TEST_WORKERS ?= 2
# Notebooks run in parallel, one kernel per worker (each notebook stays on one worker).
NBVAL_WORKERS ?= 2
NBVAL := --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=300

.PHONY: lab test test-fast notebooks labs lint bench clean lock upgrade

LOCK   := requirements.lock
UV     := $(VENV)/bin/uv
# The one command that writes the lock (its header repeats it; tests/test_lock.py checks).
LOCK_COMPILE := pip compile pyproject.toml --extra test --extra dev --universal --python-version 3.11 --generate-hashes -o $(LOCK)

# The lock pins every package (with hashes); pyproject.toml keeps ranges so the library
# installs elsewhere. uv installs the lock; pip only bootstraps uv at its locked version.
$(STAMP): $(LOCK) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(PY) -m pip install --quiet --disable-pip-version-check "$$(grep -E '^uv==' $(LOCK) | cut -d' ' -f1)"
	$(UV) pip sync --quiet --python $(PY) --require-hashes $(LOCK)
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

## Open the course in JupyterLab (binds 127.0.0.1). As root (containers, Codespaces) Jupyter
## refuses to start without --allow-root, so it is passed then, and only then.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --notebook-dir=. \
		$$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks/00_welcome.ipynb

## Every test: the library, the labs, the web page, then every notebook through nbval.
## Two workers share the tests (one file stays on one worker); then the tests marked
## `serial` (real processes killed mid-job, the browser) run on their own, two at a
## time at most: the browser tests one after another on one worker (one JupyterLab),
## the real-process tests on the other (tests/conftest.py), never beside the first phase.
test: $(STAMP)
	$(PY) -m pytest tests -n $(TEST_WORKERS) --dist loadfile -m "not serial" --durations=60 $(PYTEST_ARGS)
	$(PY) -m pytest tests -n $(TEST_WORKERS) --dist loadgroup -m serial --durations=60 $(PYTEST_ARGS)
	$(PY) -m pytest notebooks solutions $(NBVAL) \
		-n $(NBVAL_WORKERS) --dist loadfile --durations=20 $(PYTEST_ARGS)

## The fast unit suite, for a quick loop (under a minute on 2 cores): no notebooks, no
## browser, no real Redis, nothing slow and nothing that measures on the wall clock.
FAST_MARKERS := not slow and not browser and not serial and not real_redis
test-fast: $(STAMP)
	$(PY) -m pytest tests -n $(TEST_WORKERS) --dist loadfile -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

## Re-execute every notebook and solution in place, then regenerate labs and navigation.
notebooks: $(STAMP)
	$(PY) scripts/build_course.py --execute

## Regenerate labs/ from solutions/ (and the navigation cells).
labs: $(STAMP)
	$(PY) scripts/build_course.py

## Lint and type-check the library, tests, scripts and the lesson sources (notebooks/*.py,
## solutions/*.py; mypy's files are in pyproject.toml; the root conftest.py gets its own run,
## as tests/conftest.py has the same module name), and check the notebooks agree with them.
lint: $(STAMP)
	$(VENV)/bin/ruff check conftest.py src tests scripts notebooks solutions
	$(VENV)/bin/ruff format --check conftest.py src tests scripts notebooks solutions
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy conftest.py
	$(PY) scripts/build_course.py --check

## Every benchmark (bounded, loopback only); each prints the table it adds to docs/performance.md.
bench: $(STAMP)
	for script in scripts/bench_*.py scripts/chaos_dbos.py; do $(PY) $$script || exit 1; done

## Re-resolve the lock after editing pyproject.toml's ranges, keeping every other pin.
lock: $(STAMP)
	$(UV) $(LOCK_COMPILE) --quiet
	$(MAKE) $(STAMP)

## Move every pin to the newest version the ranges allow, install it, run the fast tests.
## Run it when starting a round of work (and before a release); commit the lock if green.
upgrade: $(STAMP)
	$(UV) $(LOCK_COMPILE) --quiet --upgrade
	$(MAKE) test-fast

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
