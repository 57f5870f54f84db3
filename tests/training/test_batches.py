"""Batches: length-grouped epochs that cover every row once, the same for the same seed and epoch."""

import numpy as np
import pytest

from bertkit import InputError
from bertkit.training.batches import epoch_batches


def test_batches_group_similar_lengths_and_cover_every_window_once():
    lengths = np.random.default_rng(0).integers(20, 384, size=1000)
    batches = epoch_batches(lengths, 16, seed=3, epoch=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert [b.tolist() for b in batches] == [b.tolist() for b in epoch_batches(lengths, 16, seed=3, epoch=0)]
    assert [b.tolist() for b in batches] != [b.tolist() for b in epoch_batches(lengths, 16, seed=3, epoch=1)]
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    random_spread = np.mean(
        [lengths[b].max() - lengths[b].min() for b in np.split(np.arange(1000)[:992], 62)]
    )
    assert spread < random_spread / 5


def test_attention_dropout_set_to_zero_makes_training_forwards_repeat():
    import torch
    import transformers

    from bertkit.training.batches import set_attention_dropout
    from bertkit.training.qa import TrainConfig

    config = transformers.BertConfig(
        vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.5,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BertForQuestionAnswering(config).train()
    ids = torch.randint(1, 100, (2, 12))
    assert not torch.equal(model(input_ids=ids).start_logits, model(input_ids=ids).start_logits)
    assert set_attention_dropout(model, 0.0) == 2
    assert torch.equal(model(input_ids=ids).start_logits, model(input_ids=ids).start_logits)
    with pytest.raises(InputError, match="attention_dropout"):
        TrainConfig(attention_dropout=1.5).check()
