#!/usr/bin/env bash
# `make bench`: Winnow against scikit-learn on the same texts and comparable features, one thread each.
# Installs scikit-learn into .venv-bench (PyPI), then runs scripts/bench.py, which writes BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
datasets="${1:-../shared/datasets}"
if [ ! -d "$datasets/sms_spam" ]; then
  echo "The public data sets are not at $datasets (see datasets/README.md); make bench needs them." >&2
  exit 1
fi
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
fi
.venv-bench/bin/python -c "import sklearn" 2>/dev/null || .venv-bench/bin/pip install -q scikit-learn
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
.venv-bench/bin/python scripts/bench.py --datasets "$datasets" --winnow .build/release/winnow --out BENCHMARKS.md
