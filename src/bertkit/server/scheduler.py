"""Fair rounds of QA work: which windows of which waiting questions the model runs next.

The model thread works in rounds of at most `round_tokens` tokens (so a round is short), and fills each
round shortest remaining work first: a short question runs whole in the first round after it arrives,
while a long one runs a slice of its windows per round. The oldest question gets at least one window in
every round, so long ones always progress. Example, round_tokens=1024, a question of 20 windows of 384
tokens waiting, then three one-window questions of 40 tokens:

    round 1:  the three short ones (120 tokens) + 2 windows of the long one (768)   → the short ones answered
    round 2+: 2-3 windows of the long one per round, interleaved with whatever short ones have arrived

A question past its deadline (its request got 504) is dropped before each round, so a timed-out request
stops costing work within one round.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from ..encoding import QAWindows
from ..tasks.qa_stream import window_tokens


class Work(Protocol):
    """What a round needs of a waiting question."""

    order: int  # arrival: lower is older

    def remaining_tokens(self) -> int: ...

    def take(self, max_tokens: int) -> QAWindows | None: ...


Job = TypeVar("Job", bound=Work)


def take_round(
    jobs: Sequence[Job], round_tokens: int, max_jobs: int
) -> tuple[list[tuple[Job, QAWindows]], list[tuple[Job, Exception]]]:
    """The windows of one round, and the jobs whose windows could not be made (with the error).

    Args:
        jobs: the waiting questions (not past their deadline).
        round_tokens: tokens per round; each job taken gets at least one window.
        max_jobs: jobs in one round at most.
    """
    by_size = sorted(jobs, key=lambda job: (job.remaining_tokens(), job.order))[:max_jobs]
    oldest = min(jobs, key=lambda job: job.order, default=None)
    if oldest is not None and oldest not in by_size:
        by_size[-1] = oldest
    taken: list[tuple[Job, QAWindows]] = []
    failed: list[tuple[Job, Exception]] = []
    budget = round_tokens
    for job in by_size:
        if budget <= 0 and job is not oldest:
            continue
        try:
            windows = job.take(max(budget, 1))
        except Exception as e:  # this question's input: its request gets the error
            failed.append((job, e))
            continue
        if windows is not None:
            taken.append((job, windows))
            budget -= window_tokens(windows)
    return taken, failed
