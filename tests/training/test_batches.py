"""Batches: length-grouped epochs that cover every row once, the same for the same seed and epoch."""

import numpy as np

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
