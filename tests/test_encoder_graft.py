"""scripts/default_qa_model.py's `copy_encoder`: a QA model's encoder goes under the pre-training heads for
more masked LM and comes back under its own QA head (`default_qa_model.py graft`). A wrong copy would
start a QA stage from a silently different model, so the round trip is tested on tiny models."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForPreTraining, BertForQuestionAnswering

from .conftest import import_script


@pytest.fixture(scope="module")
def copy_encoder():
    return import_script("default_qa_model").copy_encoder


def tiny(vocab_size=50):
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
    )


def test_the_encoder_goes_to_the_pretraining_heads_and_back_unchanged(copy_encoder):
    torch.manual_seed(0)
    qa, pretraining = BertForQuestionAnswering(tiny()), BertForPreTraining(tiny())
    before = {k: v.clone() for k, v in qa.state_dict().items()}
    tied = "cls.predictions.decoder.weight"  # the word embeddings themselves
    heads = {
        k: v.clone() for k, v in pretraining.state_dict().items() if not k.startswith("bert.e") and k != tied
    }
    copied = copy_encoder(qa, pretraining)
    assert copied == sum(k.startswith(("bert.embeddings.", "bert.encoder.")) for k in before)
    state = pretraining.state_dict()
    assert all(torch.equal(state[k], v) for k, v in heads.items())  # pooler and heads kept
    # the masked-LM decoder stays tied to the (copied) word embeddings
    assert torch.equal(
        pretraining.cls.predictions.decoder.weight, before["bert.embeddings.word_embeddings.weight"]
    )
    with torch.no_grad():  # "more masked LM" moves the encoder; the QA head must survive the way back
        pretraining.bert.encoder.layer[0].output.dense.weight.add_(1.0)
    copy_encoder(pretraining, qa)
    after = qa.state_dict()
    assert torch.equal(after["qa_outputs.weight"], before["qa_outputs.weight"])
    assert torch.equal(
        after["bert.encoder.layer.0.output.dense.weight"],
        before["bert.encoder.layer.0.output.dense.weight"] + 1,
    )


def test_encoders_of_other_shapes_are_refused(copy_encoder):
    with pytest.raises(SystemExit, match="encoders differ"):
        copy_encoder(BertForQuestionAnswering(tiny(50)), BertForPreTraining(tiny(60)))
