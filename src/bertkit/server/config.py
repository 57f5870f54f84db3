"""What a server serves and its limits: `ServerConfig`, the tasks it offers, and `TASK=MODEL` items."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..checks import require_count, require_flag, require_number
from ..errors import InputError
from ..tasks.attention import AttentionInspector
from ..tasks.embeddings import Embedder
from ..tasks.fill_mask import FillMask
from ..tasks.ner import EntityTagger
from ..tasks.nsp import NextSentencePredictor

# The tasks besides qa and tokenize (which share the QA model), by API name; each loads its own model.
TASK_CLASSES: dict[str, type[Any]] = {
    "fill-mask": FillMask,
    "nsp": NextSentencePredictor,
    "ner": EntityTagger,
    "embed": Embedder,
    "attention": AttentionInspector,
}


@dataclass
class ServerConfig:
    """What a server serves and its limits.

    Args:
        model: the QA model (its tokenizer serves /v1/tokenize): a directory, a Hub id, or None for the
            embedded default.
        task_models: models of the other tasks by API name ("ner": "path/to/ner-model"); a task not named
            uses the embedded default.
        max_body_bytes: larger request bodies get 413.
        timeout_s: a request not answered in this time gets 504 (and its remaining work is dropped).
        read_timeout_s: a connection whose request headers, or a request whose body, have not all arrived
            in this time is closed (headers) or gets 408 (body): slow clients cannot hold connections.
        batch_window_ms: how long a QA batch waits for more requests once the first has arrived.
        max_batch: QA questions in one round at most.
        round_tokens: tokens the model runs per QA round: a short question waits at most about one round
            behind long ones (smaller: fairer; larger: fewer, bigger model calls).
        max_queue: questions waiting for the model at most; more get 503.
        preload: load the QA model at start (else on the first request).
    """

    model: str | None = None
    task_models: dict[str, str | None] = field(default_factory=dict)
    max_body_bytes: int = 1_000_000
    timeout_s: float = 30.0
    read_timeout_s: float = 10.0
    batch_window_ms: float = 0.0
    max_batch: int = 32
    round_tokens: int = 1024
    max_queue: int = 512
    preload: bool = True

    def __post_init__(self) -> None:
        require_count(self.max_body_bytes, "max_body_bytes")
        require_number(self.timeout_s, "timeout_s", minimum=0.001)
        require_number(self.read_timeout_s, "read_timeout_s", minimum=0.001)
        require_number(self.batch_window_ms, "batch_window_ms", minimum=0.0)
        require_count(self.max_batch, "max_batch")
        require_count(self.round_tokens, "round_tokens")
        require_count(self.max_queue, "max_queue", minimum=0)
        require_flag(self.preload, "preload")


def parse_task_models(items: Iterable[str]) -> dict[str, str | None]:
    """`TASK=MODEL` items (`bertkit serve --task-model`) → `ServerConfig.task_models`.

    Args:
        items: strings such as "ner=path/to/ner-model"; TASK is one of `TASK_CLASSES`, MODEL not empty.

    >>> parse_task_models(["ner=path/to/ner-model", "embed=org/minilm"])
    {'ner': 'path/to/ner-model', 'embed': 'org/minilm'}
    >>> parse_task_models(["qa=x"])
    Traceback (most recent call last):
    bertkit.errors.InputError: --task-model 'qa=x': expected TASK=MODEL with TASK one of fill-mask, nsp, ner, embed, attention
    """  # noqa: E501
    task_models: dict[str, str | None] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in TASK_CLASSES or not value:
            known = ", ".join(TASK_CLASSES)
            raise InputError(f"--task-model {item!r}: expected TASK=MODEL with TASK one of {known}")
        task_models[name] = value
    return task_models
