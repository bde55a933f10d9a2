#!/usr/bin/env bash
# The Python the media tests compare Winnow's PDQ with: a venv holding the `pdqhash` package (bindings of Meta's
# reference C++; pip compiles it, so g++ is needed), Pillow (which writes the PNG and JPEG test images) and numpy.
# Creates it when missing, installs what is missing, and leaves it alone otherwise. Run by `make test`; the tests
# find it at .build/python (or at $WINNOW_TEST_PYTHON) and skip their comparison with a message when it is absent.
#
#   WINNOW_PYTHON_VENV   where the venv goes (default .build/python)
set -euo pipefail

VENV=${WINNOW_PYTHON_VENV:-.build/python}

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import pdqhash, PIL, numpy" 2>/dev/null; then
    exit 0
fi
echo "python-env: installing pdqhash, pillow and numpy into $VENV (from PyPI)"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet "pdqhash>=0.2.8,<0.3" "pillow>=10" "numpy>=1.26"
