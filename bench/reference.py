"""Run the transformers 4.57 QA pipeline (the benchmark reference) from the main venv.

The pipeline lives in a side virtualenv, ``.venv-ref``, built by ``bench/reference_venv.sh``;
``bench/reference_qa.py`` runs inside it and talks to us through JSON files.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
REF_PYTHON = REPO_ROOT / ".venv-ref" / "bin" / "python"


def ensure_reference_venv() -> Path:
    """Build ``.venv-ref`` with ``reference_venv.sh`` unless it already has transformers 4.57; return its python."""
    installed = list(REPO_ROOT.glob(".venv-ref/lib/python3*/site-packages/transformers-4.57.*.dist-info"))
    if not (REF_PYTHON.exists() and installed):
        subprocess.run(["bash", str(BENCH_DIR / "reference_venv.sh")], check=True)
    return REF_PYTHON


def run_reference(model_dir: str | os.PathLike, examples: list[dict], **settings) -> dict:
    """Answer ``examples`` (dicts with id/question/context) with the 4.57 pipeline; return its OUTPUT dict.

    ``settings`` are pipeline call arguments (top_k, max_answer_len, doc_stride, max_seq_len,
    handle_impossible_answer, align_to_words, batch_size); see ``reference_qa.py`` for the output format.
    """
    python = ensure_reference_venv()
    spec = {"model": str(Path(model_dir).resolve()), "settings": settings, "examples": examples}
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory(prefix="bertkit-ref-") as tmp:
        inp, out = Path(tmp) / "input.json", Path(tmp) / "output.json"
        inp.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        subprocess.run(
            [str(python), str(BENCH_DIR / "reference_qa.py"), str(inp), str(out)],
            check=True,
            env=env,
        )
        return json.loads(out.read_text(encoding="utf-8"))
