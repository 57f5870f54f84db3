"""Next-sentence prediction: the same probabilities as a direct transformers forward, ranking, batching, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertkit import InputError, NextSentencePredictor
from bertkit.tasks.nsp import pair_inputs, rank

from ..cli.test_cli import run
from ..conftest import tokenizer

FIRST = "I went to the store after work."
CANDIDATES = [
    "I bought a gallon of milk and some bread.",
    "Penguins are flightless birds.",
    "The store was closed.",
    "Quantum chromodynamics describes the strong interaction between quarks and gluons in great detail.",
    "Ok.",
]


@pytest.fixture(scope="module")
def nsp_dir(tmp_path_factory):
    """A 2-layer, 32-wide BertForNextSentencePrediction with the bert-base-uncased tokenizer."""
    import torch
    from transformers import BertConfig, BertForNextSentencePrediction

    path = tmp_path_factory.mktemp("tiny-nsp")
    tok = tokenizer("bert-base-uncased")
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        initializer_range=0.5,  # larger weights: probabilities differ clearly between pairs
    )
    torch.manual_seed(0)
    BertForNextSentencePrediction(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def predictor(nsp_dir):
    return NextSentencePredictor(str(nsp_dir))


def reference(nsp_dir, firsts, seconds):
    """P(IsNext) from plain transformers, one pair at a time: softmax(logits)[0] (label 0 = IsNext)."""
    import torch
    from transformers import AutoModelForNextSentencePrediction, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(nsp_dir)
    model = AutoModelForNextSentencePrediction.from_pretrained(nsp_dir).eval()
    out = []
    with torch.no_grad():
        for a, b in zip(firsts, seconds, strict=True):
            logits = model(**tok(a, b, return_tensors="pt")).logits
            out.append(logits.softmax(-1)[0, 0].item())
    return np.array(out)


def test_same_probabilities_as_transformers(predictor, nsp_dir):
    firsts = [FIRST] * len(CANDIDATES) + ["Short.", "Another first sentence, rather longer than the others."]
    seconds = CANDIDATES + ["Second.", "Fine."]
    ours = predictor.score(firsts, seconds)
    np.testing.assert_allclose(ours, reference(nsp_dir, firsts, seconds), atol=1e-5)
    assert predictor(firsts[0], seconds[0]) == pytest.approx(ours[0], abs=1e-6)
    assert ours.std() > 0.01  # the pairs really differ, so the comparison means something


def test_ranking_is_best_first(predictor, nsp_dir):
    ranked = predictor.rank(FIRST, CANDIDATES)
    expected = reference(nsp_dir, [FIRST] * len(CANDIDATES), CANDIDATES)
    assert [r.text for r in ranked] == [CANDIDATES[i] for i in np.argsort(-expected, kind="stable")]
    assert [r.is_next for r in ranked] == sorted((r.is_next for r in ranked), reverse=True)
    assert sorted(r.text for r in ranked) == sorted(CANDIDATES)


def test_candidates_are_batched_and_batching_changes_nothing(nsp_dir):
    from bertkit.runtime import Runtime

    predictor = NextSentencePredictor(str(nsp_dir))
    together = predictor.score([FIRST] * len(CANDIDATES), CANDIDATES)
    # Batched together (a pair shorter than half the longest starts a new batch: runtime.length_batches).
    assert predictor.runtime.stats["batches"] < len(CANDIDATES)
    assert predictor.runtime.stats["windows"] == len(CANDIDATES)
    predictor.runtime = Runtime(predictor.model.module, max_batch=1)
    alone = predictor.score([FIRST] * len(CANDIDATES), CANDIDATES)
    assert predictor.runtime.stats["batches"] == len(CANDIDATES)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_pairs_carry_segment_ids_and_long_pairs_are_cut(tok_uncased):
    inputs = pair_inputs(tok_uncased, ["Where does John live?"], ["John lives in New York City."], 512)
    assert inputs.input_ids[0].tolist() == [
        101, 2073, 2515, 2198, 2444, 1029, 102, 2198, 3268, 1999, 2047, 2259, 2103, 1012, 102,
    ]  # fmt: skip
    assert inputs.token_type_ids[0].tolist() == [0] * 7 + [1] * 8
    long = pair_inputs(tok_uncased, ["word " * 400], ["word " * 400], 512)
    assert len(long.input_ids[0]) == 512


def test_rank_is_stable_on_ties():
    ranked = rank(["a", "b", "c"], np.array([0.3, 0.3, 0.9]))
    assert [(r.text, r.is_next) for r in ranked] == [("c", 0.9), ("a", 0.3), ("b", 0.3)]


def test_errors(predictor):
    with pytest.raises(InputError, match="no candidate sentences"):
        predictor.rank(FIRST, [])
    with pytest.raises(InputError, match="the second sentence is empty"):
        predictor(FIRST, " ")
    with pytest.raises(InputError, match="got 1 first sentences but 2"):
        predictor.score([FIRST], ["a", "b"])


# --- CLI ---------------------------------------------------------------------------------------------


def test_cli_single_pair_is_a_one_element_list(capsys, monkeypatch, nsp_dir, predictor):
    code, out, err = run(capsys, monkeypatch, "nsp", FIRST, CANDIDATES[0], "--model", str(nsp_dir), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert len(result) == 1 and result[0]["text"] == CANDIDATES[0]
    assert result[0]["is_next"] == pytest.approx(predictor(FIRST, CANDIDATES[0]), abs=1e-6)


def test_cli_candidates_json_and_file(capsys, monkeypatch, tmp_path, nsp_dir, predictor):
    expected = [r.to_dict() for r in predictor.rank(FIRST, CANDIDATES)]
    args = ["nsp", FIRST, "--model", str(nsp_dir), "--json"]
    code, out, err = run(capsys, monkeypatch, *args, "--candidates-json", json.dumps(CANDIDATES))
    assert code == 0, err
    assert [r["text"] for r in json.loads(out)] == [r["text"] for r in expected]
    (tmp_path / "candidates.txt").write_text("\n".join(CANDIDATES) + "\n\n", encoding="utf-8")
    code, out, err = run(capsys, monkeypatch, *args, "--candidates", str(tmp_path / "candidates.txt"))
    assert code == 0, err
    ranked = json.loads(out)
    assert [r["text"] for r in ranked] == [r["text"] for r in expected]
    np.testing.assert_allclose([r["is_next"] for r in ranked], [r["is_next"] for r in expected], atol=1e-6)


def test_cli_table_with_the_default_model(capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, "nsp", FIRST, "--candidates-json", json.dumps(CANDIDATES[:2]))
    assert code == 0
    assert "is_next" in out and "Penguins" in out
    assert "untrained" not in err  # the default NSP head is a trained one


@pytest.mark.parametrize(
    "args, message",
    [
        (["nsp", "A", "--candidates-json", '["unclosed"'], "--candidates-json is not valid JSON"),
        (["nsp", "A", "--candidates-json", '{"a": 1}'], "must be a JSON list of strings"),
        (["nsp", "A", "--candidates-json", "[1, 2]"], "must be a JSON list of strings"),
        (["nsp", "A", "--candidates-json", "[]"], "is an empty list"),
        (["nsp", "A"], "give exactly one of B, --candidates and --candidates-json"),
        (["nsp", "A", "B", "--candidates-json", '["C"]'], "give exactly one of"),
        (["nsp", "A", "--candidates", "/no/such/file.txt"], "file not found"),
        (["nsp", "", "B"], "the first sentence is empty"),
    ],
)
def test_cli_errors_are_one_line(capsys, monkeypatch, nsp_dir, args, message):
    code, out, err = run(capsys, monkeypatch, *args, "--model", str(nsp_dir))
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
