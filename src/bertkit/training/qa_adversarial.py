"""AddSent-style adversarial QA data: each paragraph gets a sentence that resembles its question but does
not answer it (Jia & Liang 2017, "Adversarial Examples for Evaluating Reading Comprehension Systems").

Jia & Liang turn the question into a statement with the question's entities and numbers altered and a
fake answer of the right type, and append it to the paragraph; a model that matches words instead of
meaning answers with the fake. Their pipeline needs CoreNLP and WordNet; this one is rule-based and
offline:

1. the question's wh-phrase (who, when, how many, what year, ...) is replaced by a *fake answer*: a gold
   answer of another question of the dataset that starts with the same wh-phrase (so a "who" question
   gets a name, a "how many" question a number) and shares no word with this question's gold answers;
2. every capitalised word after the first and every number is swapped for another capitalised word or
   number of the dataset's questions (the sentence is then about something else);
3. "?" becomes "." and the sentence is appended to the paragraph after a space.

Worked example (squad-v1.1-dev, `adversarial(dataset, seed=0)`):

    question  Who would generally teach from a work like the Quran, Torah or Bible?
    gold      Religious and spiritual teachers
    fake      the answer of another "who" question: Their disciples
    swaps     Quran → Prayer, Torah → War, Bible → Second
    appended  Their disciples would generally teach from a work like the Prayer, War or Second.

The sentence is rarely grammatical, but it overlaps the question as much as the true sentence does, which is
what fools a model. Gold answers keep their places (the sentence comes after the paragraph).
"""

from __future__ import annotations

import dataclasses
import random
import re

from .metrics import squad_normalize
from .qa_data import QADataset, QAExample

# Longest first: "how many" before "how", "what year" before "what".
WH_PHRASES = (
    "how many",
    "how much",
    "how long",
    "what year",
    "what percentage",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "which",
    "what",
    "why",
    "how",
)
_WH = re.compile(r"\b(" + "|".join(WH_PHRASES) + r")\b", re.IGNORECASE)
_SWAPPABLE = re.compile(r"^(?:[A-Z][\w'-]*|\d[\d,.]*)$")


def wh_phrase(question: str) -> tuple[str, int, int] | None:
    """The first wh-phrase of a question (lower case) and where it is, or None.

    >>> wh_phrase("In what year did Tesla die?")
    ('what year', 3, 12)
    """
    match = _WH.search(question)
    return (match.group(1).lower(), match.start(), match.end()) if match else None


def adversarial(dataset: QADataset, seed: int = 0, limit: int | None = None) -> QADataset:
    """The dataset's questions with one distracting sentence appended to each context (see the module).

    Questions without a wh-phrase, or for which no fake answer of their kind exists, are left out.
    """
    rng = random.Random(seed)
    fakes: dict[str, list[str]] = {}
    for example in dataset.examples:
        found = wh_phrase(example.question)
        if found and example.answers:
            fakes.setdefault(found[0], []).append(example.answers[0].text)
    words = sorted({w.strip("?,.;:\"'()") for e in dataset.examples for w in e.question.split()[1:]} - {""})
    capitals = [w for w in words if w[:1].isupper()]
    numbers = [w for w in words if w[:1].isdigit()]
    chosen = dataset.examples if limit is None else rng.sample(dataset.examples, min(limit, len(dataset)))
    out = []
    for example in chosen:
        sentence = distractor(example, fakes, capitals, numbers, rng)
        if sentence is not None:
            out.append(dataclasses.replace(example, context=f"{example.context} {sentence}"))
    return QADataset(out, version=dataset.version, path=f"{dataset.path} (adversarial)")


def distractor(
    example: QAExample,
    fakes: dict[str, list[str]],
    capitals: list[str],
    numbers: list[str],
    rng: random.Random,
) -> str | None:
    """The distracting sentence for one question (None when there is none to make)."""
    found = wh_phrase(example.question)
    if found is None:
        return None
    kind, start, end = found
    gold_words = {w for a in example.answers for w in squad_normalize(a.text).split()}
    candidates = [f for f in fakes.get(kind, []) if not gold_words & set(squad_normalize(f).split())]
    if not candidates:
        return None
    question = example.question.strip().rstrip("?").strip()
    before = swap_words(question[:start], capitals, numbers, rng, keep_first=True)
    after = swap_words(question[end:], capitals, numbers, rng, keep_first=False)
    sentence = before + rng.choice(candidates) + after
    if any(
        squad_normalize(a.text) and squad_normalize(a.text) in squad_normalize(sentence)
        for a in example.answers
    ):
        return None
    return sentence[:1].upper() + sentence[1:] + "."


def swap_words(
    text: str, capitals: list[str], numbers: list[str], rng: random.Random, keep_first: bool
) -> str:
    """`text` with each capitalised word and number swapped for another (the first word kept if asked)."""
    tokens = text.split(" ")
    for i, token in enumerate(tokens):
        core = token.strip("?,.;:\"'()")
        if (keep_first and i == 0) or not core or not _SWAPPABLE.match(core):
            continue
        others = [w for w in (numbers if core[0].isdigit() else capitals) if w != core]
        if others:
            tokens[i] = token.replace(core, rng.choice(others))
    return " ".join(tokens)
