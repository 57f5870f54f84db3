"""Where a QA model's long-document gap comes from: the same questions answered with their paragraph alone and
buried among other paragraphs (`training.qa_data.buried`, as `default_qa_model.py evaluate` measures the gap),
and each buried answer sorted by where it lies.

    python scripts/qa_gap.py [--model default] [--questions 300] [--others 20]

Prints JSON: F1 alone and buried, and how many buried answers are
  same           the answer given alone (the same characters of the same paragraph),
  own_paragraph  another span of the question's own paragraph (the text around it moved the answer),
  elsewhere      in another paragraph (a window without the answer won),
  none           no answer at all.
Example, run 8 (2026-12-07, sorted by answer text, before this script): same 198, own_paragraph 87,
elsewhere 15 of 300: the gap is mostly the model
reading its paragraph differently among strangers, not the decoder comparing windows.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys

from default_qa_data import DATA
from default_qa_model import load_model


def where(own_start: int, own_end: int, alone: tuple[int, int] | None, found: tuple[int, int] | None) -> str:
    """Where a buried answer `found` (start, end in the buried context) lies, given the question's own
    paragraph at [own_start, own_end) there and the answer `alone` gave (start, end in the paragraph).

    >>> where(100, 200, (5, 9), (105, 109)), where(100, 200, (5, 9), (150, 160)), where(100, 200, None, (3, 7))
    ('same', 'own_paragraph', 'elsewhere')
    >>> where(100, 200, (5, 9), None)
    'none'
    """
    if found is None:
        return "none"
    if not own_start <= found[0] < own_end:
        return "elsewhere"
    return (
        "same"
        if alone is not None and (found[0] - own_start, found[1] - own_start) == alone
        else "own_paragraph"
    )


def main() -> None:
    from bertkit.tasks.qa import QAOptions, QuestionAnswerer
    from bertkit.training.metrics import evaluate_predictions
    from bertkit.training.qa_data import buried
    from bertkit.training.qa_loading import load_qa_file

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="default")
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--others", type=int, default=20)
    args = parser.parse_args()

    squad = load_qa_file(DATA / "squad-v1.1-dev.json")
    alone = buried(squad, others=0, limit=args.questions, seed=0)
    long = buried(squad, others=args.others, limit=args.questions, seed=0)
    qa = QuestionAnswerer(load_model(args.model), dtype="fp32")  # as `default_qa_model.py evaluate`
    options = QAOptions(max_length=384, stride=128)
    report, answers = {}, {}
    for name, dataset in (("alone", alone), ("buried", long)):
        examples = dataset.examples
        found = qa.answer_many([e.question for e in examples], [e.context for e in examples], options)
        answers[name] = [a[0] if a else None for a in found]
        predictions = {e.id: (a.answer if a else "") for e, a in zip(examples, answers[name], strict=True)}
        report[f"f1_{name}"] = round(
            evaluate_predictions(dataset.gold_answers(), predictions, "squad")["f1"], 2
        )

    def span(answer):
        return None if answer is None else (answer.start, answer.end)

    counts: collections.Counter[str] = collections.Counter()
    pairs = zip(answers["alone"], answers["buried"], alone.examples, long.examples, strict=True)
    for a, b, paragraph, doc in pairs:
        own_start = doc.answers[0].start - paragraph.answers[0].start  # where `buried` put the paragraph
        counts[where(own_start, own_start + len(paragraph.context), span(a), span(b))] += 1
    print(json.dumps(report | {"buried_answers": dict(counts)}, indent=2))
    print(f"{args.model}: gap {report['f1_alone'] - report['f1_buried']:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
