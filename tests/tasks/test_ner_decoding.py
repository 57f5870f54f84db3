"""NER labels: the best valid BIO sequence (checked against exhaustive search), the split entity it mends,
restricting the entity types, and evaluation held to the types the data annotates."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.errors import InputError
from bertkit.loading import Model
from bertkit.tasks.ner import EntityTagger, NEROptions
from bertkit.tasks.ner_decoding import allowed_labels, bio_transitions, bio_viterbi, decode_entities
from bertkit.training.ner import evaluate
from bertkit.training.ner_data import load_conll

from ..cli.test_cli import run
from ..conftest import tokenizer
from .test_ner import SYLVAIN, rigged_module

KLUE = ["O", "B-OG", "I-OG", "B-LC", "I-LC", "I-XX"]  # I-XX: a type without B- (IO tagging), left free


def best_by_search(probs: np.ndarray, labels: list[str]) -> tuple[float, list[int]]:
    """The most probable valid sequence, by trying every sequence."""
    first, follow = bio_transitions(labels)
    best = (-np.inf, [])
    for seq in itertools.product(range(len(labels)), repeat=len(probs)):
        if not first[seq[0]] or not all(follow[a, b] for a, b in itertools.pairwise(seq)):
            continue
        with np.errstate(divide="ignore"):
            score = float(sum(np.log(probs[i, label]) for i, label in enumerate(seq)))
        if score > best[0]:
            best = (score, list(seq))
    return best


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 2**32 - 1))
def test_viterbi_finds_the_most_probable_valid_sequence_of_each_text(sizes, seed):
    rng = np.random.default_rng(seed)
    doc = np.repeat(np.arange(len(sizes)), sizes)
    probs = rng.dirichlet(np.full(len(KLUE), 0.5), size=len(doc))
    probs[rng.random(probs.shape) < 0.1] = 0.0  # ruled-out labels (entity_types) have probability 0
    probs[:, 0] = np.maximum(probs[:, 0], 1e-3)  # O stays possible
    got = bio_viterbi(probs, doc, KLUE)
    for d in range(len(sizes)):
        rows = probs[doc == d]
        score, _ = best_by_search(rows, KLUE)
        with np.errstate(divide="ignore"):
            ours = float(sum(np.log(rows[i, label]) for i, label in enumerate(got[doc == d])))
        assert ours == pytest.approx(score)  # as probable as the best (ties may pick another)
        tags = [KLUE[i] for i in got[doc == d]]
        assert not tags[0].startswith(("I-OG", "I-LC"))
        for a, b in itertools.pairwise(tags):
            assert not b.startswith(("I-OG", "I-LC")) or a[2:] == b[2:]


def test_a_text_whose_valid_paths_all_underflow_keeps_each_units_best():
    probs = np.array([[0.0, 0.0, 1.0, 0.0, 0.0]])  # I-OG first: no valid path of probability > 0
    assert bio_viterbi(probs, np.zeros(1, int), KLUE[:5]).tolist() == [2]


def test_transitions_leave_io_types_and_plain_labels_free():
    first, follow = bio_transitions(["O", "B-PER", "I-PER", "I-LOC", "MISC"])
    assert first.tolist() == [True, True, False, True, True]
    assert follow[:, 2].tolist() == [False, True, True, False, False]
    assert follow[:, 3].all() and follow[:, 4].all()


MEXICO = "멕시코에 갔다"
# 멕 시 코 에 갔 다: each Hangul syllable is a unit; the model's own guesses split 멕시코 into OG + LC
MEXICO_PROBS = np.array(
    [
        [0.05, 0.5, 0.0, 0.4, 0.05],
        [0.1, 0.0, 0.3, 0.0, 0.6],
        [0.1, 0.0, 0.2, 0.0, 0.7],
        [0.9, 0.02, 0.03, 0.02, 0.03],
        [0.95, 0.01, 0.01, 0.02, 0.01],
        [0.95, 0.01, 0.01, 0.02, 0.01],
    ]
)


def decode_mexico(**options):
    offsets = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [5, 6], [6, 7]])
    logits = np.log(MEXICO_PROBS + 1e-12)
    id2label = dict(enumerate(KLUE[:5]))
    entities = decode_entities(logits, offsets, np.array([0, 0, 0, 0, 1, 1]), np.zeros(6, int), [MEXICO], id2label,
                               **options)  # fmt: skip
    return [(e.label, e.word) for e in entities[0]]


def test_viterbi_mends_an_entity_that_unit_guesses_split():
    assert decode_mexico(decoding="argmax") == [("OG", "멕"), ("LC", "시코")]
    assert decode_mexico() == [("LC", "멕시코")]  # B-LC I-LC I-LC: .4·.6·.7 > B-OG I-OG I-OG .5·.3·.2
    assert decode_mexico(aggregation="none", decoding="argmax")[0] == ("B-OG", "멕")


def test_entity_types_rule_the_others_out():
    assert decode_mexico(entity_types=["OG"], decoding="argmax") == [("OG", "멕시코")]
    assert allowed_labels(KLUE[:5], None).all()
    with pytest.raises(InputError, match="the model has no type 'PER'; its types: LC, OG"):
        decode_mexico(entity_types=["PER"])
    with pytest.raises(InputError, match="entity_types must name at least one type"):
        decode_mexico(entity_types=[])
    with pytest.raises(InputError, match="needs a model with an O label"):
        allowed_labels(["B-LOC", "I-LOC", "B-PER", "I-PER"], ["LOC"])
    with pytest.raises(InputError, match="entity_types must be a list of names"):
        NEROptions(entity_types="LC")
    with pytest.raises(InputError, match="decoding must be one of"):
        NEROptions(decoding="crf")


@pytest.fixture(scope="module")
def person_and_place(tmp_path_factory):
    """A context-free model that tags Sylvain PER and Brooklyn LOC, and gold data that annotates PER only."""
    cased = tokenizer("bert-base-cased")
    tags = {"S": "B-PER", "##yl": "I-PER", "##va": "I-PER", "##in": "I-PER", "Brooklyn": "B-LOC"}
    tagger = EntityTagger(Model(cased, rigged_module(cased, tags), "rigged", "local"), threads=1)
    gold = tmp_path_factory.mktemp("ner") / "per.conll"
    words = SYLVAIN[:-1].split() + ["."]
    gold.write_text("".join(f"{w}\t{'B-PER' if w == 'Sylvain' else 'O'}\n" for w in words) + "\n")
    return tagger, gold


def test_evaluation_tags_only_the_types_the_data_annotates(person_and_place):
    tagger, gold = person_and_place
    assert [e.label for e in tagger(SYLVAIN)] == ["PER", "LOC"]
    dataset = load_conll(gold)
    held = evaluate(tagger, dataset)
    assert (held["f1"], held["predicted_entities"], held["entity_types"]) == (100.0, 1, ["PER"])
    free = evaluate(tagger, dataset, data_types_only=False)
    assert (free["precision"], free["predicted_entities"]) == (50.0, 2)


def test_cli_types_and_decoding(capsys, monkeypatch, person_and_place, tmp_path):
    tagger, gold = person_and_place
    folder = tmp_path / "rigged"
    tagger.model.module.save_pretrained(folder)
    tagger.model.tokenizer.save_pretrained(folder)

    def bertkit(*args: str) -> object:
        code, out, err = run(capsys, monkeypatch, *args, "--model", str(folder), "--json")
        assert code == 0, err
        return json.loads(out)

    assert [e["entity_group"] for e in bertkit("ner", SYLVAIN, "--types", "LOC")] == ["LOC"]
    assert [e["entity_group"] for e in bertkit("ner", SYLVAIN, "--decoding", "argmax")] == ["PER", "LOC"]
    scores = bertkit("evaluate", "ner", "--data", str(gold), "--all-types")
    assert scores["precision"] == 50.0 and "macro_f1" in scores
    code, _, err = run(capsys, monkeypatch, "ner", SYLVAIN, "--model", str(folder), "--types", "PS")
    assert code != 0 and "the model has no type 'PS'" in err and "Traceback" not in err
