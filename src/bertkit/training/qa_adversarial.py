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
   number of the dataset's questions; a question with neither gets its longest content word swapped for
   another question's (Jia & Liang use WordNet antonyms there). The sentence is then about something
   else: without a swap it would *answer* the question (a contradiction, not a distractor), so a
   question where nothing can be swapped is left out;
3. "?" becomes "." and the sentence is appended to the paragraph after a space.

Worked example (squad-v1.1-dev, `adversarial(dataset, seed=0)`):

    question  Who would generally teach from a work like the Quran, Torah or Bible?
    gold      Religious and spiritual teachers
    fake      the answer of another "who" question: The owner
    swaps     Quran → NCCAP, Torah → Public, Bible → Chalcedonian
    appended  The owner would generally teach from a work like the NCCAP, Public or Chalcedonian.

    question  What is a course of study called?       gold: the curriculum.
    appended  Vision 2030 is a varieties of study called.  (no name to swap: "course" → "varieties")

The sentence is rarely grammatical, but it overlaps the question as much as the true sentence does, which is
what fools a model. Gold answers keep their places (the sentence comes after the paragraph).

For training (`placement="anywhere"`), the sentence goes at a random sentence boundary of the paragraph
instead, never inside a gold answer, and the answers after it move by its length: a model trained only on
appended distractors could learn to ignore a paragraph's last sentence, which the evaluation's appended
distractor would then reward. Worked example:

    context   "Acme was founded in 1901 by Ann Lee. It grew."      gold "Ann Lee" at 28
    boundaries 0 (before "Acme"), 37 (before "It"), 45 (the end)
    at 37     "Acme was founded in 1901 by Ann Lee. Bo Ray founded Acme in 1950. It grew."   gold still at 28
    at 0      "Bo Ray founded Acme in 1950. Acme was founded in 1901 by Ann Lee. It grew."   gold at 28 + 29
"""

from __future__ import annotations

import dataclasses
import random
import re

from .metrics import squad_normalize
from .qa_data import GoldAnswer, QADataset, QAExample

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
PUNCTUATION = "?,.;:\"'()"
FUNCTION_WORDS = frozenset(
    "also does from have into much many most only over such than that their them then there these they this "
    "were what when where which while with would could should about after before being between during "
    "another other some each every more less very just used called known upon onto within without against "
    "among through under above below around toward towards since until unless whose whom".split()
)


def wh_phrase(question: str) -> tuple[str, int, int] | None:
    """The first wh-phrase of a question (lower case) and where it is, or None.

    >>> wh_phrase("In what year did Tesla die?")
    ('what year', 3, 12)
    """
    match = _WH.search(question)
    return (match.group(1).lower(), match.start(), match.end()) if match else None


def adversarial(
    dataset: QADataset, seed: int = 0, limit: int | None = None, placement: str = "end"
) -> QADataset:
    """The dataset's questions with one distracting sentence added to each context (see the module):
    appended (`placement="end"`, as AddSent does) or at a random sentence boundary (`"anywhere"`: training).

    Questions without a wh-phrase, without a fake answer of their kind, or without a word to swap are left
    out.
    """
    if placement not in ("end", "anywhere"):
        raise ValueError(f"placement must be 'end' or 'anywhere', not {placement!r}")
    rng = random.Random(seed)
    fakes: dict[str, list[tuple[str, frozenset[str]]]] = {}  # wh-phrase -> (answer, its normalised words)
    for example in dataset.examples:
        found = wh_phrase(example.question)
        if found and example.answers:
            text = example.answers[0].text
            fakes.setdefault(found[0], []).append((text, frozenset(squad_normalize(text).split())))
    words = sorted({w.strip(PUNCTUATION) for e in dataset.examples for w in e.question.split()[1:]} - {""})
    pools = Pools(
        capitals=[w for w in words if w[:1].isupper()],
        numbers=[w for w in words if w[:1].isdigit()],
        content=[w for w in words if is_content(w)],
    )
    chosen = dataset.examples if limit is None else rng.sample(dataset.examples, min(limit, len(dataset)))
    out = []
    for example in chosen:
        sentence = distractor(example, fakes, pools, rng)
        if sentence is None:
            continue
        at = len(example.context) if placement == "end" else rng.choice(sentence_boundaries(example))
        out.append(inserted(example, sentence, at))
    return QADataset(out, version=dataset.version, path=f"{dataset.path} (adversarial)")


_SENTENCE_END = re.compile(r"[.!?]['\")\]]*\s+")


def sentence_boundaries(example: QAExample) -> list[int]:
    """Where a sentence may go in the example's context: its start, after each sentence end, its end; never
    inside a gold answer.

    >>> sentence_boundaries(QAExample("a", "Who?", "Acme was founded by Ann Lee. It grew.", (GoldAnswer("Ann Lee", 20),)))
    [0, 29, 37]
    """
    context = example.context
    places = [0, *(m.end() for m in _SENTENCE_END.finditer(context)), len(context)]
    spans = [(a.start, a.end) for a in example.answers]
    return sorted({p for p in places if not any(start < p < end for start, end in spans)})


def inserted(example: QAExample, sentence: str, at: int) -> QAExample:
    """The example with `sentence` put into its context at boundary `at` (a space between it and its
    neighbours), the gold answers after it moved along."""
    context = example.context
    if at >= len(context):
        piece, new = f" {sentence}", f"{context} {sentence}"
    else:
        piece = f"{sentence} "
        new = context[:at] + piece + context[at:]
    shift = len(piece)
    answers = tuple(
        GoldAnswer(a.text, a.start + shift) if a.start >= at and at < len(context) else a
        for a in example.answers
    )
    return dataclasses.replace(example, context=new, answers=answers)


@dataclasses.dataclass(frozen=True)
class Pools:
    """The words a question's words are swapped for: capitalised ones, numbers, content words."""

    capitals: list[str]
    numbers: list[str]
    content: list[str]


def distractor(
    example: QAExample, fakes: dict[str, list[tuple[str, frozenset[str]]]], pools: Pools, rng: random.Random
) -> str | None:
    """The distracting sentence for one question (None when there is none to make)."""
    found = wh_phrase(example.question)
    if found is None:
        return None
    kind, start, end = found
    gold_words = {w for a in example.answers for w in squad_normalize(a.text).split()}
    candidates = [fake for fake, words in fakes.get(kind, []) if not gold_words & words]
    if not candidates:
        return None
    question = example.question.strip().rstrip("?").strip()
    tokens = question[:start].split() + ["\0"] + question[end:].split()
    if not swap_names(tokens, pools, rng) and not swap_content_word(tokens, pools, rng):
        return None
    sentence = " ".join(tokens).replace("\0", rng.choice(candidates))
    if any(
        squad_normalize(a.text) and squad_normalize(a.text) in squad_normalize(sentence)
        for a in example.answers
    ):
        return None
    return sentence[:1].upper() + sentence[1:] + "."


def swap_names(tokens: list[str], pools: Pools, rng: random.Random) -> int:
    """Swap each capitalised word (not the first of the question) and number of `tokens` in place for
    another; returns how many were swapped."""
    swapped = 0
    for i, token in enumerate(tokens):
        core = token.strip(PUNCTUATION)
        if i == 0 or not core or not _SWAPPABLE.match(core):
            continue
        others = [w for w in (pools.numbers if core[0].isdigit() else pools.capitals) if w != core]
        if others:
            tokens[i] = token.replace(core, rng.choice(others))
            swapped += 1
    return swapped


def swap_content_word(tokens: list[str], pools: Pools, rng: random.Random) -> bool:
    """Swap the longest content word of `tokens` in place for another question's; False when none."""
    words = [(len(t.strip(PUNCTUATION)), i) for i, t in enumerate(tokens) if is_content(t.strip(PUNCTUATION))]
    others = pools.content
    if not words or len(others) < 2:
        return False
    _, i = max(words)
    core = tokens[i].strip(PUNCTUATION)
    tokens[i] = tokens[i].replace(core, rng.choice([w for w in others if w != core]))
    return True


def is_content(word: str) -> bool:
    """A lower-case word of 4+ letters that is not a function word."""
    return len(word) >= 4 and word.isalpha() and word.islower() and word not in FUNCTION_WORDS
