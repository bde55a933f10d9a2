# Winnow — the two quick-start commands are `make serve` and `make test`.
SWIFT ?= swift
PYTHON ?= python3
SYSTEM_PACKAGES := libsqlite3-dev libblas-dev libcurl4
SHARED ?= ../shared
WINNOW := .build/release/winnow

.PHONY: all deps build release test serve model accuracy bench clean

all: build

## deps: install missing Debian packages (as root), or say which are missing.
deps:
	@missing=""; \
	if command -v dpkg >/dev/null 2>&1; then \
	  for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "Missing system packages:$$missing. Install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## test: build everything and run every test (tests that need ../shared skip without it).
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

## serve: the HTTP server does not exist yet (see the open issues); build and show what winnow does today.
serve: release
	@echo
	@echo "Winnow's HTTP API is not built yet; the command-line tool is ready:"
	@echo
	@$(WINNOW) --help
	@echo
	@echo "Scoring an example with the bundled model (models/default.winnow):"
	@$(WINNOW) score --model models/default.winnow "WINNER!! You have been selected for a FREE prize. Call 09061701461 now"
	@$(WINNOW) score --model models/default.winnow "are we still on for lunch tomorrow?"

## model: train the bundled default model from the public sets in ../shared/datasets and write its card.
model: release
	bash scripts/train-default.sh "$(SHARED)/datasets"

## accuracy: the shared accuracy check against the baselines in ../shared/datasets.
accuracy: release
	$(PYTHON) $(SHARED)/checks/accuracy.py --winnow $(WINNOW)

## bench: speed and memory against scikit-learn on the same texts; writes BENCHMARKS.md.
bench: release
	bash scripts/bench.sh "$(SHARED)/datasets"

clean:
	rm -rf .build .venv-bench
