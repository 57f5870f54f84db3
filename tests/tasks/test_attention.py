"""Attention: the weights transformers returns (eager), per layer/head selection, what a word attends to, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertkit import AttentionInspector, InputError, load
from bertkit.runtime import Runtime
from bertkit.tasks.attention import select

from ..cli.test_cli import run
from ..conftest import tokenizer

TEXT = "The animal didn't cross the street because it was too tired."


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A 2-layer, 32-wide BertModel (4 heads) with the bert-base-uncased tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    path = tmp_path_factory.mktemp("tiny-bert-attention")
    tok = tokenizer("bert-base-uncased")
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        initializer_range=0.5,  # attention far from uniform
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def inspector(tiny_dir):
    return AttentionInspector(str(tiny_dir))


def reference(tiny_dir, text):
    """[layers, heads, length, length] from plain transformers with eager attention, one text alone."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModel.from_pretrained(tiny_dir, attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(**tok(text, return_tensors="pt"), output_attentions=True)
    return torch.stack(out.attentions, 1)[0].numpy()


def test_weights_equal_transformers_and_batching_changes_nothing(inspector, tiny_dir):
    texts = [TEXT, "Short one.", "A third text, " * 12 + "longer than the others."]
    results = inspector.weights_many(texts)  # batched together, padded to the longest
    for text, result in zip(texts, results, strict=True):
        expected = reference(tiny_dir, text)
        assert result.shape == expected.shape == (2, 4, len(result.tokens), len(result.tokens))
        np.testing.assert_allclose(result.weights, expected, atol=1e-5)
        np.testing.assert_allclose(result.weights.sum(-1), 1.0, atol=1e-5)  # padding never leaks in


def test_selection_averages_what_is_not_chosen(inspector):
    weights = inspector(TEXT)
    w = weights.weights
    np.testing.assert_allclose(weights.select(), w.mean(axis=(0, 1)), atol=1e-6)
    np.testing.assert_allclose(weights.select(layer=-1), w[1].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(weights.select(head=2), w[:, 2].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(weights.select(layer=0, head=3), w[0, 3], atol=0)
    with pytest.raises(InputError, match="layer 2 does not exist: the model has 2 layers"):
        weights.select(layer=2)
    with pytest.raises(InputError, match="head -5 does not exist: the model has 4 heads"):
        select(w, head=-5)


def test_what_a_word_attends_to(inspector):
    weights = inspector("Tokenization matters, and tokenization is subtle.")
    rows = weights.word_tokens("tokenization", occurrence=2)
    assert [weights.tokens[i] for i in rows] == ["token", "##ization"]
    ranked = weights.attends_to("tokenization", occurrence=2, layer=1).ranked
    expected = weights.select(layer=1)[rows].mean(axis=0)
    assert [t.index for t in ranked] == np.argsort(-expected, kind="stable").tolist()
    assert [t.weight for t in ranked] == sorted((t.weight for t in ranked), reverse=True)
    assert sum(t.weight for t in ranked) == pytest.approx(1.0, abs=1e-5)
    first = ranked[0]
    assert first.token == weights.tokens[first.index]
    with pytest.raises(InputError, match="'tokenization' occurs 2 times in the text: occurrence 3"):
        weights.attends_to("tokenization", occurrence=3)


def test_to_dict_is_plain_data(inspector):
    data = inspector(TEXT).to_dict(layer=-1, word="it")
    assert data["layer"] == 1 and data["head"] is None
    assert data["shape"] == [2, 4, len(data["tokens"]), len(data["tokens"])]
    assert np.asarray(data["weights"]).shape == tuple(data["shape"][2:])
    assert data["word"]["text"] == "it" and data["tokens"][data["word"]["token_indices"][0]] == "it"
    assert json.loads(json.dumps(data)) == data
    full = inspector(TEXT).to_dict(full=True)
    assert np.asarray(full["weights"]).shape == tuple(full["shape"])


def test_runtime_keeps_qa_style_outputs_and_trims_square_ones(tiny_dir):
    """The runtime's per-layer outputs: attention trimmed on both token axes, hidden states on one."""
    model = load(str(tiny_dir), task="base", attn_implementation="eager")
    tok = model.tokenizer
    ids = [np.asarray(tok(t)["input_ids"]) for t in ("one two three four five six", "one")]
    out = Runtime(model.module).forward(
        {"input_ids": ids}, ("attentions", "hidden_states", "last_hidden_state", "pooler_output"),
        token_axes={"pooler_output": ()},
    )  # fmt: skip
    assert out["attentions"][1].shape == (2, 4, 3, 3)
    assert out["hidden_states"][1].shape == (3, 3, 32)
    assert out["last_hidden_state"][1].shape == (3, 32)
    assert out["pooler_output"][1].shape == (32,)
    np.testing.assert_allclose(out["hidden_states"][1][-1], out["last_hidden_state"][1], atol=1e-6)
    rows = Runtime(model.module).forward(
        {"input_ids": ids}, ("last_hidden_state",), rows=[np.array([0, 2]), np.array([1])]
    )
    np.testing.assert_allclose(rows["last_hidden_state"][0], out["last_hidden_state"][0][[0, 2]], atol=1e-5)


def test_errors(inspector):
    with pytest.raises(InputError, match="text is empty"):
        inspector("  ")
    with pytest.raises(InputError, match="the model takes at most 512"):
        inspector("word " * 600)
    with pytest.raises(InputError, match="'cat' does not occur in the text"):
        inspector(TEXT).attends_to("cat")


# --- CLI ---------------------------------------------------------------------------------------------


def test_cli_json_on_the_default_model(capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, "attention", TEXT, "--token", "it", "--layer", "-1", "--json")
    # the default MiniLM gives real attention: no caveat, only which model ran
    assert code == 0 and err == "note: model all-MiniLM-L6-v2 (bertkit's embedded encoder, English)\n"
    data = json.loads(out)
    n = len(data["tokens"])
    assert data["shape"] == [6, 12, n, n] and data["layer"] == 5 and data["head"] is None
    assert np.allclose(np.asarray(data["weights"]).sum(-1), 1.0, atol=1e-4)
    assert {t["token"] for t in data["attends_to"][:4]} & {"animal", "street"}  # "it": the animal/the street


def test_cli_tables(capsys, monkeypatch, tiny_dir):
    code, out, _ = run(capsys, monkeypatch, "attention", TEXT, "--model", str(tiny_dir), "--head", "1")
    assert code == 0 and "mean of 2 layers, head 1" in out and "attends to" in out
    code, out, _ = run(capsys, monkeypatch, "attention", TEXT, "--model", str(tiny_dir), "--token", "street")
    assert code == 0 and "what 'street' attends to" in out


def test_cli_full_json(capsys, monkeypatch, tiny_dir):
    code, out, _ = run(
        capsys, monkeypatch, "attention", "Hi there", "--model", str(tiny_dir), "--full", "--json"
    )
    assert code == 0 and np.asarray(json.loads(out)["weights"]).shape == (2, 4, 4, 4)


@pytest.mark.parametrize(
    "args, message",
    [
        (["attention", ""], "text is empty"),
        (["attention", TEXT, "--token", "cat"], "'cat' does not occur in the text"),
        (["attention", TEXT, "--layer", "7"], "layer 7 does not exist"),
        (["attention", TEXT, "--head", "-9"], "head -9 does not exist"),
    ],
)
def test_cli_errors_are_one_line(capsys, monkeypatch, tiny_dir, args, message):
    code, out, err = run(capsys, monkeypatch, *args, "--model", str(tiny_dir))
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
