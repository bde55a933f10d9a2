# Winnow — the two quick-start commands are `make serve` and `make test`.
SWIFT ?= swift
PYTHON ?= python3
# The media libraries: image decoding (JPEG, PNG, WebP) and video decoding (FFmpeg) for Sources/CMedia.
BASE_PACKAGES := libsqlite3-dev libblas-dev libcurl4 libjpeg62-turbo-dev libpng-dev libwebp-dev libavcodec-dev \
	libavformat-dev libswscale-dev libavutil-dev
# postgresql: `make test` runs the tests against a throwaway cluster of it (scripts/pg-cluster.sh); python3-venv:
# it fuzzes the API with Schemathesis (scripts/schemathesis.sh); g++: pip builds the `pdqhash` package the media
# tests compare against (scripts/python-env.sh).
SYSTEM_PACKAGES := $(BASE_PACKAGES) postgresql python3 python3-venv g++
SHARED ?= ../shared
WINNOW := .build/release/winnow

.PHONY: all deps build release test test-sqlite fuzz fuzz-media schemathesis serve model accuracy bench loadtest benchclaims benchbanks simulate clean

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

## test: build everything and run every test against a throwaway PostgreSQL cluster (tests that need ../shared skip
## without it). scripts/pg-cluster.sh starts the cluster in a temporary folder on a free port of 127.0.0.1, passes its
## URL in WINNOW_TEST_POSTGRES_URL and removes it at the end, also when the tests fail or are interrupted; if
## PostgreSQL cannot start, the run fails. Then Schemathesis fuzzes a live release server against /openapi.yaml, and
## scripts/contract.py checks every operation's successful answers against it
## (scripts/schemathesis.sh: every operation, every check, a fixed seed, with an admin key and with a feed key).
## scripts/python-env.sh first makes .build/python, the venv with the `pdqhash` package the media tests compare
## Winnow's PDQ with (pip compiles it: g++ is needed).
test: deps
	$(SWIFT) build --build-tests
	bash scripts/python-env.sh
	bash scripts/pg-cluster.sh run -- $(SWIFT) test --skip-build
	$(SWIFT) build -c release --product winnow
	WINNOW=$(WINNOW) bash scripts/schemathesis.sh

## test-sqlite: the same without starting PostgreSQL (and without needing it installed): tests that need it skip,
## unless CI is set, or use the server in WINNOW_TEST_POSTGRES_URL if you set it.
test-sqlite: SYSTEM_PACKAGES = $(BASE_PACKAGES)
test-sqlite: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

## fuzz: libFuzzer on the strict request-body reader (Tests/Fuzz/FuzzJSON.swift with Sources/WinnowJSON, built by
## swiftc outside SwiftPM) for FUZZ_SECONDS (default 600); inputs that reach new code are kept in Tests/Fuzz/corpus
## (merged down to the fewest inputs that cover the same code; the named seeds stay).
FUZZ_SECONDS ?= 600
fuzz:
	mkdir -p .build/fuzz
	swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name FuzzJSON Sources/WinnowJSON/*.swift Tests/Fuzz/FuzzJSON.swift -o .build/fuzz/fuzz-json
	SWIFT_BACKTRACE=enable=no .build/fuzz/fuzz-json -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=.build/fuzz/ Tests/Fuzz/corpus
	rm -rf .build/fuzz/merged && mkdir -p .build/fuzz/merged
	SWIFT_BACKTRACE=enable=no .build/fuzz/fuzz-json -merge=1 -max_len=4096 .build/fuzz/merged Tests/Fuzz/corpus
	find Tests/Fuzz/corpus -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
	cp .build/fuzz/merged/* Tests/Fuzz/corpus/

## fuzz-media: libFuzzer with AddressSanitizer on the image decoders (Tests/Fuzz/FuzzMedia.c with
## Sources/CMedia/image.c, built by clang on the system's libjpeg, libpng and libwebp) for FUZZ_SECONDS, from seeds
## Tests/Fuzz/media_seeds.py makes with Pillow (every pixel mode and format); the corpus stays in .build/fuzz.
fuzz-media:
	bash scripts/python-env.sh
	mkdir -p .build/fuzz/media-corpus
	clang -fsanitize=fuzzer,address -g -O1 -I Sources/CMedia/include Sources/CMedia/image.c Tests/Fuzz/FuzzMedia.c -ljpeg -lpng -lwebp -o .build/fuzz/fuzz-media
	.build/python/bin/python Tests/Fuzz/media_seeds.py .build/fuzz/media-seeds
	.build/fuzz/fuzz-media -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=.build/fuzz/media- .build/fuzz/media-corpus .build/fuzz/media-seeds

## schemathesis: OpenAPI fuzzing (Schemathesis from PyPI, in .build/schemathesis) of a live release server with an
## admin key and a feed key: every operation, every check, a fixed seed (scripts/schemathesis.sh).
schemathesis: release
	WINNOW=$(WINNOW) bash scripts/schemathesis.sh

## serve: build (release) and start the API on 127.0.0.1:8080 with ./winnow.sqlite and models/default.winnow.
## On first start it prints an admin key and a curl to try. Settings: see README (Configuration).
serve: release
	$(WINNOW) serve

## model: train the bundled default model from the public sets in ../shared/datasets and write its card.
model: release
	bash scripts/train-default.sh "$(SHARED)/datasets"

## accuracy: the shared accuracy check against the baselines in ../shared/datasets.
accuracy: release
	$(PYTHON) $(SHARED)/checks/accuracy.py --winnow $(WINNOW)

## bench: speed and memory against scikit-learn on the same texts, the HTTP load test (wrk), review-queue claim
## latency on a million open tickets and the banks' figures (benchbanks); writes BENCHMARKS.md.
bench: release
	bash scripts/bench.sh "$(SHARED)/datasets"
	$(MAKE) loadtest
	$(MAKE) benchclaims
	$(MAKE) benchbanks

## benchbanks: only the banks' figures: MinHash against SimHash text signatures on the shared sets, BankIndex match
## latency and memory with 1,000,000 PDQ hashes and 1,000,000 text signatures, and image and video hashing speed
## (the shared media, and a 1920×1080 JPEG made from its bridge photo with Pillow in the tests' venv; no FFmpeg
## command line needed).
benchbanks: release
	bash scripts/python-env.sh
	.build/python/bin/python -c "from PIL import Image; Image.open('$(SHARED)/media/pdq/bridge-mods/aaa-orig.jpg').convert('RGB').resize((1920, 1080), Image.LANCZOS).save('.build/bench-1080p.jpg', quality=90)"
	$(WINNOW) bench signatures --data $(SHARED)/datasets/davidson_hate_offensive/train.csv --data $(SHARED)/datasets/sms_spam/train.csv --write BENCHMARKS.md
	$(WINNOW) bench banks --entries 1000000 --data $(SHARED)/datasets/davidson_hate_offensive/train.csv --data $(SHARED)/datasets/sms_spam/train.csv --write BENCHMARKS.md
	$(WINNOW) bench media --image .build/bench-1080p.jpg $(SHARED)/media/pdq/bridge-mods/aaa-orig.jpg $(SHARED)/media/pdq/reg-test-input/exif-rotn/exif-rotn-1.jpg --video $(SHARED)/media/vpdq/videos/*.mp4 --write BENCHMARKS.md

## benchclaims: only the review queue's claim latency on 1,000,000 open tickets: a temporary SQLite file, then a
## throwaway PostgreSQL cluster (scripts/pg-cluster.sh).
benchclaims: release
	$(WINNOW) bench claims --tickets 1000000 --write BENCHMARKS.md
	bash scripts/pg-cluster.sh run -- sh -c '$(WINNOW) bench claims --tickets 1000000 --database "$$WINNOW_TEST_POSTGRES_URL" --write BENCHMARKS.md'

## loadtest: only the HTTP load test of `winnow serve` with wrk (installs wrk as root if missing).
loadtest: release
	@command -v wrk >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then apt-get install -y -qq wrk; else echo "Install wrk: sudo apt-get install wrk"; exit 1; fi; }
	$(PYTHON) scripts/loadtest.py --winnow $(WINNOW)

## simulate: the feedback-loop simulator on the larger public set (10 simulated days), with an HTML report.
simulate: release
	$(WINNOW) simulate --data $(SHARED)/datasets/davidson_hate_offensive/train.csv --report simulation.html

clean:
	rm -rf .build .venv-bench
