# The single entry point: the README's commands and .ci/run call these targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo ui image test test-fast fmt lint types bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)  ## install VibePiper with every extra and the dev tools into .venv

DEMO_PORT ?= 4200

demo: $(STAMP)  ## record the quick-start run, then serve the dashboard over it (Ctrl-C stops)
	$(BIN)/python examples/quickstart.py
	$(BIN)/vibepiper flow-run ls --limit 5
	@echo
	@echo "Dashboard: http://127.0.0.1:$(DEMO_PORT)/  (API: /api/docs; Ctrl-C to stop)"
	@echo
	$(BIN)/vibepiper server start --port $(DEMO_PORT) --log-level warning

UI_BUILD := src/vibepiper/server/ui

ui:  ## rebuild the dashboard (ui/, needs Node.js) into the package: $(UI_BUILD)
	cd ui && npm ci --no-audit --no-fund && npm run build
	rm -rf $(UI_BUILD) && mkdir -p $(UI_BUILD) && cp -R ui/dist/. $(UI_BUILD)/

# The container image a `docker` work pool runs (../shared/containers/README.md): built
# with Podman on a Debian base made from packages, so no registry is needed. The shared
# directory is read-only in CI, so its scripts are called with `bash`.
SHARED ?= ../shared
IMAGE ?= localhost/vibepiper:dev
BASE_IMAGE ?= localhost/debian-python:bookworm
export CONTAINERS_CONF ?= $(abspath $(SHARED)/containers/containers.conf)
# what the image is built from (see .containerignore); a label on the image, so an
# unchanged checkout skips the build. A rebuild removes the image it replaces unless a
# container still uses it.
SOURCE_HASH = $(shell find src pyproject.toml Containerfile -type f -not -path '*/__pycache__/*' \
  -not -path 'src/vibepiper/server/ui/*' | LC_ALL=C sort | xargs sha1sum | sha1sum | cut -c1-12)

image:  ## build $(IMAGE) from this checkout with Podman (no registry; the Debian base is built once)
	@command -v podman >/dev/null || { apt-get install -y -q podman runc || { apt-get update -q && apt-get install -y -q podman runc; }; }
	@podman image exists $(BASE_IMAGE) || bash $(SHARED)/containers/build-base-image.sh $(BASE_IMAGE)
	@hash=$(SOURCE_HASH); \
	if [ "$$(podman image inspect --format '{{ index .Labels "io.vibepiper.source" }}' $(IMAGE) 2>/dev/null)" = "$$hash" ]; then \
	  echo "$(IMAGE) is up to date (source $$hash)"; \
	else \
	  old=$$(podman image inspect --format '{{ .Id }}' $(IMAGE) 2>/dev/null || true); \
	  echo "podman build ... -t $(IMAGE) (source $$hash)"; \
	  podman build --network host -v /etc/ssl/certs:/etc/ssl/certs:ro \
	    --label io.vibepiper.source=$$hash -f Containerfile -t $(IMAGE) . && \
	  { [ -z "$$old" ] || [ "$$old" = "$$(podman image inspect --format '{{ .Id }}' $(IMAGE))" ] \
	    || podman rmi "$$old" >/dev/null 2>&1 || true; }; \
	fi

test: $(STAMP)  ## the whole suite (what .ci/run runs); tests that load the machine alone run last, one at a time
	status=0; \
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not solo" $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/python -m pytest -m solo $(PYTEST_ARGS) || status=$$?; \
	exit $$status

test-fast: $(STAMP)  ## everything but the slow subprocess tests
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow"

fmt: $(STAMP)
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

lint: $(STAMP)
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/lint-imports

types: $(STAMP)
	$(BIN)/mypy src/vibepiper

bench: $(STAMP)  ## benchmarks/, writes benchmarks/RESULTS.md
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
