"""Recipe of bertkit's Korean-capable encoder: the Hangul-exact tokenizer over all-MiniLM-L6-v2's vocabulary,
then masked-LM adaptation of the default pre-training model on Korean and English text (issue 12).

    python scripts/korean_encoder.py syllables    # src/bertkit/data/hangul-syllables.txt (seconds)

The syllables are KS X 1001's 2,350 plus every syllable seen at least twice in the Korean *training* text
here: Korean Wikipedia (../shared/data/text/kowiki, filtered against every Korean evaluation set), the NSMC
reviews, the KLUE sentences, and the contexts and questions of korquad-v1.0-train and tydiqa-goldp-ko-train.
No dev file is read.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BERTKIT_DATA", ROOT.parent / "shared" / "data"))
KOREAN_TEXT = [
    *sorted((DATA / "text" / "kowiki").glob("*.txt")),
    DATA / "text" / "nsmc-reviews-ko.txt",
    DATA / "text" / "klue-sentences-ko.txt",
]
KOREAN_QA_TRAIN = [DATA / "korquad-v1.0-train.json", DATA / "tydiqa" / "tydiqa-goldp-ko-train.json"]


def korean_training_texts():
    from bertkit.corpus import read_texts

    for path in KOREAN_TEXT + KOREAN_QA_TRAIN:
        yield from read_texts(path)


def syllables(args) -> None:
    from bertkit.files import write_text_atomically
    from bertkit.hangul import SYLLABLES, count_syllables, vocabulary_syllables

    counts: Counter[str] = count_syllables(korean_training_texts())
    kept = vocabulary_syllables(counts, min_count=args.min_count)
    write_text_atomically(SYLLABLES, "".join(kept) + "\n")
    covered = sum(n for s, n in counts.items() if s in set(kept))
    print(
        f"{len(kept)} syllables → {SYLLABLES} ({100 * covered / sum(counts.values()):.4f} % of "
        f"{sum(counts.values()):,} syllables in the training text)",
        file=sys.stderr,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("syllables")
    p.add_argument("--min-count", type=int, default=2)
    args = parser.parse_args()
    {"syllables": syllables}[args.command](args)


if __name__ == "__main__":
    main()
