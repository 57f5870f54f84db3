"""Answer a question whose paragraph is buried in a ~3,000-word document (built from squad-v1.1-dev).

    .venv/bin/python examples/long_document.py [--question-index N]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bertkit import QuestionAnswerer  # noqa: E402
from bertkit.training.qa_data import QADataset, buried  # noqa: E402
from bertkit.training.qa_loading import load_qa_file  # noqa: E402

DATA = Path(os.environ.get("BERTKIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--question-index", type=int, default=0)
    args = parser.parse_args()
    dev = load_qa_file(DATA / "squad-v1.1-dev.json")
    one = QADataset([dev.examples[args.question_index]] + dev.examples, version=dev.version)
    example = buried(one, others=20, limit=None, seed=0).examples[0]
    qa = QuestionAnswerer()
    answers = qa(example.question, example.context, top_k=3)
    print(f"document: {len(example.context.split())} words; question: {example.question}")
    print(f"gold: {example.answers[0].text!r} at {example.answers[0].start}")
    for a in answers:
        print(f"  {a.score:.3f}  {a.answer!r} at {a.start}:{a.end}")


if __name__ == "__main__":
    main()
