"""The learning-rate schedule: a linear warmup, then a linear decay to 0 at the last step."""

from bertkit.training.optimizer import linear_schedule


def test_linear_schedule_warms_up_then_decays():
    factor = linear_schedule(10, 110)
    assert [factor(s) for s in (0, 5, 10, 60, 110)] == [0.0, 0.5, 1.0, 0.5, 0.0]
