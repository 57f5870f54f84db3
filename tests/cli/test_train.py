"""The train commands hold no behaviour: the seed of a new head, NER's stride and the masked-LM option checks
are the library's, so the Python API and `bertkit train` give the same model for the same settings."""

from __future__ import annotations

import json

import pytest

from bertkit.errors import InputError
from bertkit.loading import load
from bertkit.training.mlm import MLMTrainConfig, starting_model
from bertkit.training.ner import NERTrainConfig
from bertkit.training.qa import TrainConfig
from bertkit.training.qa import train as train_qa
from bertkit.training.qa_loading import load_qa_file

from .test_cli import run

CONTEXT = "Denver won the game in 2016. The game was played in Santa Clara."
QUESTIONS = [
    ("Who won?", "Denver"),
    ("When?", "2016"),
    ("Where?", "Santa Clara"),
    ("What was played?", "game"),
]


@pytest.fixture(scope="module")
def headless_base(tmp_path_factory, tok_uncased):
    """A tiny encoder saved without a QA head: loading it for QA initialises a new head."""
    import torch
    from transformers import BertConfig, BertModel

    path = tmp_path_factory.mktemp("headless")
    config = BertConfig(
        vocab_size=len(tok_uncased), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    torch.manual_seed(0)
    BertModel(config).save_pretrained(path)
    tok_uncased.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def squad_file(tmp_path_factory):
    qas = [
        {"id": f"q{i}", "question": q, "answers": [{"text": a, "answer_start": CONTEXT.index(a)}]}
        for i, (q, a) in enumerate(QUESTIONS)
    ]
    data = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": CONTEXT, "qas": qas}]}]}
    path = tmp_path_factory.mktemp("squad") / "tiny.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def head(model):
    return model.module.qa_outputs.weight.detach().clone()


def test_a_new_head_is_seeded_by_the_seed_given_to_load(headless_base):
    import torch

    seeded = head(load(str(headless_base), "qa", seed=3))
    assert torch.equal(seeded, head(load(str(headless_base), "qa", seed=3)))
    assert not torch.equal(seeded, head(load(str(headless_base), "qa", seed=4)))
    torch.manual_seed(3)  # what `bertkit train qa --seed 3` did before loading, until the library did it
    assert torch.equal(seeded, head(load(str(headless_base), "qa")))


def test_python_api_and_cli_train_the_same_weights(capsys, monkeypatch, tmp_path, headless_base, squad_file):
    from safetensors.torch import load_file

    settings = dict(epochs=1, batch_size=4, max_length=64, stride=16, seed=3)
    options = [x for name, value in settings.items() for x in (f"--{name.replace('_', '-')}", str(value))]
    code, out, err = run(
        capsys, monkeypatch, "train", "qa", "--train", str(squad_file), "--base", str(headless_base),
        "--output", str(tmp_path / "cli"), *options, "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["completed"]
    examples = load_qa_file(squad_file).examples
    for name, seed in (("api", 3), ("other-seed", 4)):
        config = TrainConfig(output_dir=str(tmp_path / name), **dict(settings, seed=seed))
        train_qa(str(headless_base), examples, config, progress=False)
    cli, api, other = (
        load_file(tmp_path / name / "model.safetensors") for name in ("cli", "api", "other-seed")
    )
    assert cli.keys() == api.keys() and all((cli[k] == api[k]).all() for k in cli)
    assert not (cli["qa_outputs.weight"] == other["qa_outputs.weight"]).all()


def test_ner_stride_is_decided_by_its_config():
    assert NERTrainConfig().stride == 64  # a quarter of 256
    assert NERTrainConfig(max_length=128).stride == 32
    assert NERTrainConfig(max_length=512).stride == 64  # at most 64
    assert NERTrainConfig(max_length=128, stride=10).stride == 10


@pytest.mark.parametrize(
    "choice, message",
    [
        (dict(base="minilm", model_config="config.json"), "not both"),
        (dict(tokenizer_dir="tokenizer"), "--tokenizer goes with --config"),
    ],
)
def test_masked_lm_start_is_checked_by_the_library(choice, message):
    with pytest.raises(InputError, match=message):
        starting_model(MLMTrainConfig(), **choice)


def test_masked_lm_held_out_split_is_checked_by_the_library():
    from bertkit.training.mlm_data import held_out

    with pytest.raises(InputError, match="--held-out-every must not be negative, got -1"):
        held_out(["a", "b"], -1)
    assert MLMTrainConfig(nsp=True).task == "pretraining" and MLMTrainConfig().task == "mlm"
