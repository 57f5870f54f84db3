"""NER training: the head's labels, a tiny model that learns, exact resume, output directories that plain
transformers loads, and the train/evaluate CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bertkit.errors import InputError
from bertkit.loading import Model
from bertkit.training.ner import NERTrainConfig, evaluate, model_labels, ner_loss, set_labels, train
from bertkit.training.ner_data import NERDataset, load_ner_file
from bertkit.training.ner_features import collate, ner_train_features

from ..cli.test_cli import run
from ..conftest import DATA, tokenizer

BTC = DATA / "ner" / "btc-dev.conll"
LABELS = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


@pytest.fixture(scope="module")
def cased():
    return tokenizer("bert-base-cased")


@pytest.fixture(scope="module")
def btc():
    data = load_ner_file(BTC)
    return data.sentences[:48], NERDataset(
        data.path, data.format, data.level, data.scheme, data.sentences[48:64]
    )


def tiny_model(tok, seed: int = 0) -> Model:
    import torch
    from transformers import BertConfig, BertForTokenClassification

    config = BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    torch.manual_seed(seed)
    return Model(tok, BertForTokenClassification(config), "tiny", "local")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, cased):
    path = tmp_path_factory.mktemp("tiny-base")
    model = tiny_model(cased)
    model.module.save_pretrained(path)
    cased.save_pretrained(path)
    return path


# --- the head ------------------------------------------------------------------------------------------------


def test_set_labels_keeps_a_matching_head(cased):
    model = tiny_model(cased)
    assert set_labels(model, LABELS, seed=0)
    assert model.module.classifier.out_features == len(LABELS)
    assert model.module.config.id2label[5] == "B-PER" and model.module.config.num_labels == len(LABELS)
    head = model.module.classifier
    assert not set_labels(model, LABELS) and model.module.classifier is head


def test_set_labels_carries_over_the_rows_of_the_labels_it_keeps(cased):
    import torch

    model = tiny_model(cased)
    set_labels(model, ["O", "B-PER", "I-PER", "B-PS", "I-PS"], seed=0)
    old = model.module.classifier
    with torch.no_grad():
        old.bias.copy_(torch.arange(5.0))
    assert set_labels(model, ["O", "B-DT", "I-DT", "B-PER", "I-PER"], seed=1)
    new = model.module.classifier
    for now, was in ((0, 0), (3, 1), (4, 2)):  # O, B-PER, I-PER moved with their rows
        assert torch.equal(new.weight[now], old.weight[was]) and new.bias[now] == old.bias[was]
    assert model.module.config.id2label[3] == "B-PER"
    fresh = tiny_model(cased)  # DT's rows are a fresh head's, from the same seed; PS is gone
    set_labels(fresh, ["O", "B-DT", "I-DT", "B-PER", "I-PER"], seed=1)
    assert torch.equal(new.weight[1:3], fresh.module.classifier.weight[1:3]) and not new.bias[1:3].any()


def test_set_labels_copies_nothing_from_a_base_models_stand_in_head(cased):
    import torch

    model, fresh = tiny_model(cased), tiny_model(cased)
    assert model_labels(model) == ["LABEL_0", "LABEL_1"]  # transformers' stand-in names
    set_labels(model, LABELS, seed=3)
    set_labels(fresh, LABELS, seed=3)
    assert torch.equal(model.module.classifier.weight, fresh.module.classifier.weight)


# --- training -----------------------------------------------------------------------------------------------


def mean_loss(model: Model, sentences, config: NERTrainConfig) -> float:
    import torch

    features = ner_train_features(model.tokenizer, sentences, LABELS, config.max_length, config.stride)
    model.module.eval()
    with torch.no_grad():
        batch = collate(features, np.arange(len(features)), None, 0)
        return float(ner_loss(model.module, batch))


def test_tiny_model_learns_and_writes_a_plain_model_directory(tmp_path, cased, btc):
    from transformers import AutoModelForTokenClassification

    from bertkit.loading import load

    sentences, dev = btc
    config = NERTrainConfig(
        output_dir=str(tmp_path / "out"),
        epochs=2,
        lr=3e-3,
        batch_size=8,
        max_length=64,
        stride=16,
        warmup_ratio=0,
    )
    model = tiny_model(cased)
    set_labels(model, LABELS)
    before = mean_loss(model, sentences, config)
    result = train(model, sentences, config, dev, labels=LABELS, progress=False, threads=1)
    after = mean_loss(model, sentences, config)
    assert after < 0.7 * before
    assert result.completed and result.global_step == 2 * -(-result.windows // 8) and len(result.history) == 2
    assert set(result.history[0]) == {"epoch", "step", "precision", "recall", "f1"}

    out = tmp_path / "out"
    plain = AutoModelForTokenClassification.from_pretrained(out)
    assert plain.config.id2label[5] == "B-PER"
    loaded = load(str(out), task="ner")
    assert loaded.module.config.id2label == plain.config.id2label
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["labels"] == LABELS and summary["model_step"] == result.best["step"]
    scores = evaluate(loaded, dev, threads=1)
    assert set(scores) >= {"precision", "recall", "f1", "n", "per_type"} and scores["n"] == 16
    # a type left out of gold and predictions alike (WikiANN has no MISC); the other types score the same
    without = evaluate(loaded, dev, threads=1, ignore_types=("PER",))
    assert "PER" not in without["per_type"]
    assert {t: v for t, v in scores["per_type"].items() if t != "PER"} == without["per_type"]
    # KLUE's name for PER (PS): scored as the PER the model tags, reported under the data's name
    as_klue = dataclasses.replace(
        dev,
        sentences=[
            dataclasses.replace(x, tags=[t.replace("PER", "PS") for t in x.tags]) for x in dev.sentences
        ],
    )
    klue = evaluate(loaded, as_klue, threads=1)
    assert klue["f1"] == scores["f1"] and klue["per_type"]["PS"] == scores["per_type"]["PER"]
    assert "PER" not in klue["per_type"] and "PER" in klue["entity_types"]


def weights(path):
    from safetensors.torch import load_file

    return load_file(path / "model.safetensors")


def test_resume_ends_with_the_same_weights(tmp_path, cased, btc):
    sentences = btc[0][:24]
    common = dict(epochs=2, lr=1e-3, batch_size=4, max_length=48, stride=8, seed=3, eval_every_epoch=False)

    straight = NERTrainConfig(output_dir=str(tmp_path / "a"), **common)
    reference = train(tiny_model(cased), sentences, straight, labels=LABELS, progress=False, threads=1)
    assert reference.global_step > 4

    stopped = NERTrainConfig(output_dir=str(tmp_path / "b"), max_steps=4, save_every_steps=2, **common)
    first = train(tiny_model(cased), sentences, stopped, labels=LABELS, progress=False, threads=1)
    assert not first.completed and first.global_step == 4
    with pytest.raises(InputError, match="already holds checkpoints"):
        train(tiny_model(cased), sentences, stopped, labels=LABELS, progress=False, threads=1)
    changed = NERTrainConfig(output_dir=str(tmp_path / "b"), **dict(common, lr=2e-3))
    with pytest.raises(InputError, match="lr was 0.001"):
        train(tiny_model(cased), sentences, changed, labels=LABELS, resume=True, progress=False, threads=1)
    resumed = NERTrainConfig(output_dir=str(tmp_path / "b"), **common)
    second = train(
        tiny_model(cased, seed=9), sentences, resumed, labels=LABELS, resume=True, progress=False, threads=1
    )
    assert second.completed and second.global_step == reference.global_step

    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)


def test_config_errors(cased, btc):
    with pytest.raises(InputError, match="aggregation"):
        NERTrainConfig(aggregation="none").check()
    with pytest.raises(InputError, match="no training sentences"):
        train(tiny_model(cased), [], NERTrainConfig(), progress=False)
    with pytest.raises(InputError, match="max_length 1024"):
        train(tiny_model(cased), btc[0], NERTrainConfig(max_length=1024), progress=False)


# --- CLI ----------------------------------------------------------------------------------------------------


def test_cli_train_and_evaluate(capsys, monkeypatch, tmp_path, tiny_dir):
    train_file = tmp_path / "train.conll"
    dev_file = tmp_path / "dev.conll"
    blocks = BTC.read_text(encoding="utf-8").split("\n\n")
    train_file.write_text("\n\n".join(blocks[:6]) + "\n", encoding="utf-8")
    dev_file.write_text("\n\n".join(blocks[6:9]) + "\n", encoding="utf-8")
    out = tmp_path / "model"
    code, stdout, err = run(
        capsys,
        monkeypatch,
        "train", "ner", "--train", str(train_file), "--eval", str(dev_file), "--base", str(tiny_dir),
        "--output", str(out), "--epochs", "1", "--batch-size", "6", "--max-length", "64", "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["steps"] >= 1 and summary["completed"] and summary["labels"][:2] == ["O", "B-ORG"]
    code, stdout, err = run(
        capsys, monkeypatch, "evaluate", "ner", "--data", str(dev_file), "--model", str(out), "--json"
    )
    assert code == 0, err
    scores = json.loads(stdout)
    assert set(scores) == {
        "precision",
        "recall",
        "f1",
        "macro_f1",
        "tag_macro_f1",
        "entity_types",
        "n",
        "per_type",
    }
    assert scores["n"] == 3
    code, stdout, err = run(
        capsys, monkeypatch, "evaluate", "ner", "--data", str(dev_file), "--model", str(out)
    )
    assert code == 0 and "precision" in stdout and "3 sentences" in stdout
    code, stdout, err = run(
        capsys, monkeypatch, "evaluate", "ner", "--data", str(tmp_path / "none.conll"), "--model", str(out)
    )
    assert code == 2 and "file not found" in err and len(err.strip().splitlines()) == 1
