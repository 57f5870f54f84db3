"""Shared fixtures: real tokenizers from ../shared/data and tiny models built on the spot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# dtype "auto" (every task's default) picks bf16 on CPUs with bf16 units: the tests' expected scores are fp32's
# on every machine (tests/test_dtype.py checks what auto picks, with faked CPU flags).
os.environ.setdefault("BERTKIT_DTYPE", "fp32")

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BERTKIT_DATA", ROOT.parent / "shared" / "data"))
TOKENIZERS = DATA / "tokenizers"


def import_script(name: str):
    """The module scripts/NAME.py (a recipe, not a package), imported with scripts/ on sys.path for the
    import only."""
    import importlib
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def tokenizer(name: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TOKENIZERS / name))


@pytest.fixture(scope="session")
def tok_uncased():
    return tokenizer("bert-base-uncased")


@pytest.fixture(scope="session")
def tok_cased():
    return tokenizer("bert-base-cased")


@pytest.fixture(scope="session")
def tok_mbert():
    return tokenizer("bert-base-multilingual-cased")


def build_tiny_qa(path: Path, tokenizer_name: str = "bert-base-uncased", seed: int = 0) -> Path:
    """A 2-layer, 32-wide BERT with a random QA head and a real tokenizer, saved like any model."""
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    tok = tokenizer(tokenizer_name)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(seed)
    model = BertForQuestionAnswering(config)
    # Larger QA-head weights so that logits differ clearly between tokens (no near-ties).
    with torch.no_grad():
        model.qa_outputs.weight.normal_(0, 1.0)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_qa_dir(tmp_path_factory):
    return build_tiny_qa(tmp_path_factory.mktemp("tiny-qa"))


@pytest.fixture(scope="session")
def tiny_qa(tiny_qa_dir):
    from bertkit import QuestionAnswerer

    return QuestionAnswerer(str(tiny_qa_dir))
