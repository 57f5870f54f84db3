"""Fill-mask: parity with transformers' v5 fill-mask pipeline on the same tiny models, batching, errors, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertkit import FillMask, InputError
from bertkit.tasks.fill_mask import pipeline_shape, top_k_indices

from ..cli.test_cli import run
from ..conftest import TOKENIZERS, tokenizer


def build_tiny_bert_mlm(path):
    """A 2-layer, 32-wide BertForMaskedLM with the bert-base-uncased tokenizer ([MASK])."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    tok = tokenizer("bert-base-uncased")
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        initializer_range=1.0,  # peaked distributions: no near-ties among the top tokens
    )
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def roberta_tokenizer():
    """A RoBERTa tokenizer ("<s>", "<mask>", byte-level BPE) built from the genuine gpt2 vocab and merges."""
    from tokenizers import AddedToken
    from transformers import RobertaTokenizer

    folder = TOKENIZERS / "gpt2"
    gpt2 = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    lines = (folder / "merges.txt").read_text(encoding="utf-8").split("\n")[1:]
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for token in gpt2:
        vocab.setdefault(token, len(vocab))
    vocab["<mask>"] = len(vocab)
    return RobertaTokenizer(
        vocab=vocab,
        merges=[tuple(line.split(" ")) for line in lines if line],
        mask_token=AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True),
        model_max_length=512,
    )


def build_tiny_roberta_mlm(path):
    import torch
    from transformers import RobertaConfig, RobertaForMaskedLM

    tok = roberta_tokenizer()
    config = RobertaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=514,
        type_vocab_size=1,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        initializer_range=1.0,
    )
    torch.manual_seed(0)
    RobertaForMaskedLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return build_tiny_bert_mlm(tmp_path_factory.mktemp("tiny-bert-mlm"))


@pytest.fixture(scope="module")
def roberta_dir(tmp_path_factory):
    return build_tiny_roberta_mlm(tmp_path_factory.mktemp("tiny-roberta-mlm"))


@pytest.fixture(scope="module")
def models(bert_dir, roberta_dir):
    """name → (bertkit FillMask, transformers pipeline), both on the very same saved model."""
    from transformers import pipeline

    return {
        name: (FillMask(str(path)), pipeline("fill-mask", model=str(path)))
        for name, path in (("bert", bert_dir), ("roberta", roberta_dir))
    }


TEXTS = {
    "bert": [
        "Paris is the [MASK] of France.",
        "[MASK] is the [MASK] of France.",
        "The man worked as a [MASK] in the café, 東京.",
        "[MASK]",
    ],
    "roberta": [
        "Paris is the <mask> of France.",
        "<mask> is the <mask> of France.",
        "Hello <mask>! The café is in 東京.",
    ],
}


def assert_same(ours: list, reference: list) -> None:
    """Same nesting, same tokens, token_str and sequence strings, scores within 1e-5."""
    assert len(ours) == len(reference)
    for a, b in zip(ours, reference, strict=True):
        if isinstance(b, list):
            assert_same(a, b)
            continue
        a = a.to_dict() if hasattr(a, "to_dict") else a
        assert set(a) == set(b) == {"score", "token", "token_str", "sequence"}
        assert (a["token"], a["token_str"], a["sequence"]) == (b["token"], b["token_str"], b["sequence"])
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)


@pytest.mark.parametrize("name", ["bert", "roberta"])
def test_parity_with_the_transformers_pipeline(models, name):
    fill, pipe = models[name]
    for text in TEXTS[name]:
        for top_k in (1, 5):
            assert_same(fill(text, top_k=top_k), pipe(text, top_k=top_k))


def test_several_masks_are_one_list_per_mask(models):
    fill, _ = models["bert"]
    fills = fill("[MASK] is the [MASK] of France.", top_k=3)
    assert len(fills) == 2 and all(len(row) == 3 for row in fills)
    # Each mask is replaced alone; the other stays visible, special tokens kept, as the pipeline does.
    assert fills[0][0].sequence.startswith("[CLS] ") and "[MASK]" in fills[0][0].sequence
    assert "[MASK] is the" in fills[1][0].sequence


def test_batching_does_not_change_results(models):
    fill, _ = models["bert"]
    texts = TEXTS["bert"] + ["A much longer text, " * 20 + "with a [MASK] near its end."]
    together = fill.fill_many(texts, top_k=4)
    for text, batched in zip(texts, together, strict=True):
        alone = fill.fill_many([text], top_k=4)[0]
        assert [[f.token for f in row] for row in batched] == [[f.token for f in row] for row in alone]
        np.testing.assert_allclose(
            [[f.score for f in row] for row in batched], [[f.score for f in row] for row in alone], atol=1e-5
        )


def test_scores_are_probabilities(models):
    fill, _ = models["roberta"]
    fills = fill("Paris is the <mask> of France.", top_k=50)
    scores = [f.score for f in fills]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1 + 1e-6


def test_pipeline_shape_and_top_k_indices():
    assert pipeline_shape([["a", "b"]]) == ["a", "b"]
    assert pipeline_shape([["a"], ["b"]]) == [["a"], ["b"]]
    scores = np.array([[0.1, 0.4, 0.3, 0.2], [0.5, 0.1, 0.1, 0.3]])
    assert top_k_indices(scores, 2).tolist() == [[1, 2], [0, 3]]
    assert top_k_indices(scores, 10).shape == (2, 4)


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bert", "Paris is the capital of France.", "no [MASK] in the text"),
        ("bert", "Paris is the <mask> of France.", "write [MASK] where a word is missing"),
        ("roberta", "Paris is the [MASK] of France.", "write <mask> where a word is missing"),
        ("bert", "   ", "text is empty"),
        ("bert", "[MASK] " * 600, "the model takes at most 512"),
    ],
)
def test_errors(models, name, text, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        models[name][0](text)


def test_top_k_must_be_positive(models):
    with pytest.raises(InputError, match="top_k must be"):
        models["bert"][0]("a [MASK]", top_k=0)


# --- CLI ---------------------------------------------------------------------------------------------


def test_cli_json_is_the_pipeline_output(capsys, monkeypatch, models, bert_dir):
    _, pipe = models["bert"]
    for text in ("Paris is the [MASK] of France.", "[MASK] is the [MASK] of France."):
        code, out, err = run(
            capsys, monkeypatch, "fill-mask", text, "--model", str(bert_dir), "--top-k", "3", "--json"
        )
        assert code == 0, err
        assert_same(json.loads(out), pipe(text, top_k=3))


def test_cli_table(capsys, monkeypatch, roberta_dir):
    code, out, _ = run(capsys, monkeypatch, "fill-mask", "<mask> and <mask>.", "--model", str(roberta_dir))
    assert code == 0 and "mask 1 of 2" in out and "mask 2 of 2" in out and "sequence" in out


def test_cli_default_model_fills_the_capital(capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, "fill-mask", "Paris is the [MASK] of France.", "--json")
    assert code == 0 and "untrained" not in err
    fills = json.loads(out)
    assert len(fills) == 5 and "capital" in [f["token_str"] for f in fills]


@pytest.mark.parametrize(
    "args, message",
    [
        (["fill-mask", "no mask here"], "no [MASK] in the text"),
        (["fill-mask", ""], "text is empty"),
        (["fill-mask", "a [MASK]", "--top-k", "0"], "top_k must be"),
    ],
)
def test_cli_errors_are_one_line(capsys, monkeypatch, bert_dir, args, message):
    code, out, err = run(capsys, monkeypatch, *args, "--model", str(bert_dir))
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
