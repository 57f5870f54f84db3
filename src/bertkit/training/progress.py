"""What a person sees while a model trains: a progress bar on stderr (steps, loss, rows per second, time
left) or, when stderr is not a terminal (nohup, CI), a plain line every 25 steps; and one line per
evaluation.
"""

from __future__ import annotations

from typing import Any

LOG_EVERY = 25  # optimizer steps between the plain lines written to a log


class TrainingProgress:
    """A rich progress bar over the optimizer steps of a run (shown only when `enabled`).

    Args:
        enabled: show anything at all (process 0 with progress asked for).
        total: the step the run stops at.
        completed: the steps done before (a resumed run).
        epoch: the epoch shown first (1-based).
    """

    def __init__(self, enabled: bool, total: int, completed: int, epoch: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.enabled = enabled
        self.bar = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("{task.fields[rate]:.1f} ex/s"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self.task = self.bar.add_task(
            "train", total=total, completed=completed, loss=0.0, rate=0, epoch=epoch
        )

    def __enter__(self) -> TrainingProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def step(
        self, epoch: int, step_in_epoch: int, steps_per_epoch: int, global_step: int, loss: float, rate: float
    ):
        """After an optimizer step (`epoch` and `step_in_epoch` 0-based, `global_step` counted after it)."""
        self.bar.update(self.task, advance=1, loss=loss, rate=rate, epoch=epoch + 1)
        if self.enabled and not self.bar.console.is_terminal and global_step % LOG_EVERY == 0:
            # Logs get a plain line now and then instead of a bar they cannot show.
            self.bar.console.print(
                f"epoch {epoch + 1} step {step_in_epoch + 1}/{steps_per_epoch} loss {loss:.4f} {rate:.1f} ex/s"
            )

    def print(self, line: str) -> None:
        """A line above the bar (an epoch's scores)."""
        if self.enabled:
            self.bar.console.print(line)
