"""The training loop's settings: counts are integers, numbers finite, each refusal names the setting."""

from __future__ import annotations

import math
import re

import pytest

from bertkit.errors import InputError
from bertkit.training.qa import TrainConfig


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"lr": math.inf}, "lr must be a finite number, got inf"),
        ({"lr": math.nan}, "lr must be a finite number, got nan"),
        ({"lr": 0.0}, "lr must be positive, got 0.0"),
        ({"epochs": 2.5}, "epochs must be an integer >= 1, got 2.5"),
        ({"batch_size": True}, "batch_size must be an integer >= 1, got True"),
        ({"weight_decay": math.nan}, "weight_decay must be a finite number, got nan"),
        ({"max_grad_norm": -1.0}, "max_grad_norm must be >= 0.0, got -1.0"),
        ({"warmup_ratio": 1.0}, "warmup_ratio must be in [0, 1), got 1.0"),
        ({"max_steps": 0}, "max_steps must be an integer >= 1, got 0"),
        ({"save_every_steps": -1}, "save_every_steps must be an integer >= 0, got -1"),
        ({"seed": 1.5}, "seed must be an integer >= 0, got 1.5"),
    ],
)
def test_settings_that_cannot_work_are_refused(tmp_path, changes, message):
    with pytest.raises(InputError, match=re.escape(message)):
        TrainConfig(str(tmp_path), **changes).check()
    TrainConfig(str(tmp_path)).check()


@pytest.mark.parametrize("found, expected", [("bf16", True), ("fp32", False), ("int8", False)])
def test_bf16_follows_what_auto_picks_for_the_cpu_unless_set(monkeypatch, tmp_path, found, expected):
    # BERTKIT_DTYPE stands in for the CPU's answer (runtime.resolve_dtype): on an AVX2-only CPU bf16 is
    # emulated (~100x slower), so training must not take it there unless asked.
    from bertkit.training.mlm import MLMTrainConfig
    from bertkit.training.ner import NERTrainConfig

    monkeypatch.setenv("BERTKIT_DTYPE", found)
    for config in (TrainConfig, NERTrainConfig, MLMTrainConfig):
        assert config(str(tmp_path)).bf16 is expected
        assert config(str(tmp_path), bf16=not expected).bf16 is (not expected)  # an explicit choice holds
    assert NERTrainConfig(str(tmp_path)).stride == 64  # NER's own resolution still runs
