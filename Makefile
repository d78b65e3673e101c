# colcrypt — `make demo` and `make test` do all set-up themselves (Debian packages, virtualenv,
# the server's Python packages, the extension). See README.md.

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
SERVER_PYTHON ?= /usr/bin/python3
VENV ?= .venv
PY := $(VENV)/bin/python
VERSION := 0.3.0
PYTEST_ARGS ?=

.PHONY: all setup venv build install server-python lint test unit dbtest demo bench reference clean

all: build

setup:
	@tools/setup-machine.sh

$(VENV)/.done: pyproject.toml
	@test -x $(PY) || { echo "colcrypt: creating virtualenv $(VENV)"; $(SERVER_PYTHON) -m venv $(VENV); }
	@echo "colcrypt: installing colcrypt and its test tools into $(VENV)"
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

venv: setup $(VENV)/.done

# The extension's scripts are built from sql/: the install script in the order of sql/load_order, each
# upgrade script from sql/upgrades/FROM--TO.order (only files whose text changed are rewritten).
build:
	@$(SERVER_PYTHON) tools/build_sql.py --version $(VERSION)

# installed.sha256 says which tree was installed (tools/tree_hash.py); the test suite refuses another.
install: setup build server-python
	@$(MAKE) --no-print-directory -C extension PG_CONFIG=$(PG_CONFIG) install >/dev/null
	@$(SERVER_PYTHON) tools/tree_hash.py > "$$($(PG_CONFIG) --pkglibdir)/colcrypt/installed.sha256"
	@echo "colcrypt: installed the extension into $$($(PG_CONFIG) --sharedir)/extension and $$($(PG_CONFIG) --pkglibdir)"

# What PL/Python imports inside the server, for the server's own interpreter.
server-python:
	@PG_CONFIG=$(PG_CONFIG) SERVER_PYTHON=$(SERVER_PYTHON) tools/install-server-python.sh

lint: venv
	@$(VENV)/bin/ruff check python tests bench tools
	@$(VENV)/bin/sqlfluff lint --dialect postgres sql

unit: venv
	@$(VENV)/bin/pytest -q tests/unit $(PYTEST_ARGS)

test: venv install lint
	@$(VENV)/bin/pytest tests $(PYTEST_ARGS)

demo: venv install
	@$(VENV)/bin/colcrypt demo

bench: venv install
	@$(PY) -m bench.run

# docs/reference.md from the installed extension's COMMENT ONs (a test fails when it is stale).
reference: venv install
	@$(PY) tools/gen_reference.py

clean:
	@$(MAKE) --no-print-directory -C extension PG_CONFIG=$(PG_CONFIG) clean >/dev/null 2>&1 || true
	rm -rf $(VENV) .pytest_cache .ruff_cache
