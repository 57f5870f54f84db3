#!/usr/bin/env bash
# Create .venv-ref: a side virtualenv with transformers 4.57.x, the last release that still ships
# pipeline("question-answering"). It is the reference the QA benchmarks compare against.
# Idempotent: does nothing when .venv-ref already imports a 4.57 transformers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-ref"
PY="$VENV/bin/python"

if [ -x "$PY" ] && "$PY" -c "import transformers, sys; sys.exit(not transformers.__version__.startswith('4.57.'))" \
    >/dev/null 2>&1; then
    exit 0
fi

[ -x "$PY" ] || python3 -m venv "$VENV"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch stays pinned so pip takes the local CPU wheel instead of pulling CUDA builds.
"$PY" -m pip install -qq --upgrade pip
"$PY" -m pip install -qq "torch==2.13.0" "transformers==4.57.*" numpy
"$PY" -c "import transformers; print('reference venv: transformers', transformers.__version__)"
