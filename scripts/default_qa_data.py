"""The training data of bertkit's default QA model (`default_qa_stages.py` holds the recipe's stages): which
files, which articles are held out for model selection, and the augmentations the stages mix in (buried
paragraphs, excerpts of long papers, AddSent-style distractors). The dev files are never read here.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BERTKIT_DATA", ROOT.parent / "shared" / "data"))
HELD_OUT_ARTICLES = 3  # of squad-v1.1-train's articles, for the English held-out figure
ENGLISH_MORE = [
    DATA / "squadshifts" / "new_wiki_v1.0.json",
    DATA / "squadshifts" / "amazon_reviews_v1.0.json",
    DATA / "squadshifts" / "reddit_v1.0.json",
    DATA / "qa-extra" / "squad-v1.1-train-first11.json",
]
COVID_QA = DATA / "qa-extra" / "covid-qa-200423.json"
COVID_EXCERPT_CHARACTERS = 4000  # a paper is ~29k characters (~25 windows); 4,000 are ~3 windows
KOREAN_TRAIN = [DATA / "korquad-v1.0-train.json", DATA / "tydiqa" / "tydiqa-goldp-ko-train.json"]
KOREAN_HELD_OUT_ARTICLES = 5  # of korquad-v1.0-train's 100 articles, for the Korean held-out figure


def training_data():
    """(train examples, held-out dataset): SQuAD split by article, TyDi English all for training."""
    from bertkit.training.qa_data import QADataset
    from bertkit.training.qa_loading import load_qa_file

    squad = load_qa_file(DATA / "squad-v1.1-train.json")
    titles = list(dict.fromkeys(e.title for e in squad.examples))
    held = set(titles[-HELD_OUT_ARTICLES:])
    train = [e for e in squad.examples if e.title not in held]
    holdout = QADataset(
        [e for e in squad.examples if e.title in held], version="1.1", path="squad-train held-out"
    )
    train += load_qa_file(DATA / "tydiqa" / "tydiqa-goldp-en-train.json").examples
    return train, holdout


def english_pool():
    """(every English training example, English held-out dataset): stage 1's data, the SQuAD-shifts sets, the
    first 11 articles of the real SQuAD train set, and COVID-QA's papers cut to excerpts around the answer."""
    import random

    from bertkit.training.qa_loading import load_qa_file

    english, holdout = training_data()
    for path in ENGLISH_MORE:
        english += load_qa_file(path).examples
    rng = random.Random(4)
    english += [excerpt(e, COVID_EXCERPT_CHARACTERS, rng) for e in load_qa_file(COVID_QA).examples]
    return english, holdout


def excerpt(example, characters: int, rng):
    """The example with its context cut to about `characters` around the answer, at a random place, on
    whitespace (a scientific paper of COVID-QA is ~25 windows, nearly all without the answer)."""
    import dataclasses

    answer = example.answers[0]
    if len(example.context) <= characters:
        return example
    lo = max(0, answer.start + len(answer.text) - characters)
    hi = min(answer.start, len(example.context) - characters)
    start = rng.randint(lo, max(lo, hi))
    end = start + characters
    while start > 0 and not example.context[start - 1].isspace():
        start -= 1
    while end < len(example.context) and not example.context[end].isspace():
        end += 1
    answers = tuple(
        dataclasses.replace(a, start=a.start - start)
        for a in example.answers
        if a.start >= start and a.start + len(a.text) <= end
    )
    return dataclasses.replace(example, context=example.context[start:end], answers=answers)


def korean_data():
    """(Korean train examples, Korean held-out dataset): korquad-v1.0-train less its last 5 articles +
    tydiqa-goldp-ko-train, and those 5 articles."""
    from bertkit.training.qa_data import QADataset
    from bertkit.training.qa_loading import load_qa_file

    korquad = load_qa_file(KOREAN_TRAIN[0]).examples
    titles = list(dict.fromkeys(e.title for e in korquad))
    held = set(titles[-KOREAN_HELD_OUT_ARTICLES:])
    korean = [e for e in korquad if e.title not in held] + load_qa_file(KOREAN_TRAIN[1]).examples
    holdout = QADataset([e for e in korquad if e.title in held], version="1.1", path="korquad-train held-out")
    return korean, holdout


def buried_examples(examples, share: float, among: int, seed: int = 0):
    """Each training question once: as it is, or (`share` of them) buried among `among` other paragraphs."""
    import random

    from bertkit.training.qa_data import QADataset, buried

    rng = random.Random(seed)
    chosen = {i for i in range(len(examples)) if rng.random() < share}
    pool = QADataset(examples, version="1.1", path="training")
    long = buried(pool, others=among, seed=seed).examples  # one per question, in the same order
    return [long[i] if i in chosen else e for i, e in enumerate(examples)]


def with_distractors(examples, share: float, seed: int):
    """`share` of the examples (drawn at random) with an AddSent-style distractor at a random sentence
    boundary of their paragraph (`qa_adversarial`; the fake answers and swapped words come from these
    examples' own questions), in the same order; the others, and those no distractor can be made for, as
    they are."""
    import random

    from bertkit.training.qa_adversarial import adversarial
    from bertkit.training.qa_data import QADataset

    rng = random.Random(seed)
    chosen = {e.id for e in examples if rng.random() < share}
    pool = QADataset(examples, version="1.1", path="training")
    made = adversarial(pool, seed=seed, placement="anywhere").examples
    distracted = {e.id: e for e in made if e.id in chosen}
    return [distracted.get(e.id, e) for e in examples]
