# koabus: the two user commands are `make run` and `make test`; everything else is for developers.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export QT_QPA_PLATFORM ?= offscreen

.PHONY: run stop ps test test-tools lint bench soak venv clean status

$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## run: the whole stack on the simulated control, under supervisor (koabus up: ports checked first;
## "up" only once supervisor's own broker answers; a second run restarts nothing, state stays in var/state)
run: $(STAMP)
	@$(BIN)/koabus up
	@echo
	@echo "koabus is up on the simulated control."
	@echo "  dashboard:   http://127.0.0.1:8765/"
	@echo "  services:    $(BIN)/koabus ps"
	@echo "  status:      $(BIN)/koabus status"
	@echo "  live prices: $(BIN)/koabus watch 005930 000660 035420"
	@echo "  daily bars:  $(BIN)/koabus daily 005930 --start 2024-01-01"
	@echo "  alerts:      $(BIN)/koabus alerts        recorded: $(BIN)/koabus query --tables"
	@echo "  logs:        var/log/   stop: make stop"

stop:
	@$(BIN)/koabus down

ps: $(STAMP)
	@$(BIN)/koabus ps

status: $(STAMP)
	@$(BIN)/koabus status

## test: lint plus the whole suite (the CI gate); the browser and the Korean font the tests need are
## installed from Debian's packages when missing (fails loudly without them)
test: $(STAMP) lint test-tools
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow and not real_ocx"

test-tools:
	@bash deploy/install-test-tools.sh

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP) test-tools
	@mkdir -p bench/results
	$(BIN)/python -m bench

## soak: the slow tests, the full soak day with faults among them (report in bench/results/soak-*.{json,md})
soak: $(STAMP)
	@mkdir -p bench/results
	$(BIN)/python -m pytest -q -p no:cacheprovider -m slow

clean:
	rm -rf $(VENV) var build *.egg-info
