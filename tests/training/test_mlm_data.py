"""Masked-LM (+NSP) rows as BERT builds them, and BERT's masking."""

from __future__ import annotations

import numpy as np
import pytest

from bertkit.errors import InputError
from bertkit.training.batches import IGNORE
from bertkit.training.mlm_data import IS_NEXT, NOT_NEXT, choose_tokens, mask_batch, pretraining_rows

# --- rows ---------------------------------------------------------------------------------------------------


def test_mlm_rows_cover_each_document_in_order(tok_uncased, documents):
    rows = pretraining_rows(tok_uncased, documents[:10], max_length=32)
    cls, sep = tok_uncased.cls_token_id, tok_uncased.sep_token_id
    assert all(len(ids) <= 32 and ids[0] == cls and ids[-1] == sep for ids in rows.input_ids)
    inner = np.concatenate([ids[1:-1] for ids in rows.input_ids])
    expected = np.concatenate([tok_uncased(d, add_special_tokens=False)["input_ids"] for d in documents[:10]])
    assert inner.tolist() == expected.tolist()
    assert (rows.next_labels == IGNORE).all()
    assert all(not m[0] and not m[-1] and m[1:-1].all() for m in rows.maskable)


def test_nsp_pairs_follow_their_document_or_come_from_another(tok_uncased, documents):
    rows = pretraining_rows(tok_uncased, documents, max_length=64, nsp=True, seed=0)
    sep = tok_uncased.sep_token_id
    doc_ids = [" ".join(map(str, tok_uncased(d, add_special_tokens=False)["input_ids"])) for d in documents]
    counts = np.bincount(rows.next_labels, minlength=2)
    assert counts[IS_NEXT] > 20 and counts[NOT_NEXT] > 20
    for ids, types, label in zip(rows.input_ids, rows.token_type_ids, rows.next_labels, strict=True):
        assert len(ids) <= 64
        first_sep = int(np.flatnonzero(ids == sep)[0])
        assert (types[: first_sep + 1] == 0).all() and (types[first_sep + 1 :] == 1).all()
        a, b = ids[1:first_sep], ids[first_sep + 1 : -1]
        if label == IS_NEXT:  # A and B (each possibly cut at its end) are stretches of one document
            a_text, b_text = (" " + " ".join(map(str, x)) + " " for x in (a, b))
            assert any(a_text in f" {d} " and b_text in f" {d} " for d in doc_ids)
    # The same seed gives the same pairs.
    again = pretraining_rows(tok_uncased, documents, max_length=64, nsp=True, seed=0)
    assert all((x == y).all() for x, y in zip(rows.input_ids, again.input_ids, strict=True))


def test_empty_corpus_is_an_error(tok_uncased):
    with pytest.raises(InputError, match="no text"):
        pretraining_rows(tok_uncased, ["   ", ""])


# --- masking ------------------------------------------------------------------------------------------------


def test_masking_is_berts_80_10_10_and_never_touches_specials():
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 2000, size=(200, 100))
    maskable = np.ones_like(ids, dtype=bool)
    maskable[:, 0] = maskable[:, -1] = False
    maskable[::2, 80:] = False  # padding
    chosen = choose_tokens(maskable, np.ones_like(maskable), 0.15, False, rng)
    assert not chosen[~maskable].any()
    assert abs(chosen.sum() / maskable.sum() - 0.15) < 0.01
    inputs, labels = mask_batch(ids, chosen, mask_id=103, vocab_size=30522, rng=rng)
    assert (labels[~chosen] == IGNORE).all() and (labels[chosen] == ids[chosen]).all()
    assert (inputs[~chosen] == ids[~chosen]).all()
    masked = (inputs[chosen] == 103).mean()
    kept = (inputs[chosen] == ids[chosen]).mean()
    assert abs(masked - 0.8) < 0.03 and abs(kept - 0.1) < 0.03


def test_whole_word_masking_takes_all_sub_tokens_of_a_word(tok_uncased):
    rows = pretraining_rows(tok_uncased, ["The unaffable chrysanthemums bloomed spectacularly."], 64)
    starts, maskable = rows.word_starts[0][None], rows.maskable[0][None]
    for seed in range(20):
        chosen = choose_tokens(maskable, starts, 0.3, True, np.random.default_rng(seed))[0]
        word = np.cumsum(starts[0])
        for w in np.unique(word[maskable[0]]):
            members = chosen[(word == w) & maskable[0]]
            assert members.all() or not members.any()
