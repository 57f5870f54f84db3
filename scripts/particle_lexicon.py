"""Build src/bertkit/data/particle-words.txt: Korean words that end like a particle but are whole words.

A word W = stem + particle (고양이 = 고양 + 이) is listed when, in Korean Wikipedia (../shared/data/text/kowiki,
already filtered against every Korean evaluation set), W itself takes a particle (고양이가, 고양이를 …) at least
twice and more often than the stem appears alone or with another particle. `bertkit.particles.particle_end`
never cuts a listed word.

    .venv/bin/python scripts/particle_lexicon.py [--kowiki DIR] [--output FILE]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from bertkit.files import write_text_atomically
from bertkit.particles import LEXICON, PARTICLES, agrees

ROOT = Path(__file__).resolve().parents[1]
HANGUL_WORD = re.compile(r"[\uac00-\ud7a3]+")


def word_counts(folder: Path) -> Counter[str]:
    words: Counter[str] = Counter()
    for path in sorted(folder.glob("*.txt")):
        for line in path.open(encoding="utf-8"):
            if not line.startswith("# "):  # article headers: "# <page id>\t<title>"
                words.update(HANGUL_WORD.findall(line))
    return words


def whole_words(words: Counter[str], min_count: int = 2) -> list[str]:
    listed = []
    for word in words:
        particle = next((p for p in PARTICLES if len(word) > len(p) and word.endswith(p)), None)
        if particle is None:
            continue
        stem = word[: -len(particle)]
        if not agrees(stem[-1], particle):
            continue  # the rule never cuts it anyway
        as_word = sum(words.get(word + q, 0) for q in PARTICLES)
        as_stem = words.get(stem, 0) + sum(words.get(stem + q, 0) for q in PARTICLES if q != particle)
        if as_word >= min_count and as_word > as_stem:
            listed.append(word)
    return sorted(listed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kowiki", type=Path, default=ROOT.parent / "shared" / "data" / "text" / "kowiki")
    parser.add_argument("--output", type=Path, default=LEXICON)
    args = parser.parse_args()
    listed = whole_words(word_counts(args.kowiki))
    write_text_atomically(args.output, "\n".join(listed) + "\n")
    print(f"{len(listed)} words → {args.output}")


if __name__ == "__main__":
    main()
