"""Reference extractive QA: transformers 4.57 ``pipeline("question-answering")``.

Runs inside ``.venv-ref`` (see ``bench/reference_venv.sh``); transformers 5 no longer ships this pipeline.

Usage: ``reference_qa.py INPUT.json OUTPUT.json``

INPUT: ``{"model": dir, "settings": {...}, "examples": [{"id", "question", "context"}, ...]}``. Settings are the
pipeline call arguments (top_k, max_answer_len, doc_stride, max_seq_len, handle_impossible_answer,
align_to_words, batch_size); missing or null ones take the pipeline's defaults.
OUTPUT: ``{"answers": {id: [{"answer", "start", "end", "score"}, ...]}, "seconds", "n_windows",
"transformers_version", "peak_rss_mb"}``.
"""

import json
import os
import resource
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import pipeline  # noqa: E402

CALL_SETTINGS = (
    "top_k",
    "max_answer_len",
    "doc_stride",
    "max_seq_len",
    "handle_impossible_answer",
    "align_to_words",
    "batch_size",
)


def count_windows(tokenizer, examples: list[dict], max_seq_len=None, doc_stride=None) -> int:
    """Count the overflow windows QuestionAnsweringPipeline.preprocess (4.57, fast tokenizer) feeds the model."""
    # Same defaults and tokenizer call as QuestionAnsweringPipeline.preprocess.
    if max_seq_len is None:
        max_seq_len = min(tokenizer.model_max_length, 384)
    if doc_stride is None:
        doc_stride = min(max_seq_len // 2, 128)
    question_first = tokenizer.padding_side == "right"
    n = 0
    for ex in examples:
        text, pair = (ex["question"], ex["context"]) if question_first else (ex["context"], ex["question"])
        enc = tokenizer(
            text=text,
            text_pair=pair,
            truncation="only_second" if question_first else "only_first",
            max_length=max_seq_len,
            stride=doc_stride,
            return_overflowing_tokens=True,
        )
        n += len(enc["input_ids"])
    return n


def as_answer_lists(result, n_examples: int) -> list[list[dict]]:
    """Turn the pipeline's output (dict, list of dicts, or a list of those) into one answer list per example."""
    # The pipeline unwraps a one-example batch and a one-answer result; undo both.
    per_example = [result] if n_examples == 1 else result
    keys = ("answer", "start", "end", "score")
    return [[{k: a[k] for k in keys} for a in ([r] if isinstance(r, dict) else r)] for r in per_example]


def run(spec: dict) -> dict:
    """Load the pipeline, warm it up on the first example (untimed), then time one call over all examples."""
    torch.set_num_threads(2)
    settings = {k: v for k, v in spec.get("settings", {}).items() if v is not None}
    unknown = set(settings) - set(CALL_SETTINGS)
    if unknown:
        raise ValueError(f"unknown settings: {sorted(unknown)}")
    examples = spec["examples"]
    if not examples:
        raise ValueError("no examples")
    qa = pipeline(
        "question-answering", model=spec["model"], tokenizer=spec["model"], device=-1, dtype=torch.float32
    )
    if not qa.tokenizer.is_fast:
        raise ValueError("reference_qa.py expects a fast tokenizer (tokenizer.json)")
    n_windows = count_windows(qa.tokenizer, examples, settings.get("max_seq_len"), settings.get("doc_stride"))

    questions = [ex["question"] for ex in examples]
    contexts = [ex["context"] for ex in examples]
    qa(question=questions[:1], context=contexts[:1], **settings)
    start = time.perf_counter()
    result = qa(question=questions, context=contexts, **settings)
    seconds = time.perf_counter() - start

    answer_lists = as_answer_lists(result, len(examples))
    return {
        "answers": {ex["id"]: ans for ex, ans in zip(examples, answer_lists, strict=True)},
        "seconds": seconds,
        "n_windows": n_windows,
        "transformers_version": transformers.__version__,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str]) -> None:
    """Read INPUT.json, run the reference pipeline, write OUTPUT.json."""
    if len(argv) != 3:
        sys.exit(f"usage: {argv[0]} INPUT.json OUTPUT.json")
    with open(argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    out = run(spec)
    with open(argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main(sys.argv)
