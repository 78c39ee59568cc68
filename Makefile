# `make run` and `make test` are the two commands of README.md. Both build .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch is installed before the project so the build chosen here (a CPU wheel on CPU
# machines, a CUDA one where TORCH_SPEC or pip's index says so) is the one the project's
# range then accepts, instead of pip picking the registry's largest build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: run test install install-dev lint demo clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install "$(TORCH_SPEC)"
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -e '.[dev]'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

demo: install
	$(PY) manage.py migrate --noinput -v $${VERBOSITY:-0}
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py seed_demo

# The product: web server, one Celery worker per queue and Celery beat in the foreground.
# DEBUG is on by default here because this serves plain HTTP on localhost; production
# runs with DEBUG off (see README.md).
run: demo
	DEBUG=$${DEBUG:-1} $(PY) manage.py runstack

# The whole test suite. Test files live under DATA_DIR (var/test unless set), apart from
# the data of `make run`.
test: install-dev
	DATA_DIR=$${DATA_DIR:-$(CURDIR)/var/test} $(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) var
