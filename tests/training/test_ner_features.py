"""NER features: label alignment to sub-words and windowed features that label each token once."""

from __future__ import annotations

import numpy as np
import pytest

from bertkit.errors import InputError
from bertkit.training.batches import IGNORE
from bertkit.training.ner_data import NERSentence
from bertkit.training.ner_features import align_labels, continuation_ids, ner_train_features, unit_of_tokens

from ..conftest import tokenizer

LABELS = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


@pytest.fixture(scope="module")
def cased():
    return tokenizer("bert-base-cased")


# --- alignment ----------------------------------------------------------------------------------------------


def test_first_sub_token_gets_the_label_with_the_tokenizers_word_ids(cased):
    words = ["Sylvain", "works", "at", "Hugging", "Face"]
    labels = [LABELS.index(t) for t in ("B-PER", "O", "O", "B-ORG", "I-ORG")]
    enc = cased(words, is_split_into_words=True)
    tokens = enc.tokens()
    assert tokens == ["[CLS]", "S", "##yl", "##va", "##in", "works", "at", "Hu", "##gging", "Face", "[SEP]"]
    aligned = align_labels(enc.word_ids(), labels)
    assert aligned.tolist() == [IGNORE, 5, IGNORE, IGNORE, IGNORE, 0, 0, 3, IGNORE, 4, IGNORE]
    every = align_labels(enc.word_ids(), labels, label_all_tokens=True, continuation=continuation_ids(LABELS))
    assert every.tolist() == [IGNORE, 5, 6, 6, 6, 0, 0, 3, 4, 4, IGNORE]
    with pytest.raises(InputError, match="continuation"):
        align_labels(enc.word_ids(), labels, label_all_tokens=True)


def test_units_found_from_offsets_equal_word_ids_for_plain_words(cased):
    sentence = NERSentence(
        "s", "Sylvain works at Hugging Face", [(0, 7), (8, 13), (14, 16), (17, 24), (25, 29)], []
    )
    enc = cased(sentence.text, return_offsets_mapping=True)
    units = unit_of_tokens(np.asarray(enc["offset_mapping"]), sentence.spans)
    assert units.tolist() == [-1 if w is None else w for w in enc.word_ids()]
    # A CoNLL word the tokenizer splits into several words ("U.S.") stays one unit.
    sentence = NERSentence("s", "the U.S. army", [(0, 3), (4, 8), (9, 13)], [])
    enc = cased(sentence.text, return_offsets_mapping=True)
    assert unit_of_tokens(np.asarray(enc["offset_mapping"]), sentence.spans).tolist() == [
        -1,
        0,
        1,
        1,
        1,
        1,
        2,
        -1,
    ]


def test_features_label_each_token_once_across_windows(cased):
    words = ["Sylvain", "visited", "New", "York", "and", "unbelievably", "Brooklyn"] * 6
    tags = ["B-PER", "O", "B-LOC", "I-LOC", "O", "O", "B-LOC"] * 6
    spans, at = [], 0
    for w in words:
        spans.append((at, at + len(w)))
        at += len(w) + 1
    sentence = NERSentence("s", " ".join(words), spans, tags)
    whole = ner_train_features(cased, [sentence], LABELS, max_length=128, stride=16)
    cut = ner_train_features(cased, [sentence], LABELS, max_length=16, stride=5)
    assert len(whole) == 1 and len(cut) > 4
    labels = whole.labels[0][whole.labels[0] != IGNORE]
    assert len(labels) == len(words)  # one label per word
    pieces = np.concatenate([lab[lab != IGNORE] for lab in cut.labels])
    assert pieces.tolist() == labels.tolist()  # the same labels, each in exactly one window
    assert [LABELS[i] for i in labels[:4]] == ["B-PER", "O", "B-LOC", "I-LOC"]
    with pytest.raises(InputError, match="labels the model lacks"):
        ner_train_features(cased, [sentence], ["O", "B-PER", "I-PER"])


# --- sources that annotate fewer types --------------------------------------------------------------------

MISC_LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def test_an_o_of_a_source_without_misc_may_be_misc_and_nothing_else(cased):
    words, tags = ["German", "army", "in", "Paris"], ["O", "O", "O", "B-LOC"]
    spans = [(0, 6), (7, 11), (12, 14), (15, 20)]
    conll = NERSentence("c", " ".join(words), spans, ["B-MISC", "O", "O", "B-LOC"])
    wikiann = NERSentence("w", " ".join(words), spans, tags, unannotated=("MISC",))
    features = ner_train_features(cased, [conll, wikiann], MISC_LABELS, label_all_tokens=True)
    assert features.targets is not None and features.targets.shape == (6, 5)
    assert features.targets[5].tolist() == [True, False, False, True, True]  # O, B-MISC, I-MISC
    assert np.array_equal(features.targets[:5], np.eye(5, dtype=bool))
    by_sentence = dict(zip(features.sentence.tolist(), features.labels, strict=True))
    kept = lambda labels: labels[labels != IGNORE].tolist()  # noqa: E731
    assert kept(by_sentence[0]) == [3, 0, 0, 1]  # CoNLL's own labels, MISC included
    assert kept(by_sentence[1]) == [5, 5, 5, 1]  # WikiANN: its O opened, its LOC exact
    # without such sentences nothing changes: no targets, label ids only
    assert ner_train_features(cased, [conll], MISC_LABELS).targets is None


def test_open_target_loss_is_cross_entropy_for_one_label_and_the_sum_of_probabilities_for_a_set():
    import torch
    import torch.nn.functional as F

    from bertkit.training.ner import open_target_loss
    from bertkit.training.ner_features import target_sets

    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5)
    labels = torch.tensor([[0, 3, IGNORE], [1, 4, 2]])
    allowed = torch.from_numpy(target_sets(MISC_LABELS, [("MISC",)]))
    expected = F.cross_entropy(logits.reshape(-1, 5), labels.reshape(-1), ignore_index=IGNORE)
    assert torch.allclose(open_target_loss(logits, labels, allowed), expected)
    opened = torch.tensor([[5, IGNORE, IGNORE]])
    p = logits[:1, :1].softmax(-1)[0, 0]
    assert torch.allclose(open_target_loss(logits[:1], opened, allowed), -(p[0] + p[3] + p[4]).log())
