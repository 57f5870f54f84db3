"""Masked-LM (+NSP) training: rows as BERT builds them, BERT's masking, a tiny model that learns, exact
resume, output directories that plain transformers loads, and the train/evaluate CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertkit.errors import InputError
from bertkit.loading import Model
from bertkit.training.mlm import (
    IGNORE,
    IS_NEXT,
    NOT_NEXT,
    MLMTrainConfig,
    choose_tokens,
    evaluate,
    mask_batch,
    new_model,
    pretraining_rows,
    train,
)

from ..conftest import DATA, TOKENIZERS
from ..test_cli import run

WIKI = DATA / "text" / "wikitext2-test-raw.txt"


@pytest.fixture(scope="module")
def documents():
    lines = [line.strip() for line in WIKI.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("=")][:60]


def tiny_model(tok, nsp: bool = True, seed: int = 0) -> Model:
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertForPreTraining

    config = BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    torch.manual_seed(seed)
    module = (BertForPreTraining if nsp else BertForMaskedLM)(config)
    return Model(tok, module, "tiny", "local")


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


# --- training -----------------------------------------------------------------------------------------------


def weights(path):
    from safetensors.torch import load_file

    return load_file(path / "model.safetensors")


def test_tiny_model_learns_and_writes_a_plain_model_directory(tmp_path, tok_uncased, documents):
    from transformers import AutoModelForMaskedLM, AutoModelForPreTraining

    from bertkit.loading import load

    model = tiny_model(tok_uncased)
    config = MLMTrainConfig(
        output_dir=str(tmp_path / "out"), epochs=4, lr=5e-3, batch_size=4, max_length=48, nsp=True
    )
    held = pretraining_rows(tok_uncased, documents[40:], 48, nsp=True, seed=1)
    before = evaluate(model, held, config, threads=1)
    result = train(model, documents[:40], config, documents[40:], progress=False, threads=1)
    after = result.best
    assert result.completed and len(result.history) == 4
    assert after["perplexity"] < before["perplexity"] / 5
    assert after["masked_accuracy"] > before["masked_accuracy"] + 5
    assert {"nsp_accuracy", "top5_accuracy", "masked_tokens"} <= set(after)
    out = tmp_path / "out"
    assert AutoModelForPreTraining.from_pretrained(out) is not None
    assert AutoModelForMaskedLM.from_pretrained(out) is not None
    assert type(load(str(out), "nsp").module).__name__ == "BertForNextSentencePrediction"
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["model_step"] == result.best["step"]


def test_resume_ends_with_the_same_weights(tmp_path, tok_uncased, documents):
    common = dict(epochs=2, lr=1e-3, batch_size=8, max_length=48, seed=3, whole_word_mask=True)
    straight = MLMTrainConfig(output_dir=str(tmp_path / "a"), **common)
    reference = train(tiny_model(tok_uncased, nsp=False), documents[:20], straight, progress=False, threads=1)
    stopped = MLMTrainConfig(output_dir=str(tmp_path / "b"), max_steps=3, save_every_steps=2, **common)
    first = train(tiny_model(tok_uncased, nsp=False), documents[:20], stopped, progress=False, threads=1)
    assert not first.completed and first.global_step == 3
    changed = MLMTrainConfig(output_dir=str(tmp_path / "b"), **dict(common, mask_prob=0.2))
    with pytest.raises(InputError, match="mask_prob was 0.15"):
        train(tiny_model(tok_uncased, nsp=False), documents[:20], changed, resume=True, progress=False)
    resumed = MLMTrainConfig(output_dir=str(tmp_path / "b"), **common)
    model = tiny_model(tok_uncased, nsp=False, seed=9)
    second = train(model, documents[:20], resumed, resume=True, progress=False, threads=1)
    assert second.completed and second.global_step == reference.global_step
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_errors(tmp_path, tok_uncased, documents):
    with pytest.raises(InputError, match="mask_prob"):
        MLMTrainConfig(mask_prob=1.5).check()
    with pytest.raises(InputError, match="no next-sentence head"):
        train(tiny_model(tok_uncased, nsp=False), documents, MLMTrainConfig(nsp=True), progress=False)
    bad = tmp_path / "config.json"
    bad.write_text("[1, 2]")
    with pytest.raises(InputError, match="not a JSON object"):
        new_model(bad, TOKENIZERS / "bert-base-uncased", nsp=False)


# --- CLI ----------------------------------------------------------------------------------------------------


def test_cli_pretrains_from_scratch_and_evaluates(capsys, monkeypatch, tmp_path, documents):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(documents[:30]) + "\n", encoding="utf-8")
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64))
    )
    out = tmp_path / "model"
    code, stdout, err = run(
        capsys, monkeypatch,
        "train", "mlm", str(corpus), "--config", str(config), "--tokenizer", str(TOKENIZERS / "bert-base-uncased"),
        "--output", str(out), "--nsp", "--epochs", "1", "--max-length", "48", "--held-out-every", "5", "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["completed"] and summary["history"][0]["nsp_pairs"] > 0
    code, stdout, err = run(
        capsys,
        monkeypatch,
        "evaluate",
        "mlm",
        str(corpus),
        "--model",
        str(out),
        "--max-length",
        "48",
        "--json",
    )
    assert code == 0, err
    assert set(json.loads(stdout)) >= {"masked_accuracy", "top5_accuracy", "perplexity"}
    code, _, err = run(
        capsys,
        monkeypatch,
        "train",
        "mlm",
        str(corpus),
        "--output",
        str(out),
        "--base",
        "x",
        "--config",
        str(config),
    )
    assert code == 2 and "not both" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(
        capsys, monkeypatch, "train", "mlm", str(tmp_path / "none.txt"), "--output", str(tmp_path / "o")
    )
    assert code == 2 and "not found" in err
