"""Masked-LM (+NSP) training: a tiny model that learns, exact resume, output directories that plain
transformers loads, and the train/evaluate CLI."""

from __future__ import annotations

import json

import pytest

from bertkit.errors import InputError
from bertkit.loading import Model
from bertkit.training.mlm import MLMTrainConfig, evaluate, new_model, train
from bertkit.training.mlm_data import pretraining_rows

from ..cli.test_cli import run
from ..conftest import TOKENIZERS


def tiny_model(tok, nsp: bool = True, seed: int = 0) -> Model:
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertForPreTraining

    config = BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    torch.manual_seed(seed)
    module = (BertForPreTraining if nsp else BertForMaskedLM)(config)
    return Model(tok, module, "tiny", "local")


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


def test_train_embeddings_from_moves_only_the_new_rows(tmp_path, tok_uncased, documents):
    """A grown vocabulary (hangul.extend_model) trains its new rows while the base rows stay bit-exact."""
    model = tiny_model(tok_uncased, nsp=False)
    embeddings = model.module.get_input_embeddings().weight
    before = embeddings.detach().clone()
    first_new = 20_000  # rows from here on play the new vocabulary (the corpus uses ids on both sides)
    config = MLMTrainConfig(
        output_dir=str(tmp_path / "out"),
        epochs=1,
        lr=5e-3,
        batch_size=4,
        max_length=48,
        weight_decay=0.1,
        train_embeddings_from=first_new,
    )
    train(model, documents[:24], config, None, progress=False, threads=1)
    after = model.module.get_input_embeddings().weight.detach()
    assert (after[:first_new] == before[:first_new]).all()
    assert not (after[first_new:] == before[first_new:]).all()
    with pytest.raises(InputError, match="train_embeddings_from"):
        MLMTrainConfig(
            output_dir=str(tmp_path / "x"), freeze_embeddings=True, train_embeddings_from=5
        ).check()
