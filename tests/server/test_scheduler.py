"""The round policy (`scheduler.take_round`) over made-up jobs: shortest first, the oldest never starved."""

from __future__ import annotations

import numpy as np

from bertkit.encoding import QAWindows
from bertkit.server.scheduler import take_round


def windows(*lengths: int) -> QAWindows:
    n = len(lengths)
    return QAWindows(
        input_ids=[np.zeros(length, np.int64) for length in lengths],
        token_type_ids=None,
        offsets=[np.zeros((length, 2), np.int64) for length in lengths],
        context_mask=[np.zeros(length, bool) for length in lengths],
        cls_index=np.zeros(n, np.int64),
        sample=np.zeros(n, np.int64),
    )


class Job:
    """A question of `count` windows of `length` tokens; `take` hands them out within the token budget."""

    def __init__(self, order: int, count: int, length: int):
        self.order, self.left, self.length = order, count, length

    def remaining_tokens(self) -> int:
        return self.left * self.length

    def take(self, max_tokens: int) -> QAWindows | None:
        n = min(self.left, max(1, max_tokens // self.length))
        self.left -= n
        return windows(*[self.length] * n) if n else None


def test_short_jobs_run_whole_and_long_ones_a_slice():
    long, short1, short2 = Job(0, count=20, length=384), Job(1, 1, 40), Job(2, 1, 40)
    taken, failed = take_round([long, short1, short2], round_tokens=1024, max_jobs=32)
    assert not failed
    assert [(job, len(w)) for job, w in taken] == [(short1, 1), (short2, 1), (long, 2)]  # 80 + 768 tokens


def test_the_oldest_job_gets_a_window_even_when_short_ones_fill_the_round():
    long = Job(0, count=5, length=384)
    shorts = [Job(i, 1, 40) for i in range(1, 40)]
    rounds = []
    while long.left:
        taken, _ = take_round([long, *[s for s in shorts if s.left]], round_tokens=400, max_jobs=8)
        rounds.append([job.order for job, _ in taken])
    assert len(rounds) == 5 and all(0 in r for r in rounds)  # one window of the long job per round
    assert rounds[0] == [1, 2, 3, 4, 5, 6, 7, 0]  # max_jobs: the 7 shortest and the oldest


def test_a_job_whose_windows_fail_is_reported_and_the_others_run():
    class Bad(Job):
        def take(self, max_tokens):
            raise ValueError("bad input")

    good, bad = Job(0, 1, 40), Bad(1, 1, 40)
    taken, failed = take_round([good, bad], round_tokens=1024, max_jobs=32)
    assert [job for job, _ in taken] == [good]
    assert [(job, str(e)) for job, e in failed] == [(bad, "bad input")]
