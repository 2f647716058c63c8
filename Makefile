# The two commands of the README are `make run` and `make test`; each sets up what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench setup install clean i18n

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python smsd/locale/build.py  # the catalogue: extract, update zh_CN, compile
	touch $(STAMP)

setup: $(STAMP)

## install: a box's runtime only (no test tools): smsd and its dependencies in .venv, catalogue compiled
install:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q .

## run: the daemon on the built-in modem emulator (default config.toml)
run: $(STAMP)
	$(BIN)/smsd run --config config.toml

## test: the whole suite: types (mypy --strict), lint, then pytest. As root it installs what the
## tests run against when missing: gammu and Kannel (independent clients of the emulators) with
## apt-get, Debian's headless Chromium with a CJK font (the web console's browser tests), and a city's Jasmin (deploy/jasmin/install.sh: Redis, RabbitMQ, jasmin 0.11.0)
test: $(STAMP)
	@{ command -v gammu && command -v bearerbox; } >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gammu kannel >/dev/null) || true; }
	@{ [ -x /usr/bin/chromium ] && fc-list | grep -q "Noto Sans CJK"; } || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		chromium chromium-driver fonts-noto-cjk >/dev/null) || true; }
	@[ "$$(id -u)" != 0 ] || deploy/jasmin/install.sh 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/mypy --strict smsd commands
	$(BIN)/ruff check smsd commands tests bench deploy
	$(BIN)/python -m pytest -n 3 --dist loadfile

lint: $(STAMP)
	$(BIN)/mypy --strict smsd commands
	$(BIN)/ruff check smsd commands tests bench deploy
	$(BIN)/ruff format --check smsd commands tests bench deploy

## i18n: extract the messages again, add new ones to smsd/locale/zh_CN/LC_MESSAGES/smsd.po, compile
i18n: $(STAMP)
	$(BIN)/python smsd/locale/build.py

bench: $(STAMP)
	@for f in bench/[!_]*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) run
