"""Fine-tune a model for NER (token classification), with the QA loop's machinery: AdamW with linear
warmup/decay, length-grouped batches padded to their longest window, bf16 autocast, atomic checkpoints and an
exact resume.

Read top to bottom: configuration → label alignment → features → batches and loss → evaluation → `train`.

Training sees what inference sees: a sentence is encoded as its text (CoNLL tokens joined by spaces), cut
into the same overlapping windows as `EntityTagger` (`tasks.ner.token_windows`), and every token is labelled
in exactly one window, the one that centres it best (`tasks.ner.best_window_tokens`). Labels go to the
first token of each unit (a CoNLL word, a KLUE character); its other tokens get -100 (ignored by the loss)
or, with `label_all_tokens`, the unit's I- label:

    units   Hugging/B-ORG   Face/I-ORG      tokens  [CLS] Hu ##gging Face [SEP]
    labels                                          -100  B-ORG -100 I-ORG -100
    label_all_tokens                                -100  B-ORG I-ORG I-ORG -100

The output directory is laid out as for QA (`training/qa.py`): the best epoch by dev F1 (else the last) as
a plain model directory (`AutoModelForTokenClassification.from_pretrained` and `bertkit.load(dir, "ner")`
read it), `train_summary.json`, and `checkpoints/step-NNNNNNN/` (the latest and the best are kept).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..loading import Model, load, quiet_transformers
from ..runtime import cpu_threads, pad
from ..tasks.ner import AGGREGATIONS, EntityTagger, NEROptions, best_window_tokens, token_windows
from .fit import FitResult, Job, LoopConfig, check_start, fit
from .metrics import entity_scores
from .ner_data import NERDataset, NERSentence, tags_from_entities

IGNORE = -100  # the label the loss skips


@dataclass
class NERTrainConfig(LoopConfig):
    """How to train for NER: `LoopConfig`'s settings, and

    Args:
        max_length, stride: the windowing (as at inference); sentences longer than a window are cut.
            The stride defaults to a quarter window, at most 64 tokens (256 → 64, 128 → 32).
        label_all_tokens: label every token of a unit (I- after the first) instead of the first only.
        aggregation: how evaluation turns tokens into entities ("first" matches first-token labels).
        pad_to_max_length: pad every batch to max_length (slower; for comparisons).
    """

    output_dir: str = "runs/ner"
    epochs: int = 3
    max_length: int = 256
    stride: int | None = None  # resolved in __post_init__: an int from there on
    label_all_tokens: bool = False
    aggregation: str = "first"
    pad_to_max_length: bool = False

    def __post_init__(self) -> None:
        if self.stride is None:
            self.stride = min(64, self.max_length // 4)

    def check(self) -> None:
        """Raise `InputError` for settings that cannot work."""
        super().check()
        if self.aggregation not in AGGREGATIONS or self.aggregation == "none":
            raise InputError(
                f"aggregation for evaluation must be one of simple, first, average, max; got {self.aggregation!r}"
            )


@dataclass
class TrainResult(FitResult):
    """What a run did (see `FitResult`), and the label set the model was trained with."""

    labels: list[str] = field(default_factory=list)


# --- labels -------------------------------------------------------------------------------------------------


def continuation_ids(labels: Sequence[str]) -> np.ndarray:
    """For each label id, the id of the label its unit's later tokens get with `label_all_tokens`:
    B-X → I-X, I-X → I-X, anything else → itself.

    >>> continuation_ids(["O", "B-PER", "I-PER"]).tolist()
    [0, 2, 2]
    """
    index = {label: i for i, label in enumerate(labels)}
    return np.asarray(
        [index.get("I-" + label[2:], i) if label.startswith("B-") else i for i, label in enumerate(labels)],
        dtype=np.int64,
    )


def align_labels(
    word_ids: Sequence[int | None] | np.ndarray,
    word_labels: Sequence[int] | np.ndarray,
    label_all_tokens: bool = False,
    continuation: np.ndarray | None = None,
) -> np.ndarray:
    """Token labels from word labels: the first token of each word gets its word's label, the others
    IGNORE (-100), or with `label_all_tokens` the word's continuation label (`continuation_ids`).

    Args:
        word_ids: per token, its word (the fast tokenizer's `word_ids()`; None or -1 for special tokens).
        word_labels: per word, a label id.
        label_all_tokens: label the later tokens of a word too.
        continuation: label id → continuation label id (needed with label_all_tokens).

    >>> # [CLS] Hu ##gging Face [SEP]; words: Hugging (B-ORG=1), Face (I-ORG=2)
    >>> align_labels([None, 0, 0, 1, None], [1, 2]).tolist()
    [-100, 1, -100, 2, -100]
    >>> align_labels([None, 0, 0, 1, None], [1, 2], True, np.array([0, 2, 2])).tolist()
    [-100, 1, 2, 2, -100]
    """
    ids = np.asarray([-1 if w is None else w for w in word_ids], dtype=np.int64)
    word_labels = np.asarray(word_labels, dtype=np.int64)
    labels = np.full(len(ids), IGNORE, dtype=np.int64)
    known = ids >= 0
    first = known.copy()
    first[1:] &= ids[1:] != ids[:-1]
    labels[first] = word_labels[ids[first]]
    if label_all_tokens:
        if continuation is None:
            raise InputError("label_all_tokens needs the continuation label of each label")
        rest = known & ~first
        labels[rest] = continuation[word_labels[ids[rest]]]
    return labels


def unit_of_tokens(offsets: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Per token (character span), the first unit it overlaps, or -1 (special tokens, tokens in no unit).

    A token that starts with the space before a word (byte-level BPE: "Ġworld") belongs to that word.

    >>> unit_of_tokens(np.array([[0, 0], [0, 2], [2, 7], [7, 12], [0, 0]]), [(0, 7), (8, 12)]).tolist()
    [-1, 0, 0, 1, -1]
    """
    if not len(spans):
        return np.full(len(offsets), -1, dtype=np.int64)
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    starts, ends = offsets[:, 0], offsets[:, 1]
    unit = np.searchsorted(bounds[:, 1], starts, side="right")  # the first unit ending after the start
    inside = (unit < len(bounds)) & (ends > starts)
    clipped = np.minimum(unit, len(bounds) - 1)
    inside &= bounds[clipped, 0] < ends
    return np.where(inside, clipped, -1)


# --- features -----------------------------------------------------------------------------------------------


@dataclass
class NERFeatures:
    """Training windows and their token labels (IGNORE where the loss must not look).

    Args:
        input_ids, token_type_ids: per window, as the model takes them.
        labels: per window, int64 label ids or IGNORE.
        sentence: window → index of its sentence.
    """

    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray] | None
    labels: list[np.ndarray]
    sentence: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.asarray([len(ids) for ids in self.input_ids], dtype=np.int64)


def ner_train_features(
    tokenizer: Any,
    sentences: Sequence[NERSentence],
    labels: Sequence[str],
    max_length: int = 256,
    stride: int = 64,
    label_all_tokens: bool = False,
) -> NERFeatures:
    """Windows of the sentences' texts with token labels (see the module docstring).

    A token is labelled only in the window that centres it best, so overlapping windows never count a
    token twice; windows left without any label are dropped.
    """
    label2id = {label: i for i, label in enumerate(labels)}
    unknown = sorted({t for s in sentences for t in s.tags if t not in label2id})
    if unknown:
        raise InputError(f"the data have labels the model lacks: {', '.join(unknown[:5])}")
    windows = token_windows(tokenizer, [s.text for s in sentences], max_length, stride)
    tokens = best_window_tokens(windows)
    continuation = continuation_ids(labels)
    token_labels = np.full(len(tokens["doc"]), IGNORE, dtype=np.int64)
    bounds = np.searchsorted(tokens["doc"], np.arange(len(sentences) + 1))
    for d, sentence in enumerate(sentences):
        a, b = bounds[d], bounds[d + 1]
        if a == b:
            continue
        units = unit_of_tokens(tokens["offsets"][a:b], sentence.spans)
        unit_labels = np.asarray([label2id[t] for t in sentence.tags], dtype=np.int64)
        token_labels[a:b] = align_labels(units, unit_labels, label_all_tokens, continuation)
    per_window = [np.full(len(ids), IGNORE, dtype=np.int64) for ids in windows.input_ids]
    for w, slot, label in zip(tokens["window"], tokens["slot"], token_labels, strict=True):
        per_window[w][slot] = label
    keep = [w for w, lab in enumerate(per_window) if (lab != IGNORE).any()]
    return NERFeatures(
        input_ids=[windows.input_ids[w] for w in keep],
        token_type_ids=None if windows.token_type_ids is None else [windows.token_type_ids[w] for w in keep],
        labels=[per_window[w] for w in keep],
        sentence=windows.sample[keep],
    )


def fingerprint(features: NERFeatures) -> str:
    """A hash of the training windows and labels: a resumed run must see the same data."""
    digest = hashlib.sha256()
    for ids, labels in zip(features.input_ids, features.labels, strict=True):
        digest.update(ids.tobytes())
        digest.update(labels.tobytes())
    return digest.hexdigest()[:16]


# --- model --------------------------------------------------------------------------------------------------


def set_labels(model: Model, labels: Sequence[str], seed: int = 0) -> bool:
    """Give the model's token-classification head exactly `labels`; returns True when a new head was made.

    A model whose labels are already these (a NER model trained on the same tag set) keeps its head; any
    other gets a new `classifier` layer, initialised from `seed` as transformers initialises one.
    """
    import torch

    module = model.module
    config = module.config
    current = [config.id2label[i] for i in range(len(config.id2label))]
    if current == list(labels):
        return False
    head = getattr(module, "classifier", None)
    if not isinstance(head, torch.nn.Linear):
        raise InputError(
            f"{type(module).__name__} has no token-classification head named classifier; "
            "load the base with task 'ner' (AutoModelForTokenClassification)"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        new = torch.nn.Linear(head.in_features, len(labels))
        new.weight.data.normal_(0.0, getattr(config, "initializer_range", 0.02))
        new.bias.data.zero_()
    module.classifier = new
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    return True


# --- batches, loss, step ------------------------------------------------------------------------------------


def collate(features: NERFeatures, rows: np.ndarray, width: int | None, pad_token_id: int) -> dict[str, Any]:
    """Tensors of one batch, padded to its longest window (or to `width`); padding labels are IGNORE."""
    import torch

    lengths = [len(features.input_ids[i]) for i in rows]
    width = width or max(lengths)
    batch = {
        "input_ids": torch.from_numpy(pad([features.input_ids[i] for i in rows], width, pad_token_id)),
        "attention_mask": torch.from_numpy(pad([np.ones(n, np.int64) for n in lengths], width, 0)),
        "labels": torch.from_numpy(pad([features.labels[i] for i in rows], width, IGNORE)),
    }
    if features.token_type_ids is not None:
        batch["token_type_ids"] = torch.from_numpy(pad([features.token_type_ids[i] for i in rows], width, 0))
    return batch


def ner_loss(module: Any, batch: dict[str, Any], bf16: bool) -> Any:
    """Mean cross-entropy over the labelled tokens of the batch (IGNORE tokens and padding skipped)."""
    import torch
    import torch.nn.functional as F

    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = module(**inputs).logits
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1), ignore_index=IGNORE
    )


# --- evaluation ---------------------------------------------------------------------------------------------


def predict_tags(
    model: Model | EntityTagger,
    sentences: Sequence[NERSentence],
    aggregation: str = "first",
    max_length: int | None = None,
    stride: int | None = None,
    dtype: str = "fp32",
    on_progress: Callable[[int], None] | None = None,
    threads: int | None = None,
) -> list[list[str]]:
    """Predicted BIO tags of each sentence's units, through `EntityTagger` (the decoder users get): its
    entities' character spans are mapped onto the units (`tags_from_entities`)."""
    if aggregation not in AGGREGATIONS or aggregation == "none":
        raise InputError(
            "evaluation needs grouped entities: aggregation must be simple, first, average or max, "
            f"got {aggregation!r}"
        )
    tagger = model if isinstance(model, EntityTagger) else EntityTagger(model, dtype=dtype, threads=threads)
    options = NEROptions(aggregation=aggregation, max_length=max_length, stride=stride)
    predicted: list[list[str]] = []
    for first in range(0, len(sentences), 64):
        chunk = sentences[first : first + 64]
        texts = [s.text for s in chunk]
        filled = [i for i, text in enumerate(texts) if text.strip()]
        found = tagger.tag_many([texts[i] for i in filled], options)
        entities: list[list[Any]] = [[] for _ in chunk]
        for i, ents in zip(filled, found, strict=True):
            entities[i] = ents
        for sentence, ents in zip(chunk, entities, strict=True):
            spans = [(e.label, e.start, e.end) for e in ents]
            predicted.append(tags_from_entities(sentence.spans, spans))
        if on_progress is not None:
            on_progress(len(chunk))
    return predicted


def evaluate(
    model: Model | EntityTagger,
    dataset: NERDataset,
    aggregation: str = "first",
    max_length: int | None = None,
    stride: int | None = None,
    dtype: str = "fp32",
    on_progress: Callable[[int], None] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Entity-level precision/recall/F1 (0-100, seqeval's default mode) of a model on a dataset, over the
    dataset's units (words; characters for KLUE at char level)."""
    predicted = predict_tags(
        model, dataset.sentences, aggregation, max_length, stride, dtype, on_progress, threads
    )
    return entity_scores([s.tags for s in dataset.sentences], predicted)


# --- training -----------------------------------------------------------------------------------------------


def train(
    model: Model | str,
    sentences: Sequence[NERSentence],
    config: NERTrainConfig,
    eval_data: NERDataset | None = None,
    *,
    labels: Sequence[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    threads: int | None = None,
) -> TrainResult:
    """Fine-tune `model` (an AutoModelForTokenClassification and its tokenizer) on `sentences`.

    Args:
        model: the base model; its module is trained in place (its head replaced when its labels are not
            `labels`, see `set_labels`). A name (a directory, a Hub id, "minilm") is loaded with any new
            head seeded by `config.seed`, as `bertkit train ner --base NAME` does.
        sentences: training sentences (BIO tags).
        config: see `NERTrainConfig`.
        eval_data: evaluated after each epoch; the best epoch by F1 becomes the final model.
        labels: the label set (default: O + B-/I- of every type in the training and eval data).
        resume: continue from the latest checkpoint in `config.output_dir` (a fresh start if there is none).
        progress: show a progress bar on stderr.
        threads: torch threads for training and evaluation (default: the usable cores).
    """
    import torch

    config.check()
    assert config.stride is not None  # NERTrainConfig resolves it
    quiet_transformers()
    if not sentences:
        raise InputError("no training sentences")
    if isinstance(model, str):
        model = load(model, "ner", seed=config.seed)
    module, tokenizer = model.module, model.tokenizer
    check_start(model, config, resume)
    if labels is None:
        from .ner_data import label_set

        every = list(sentences) + (eval_data.sentences if eval_data is not None else [])
        labels = label_set(sorted({tag[2:] for s in every for tag in s.tags if tag != "O"}))
    labels = list(labels)
    threads = threads or cpu_threads()
    torch.set_num_threads(threads)
    set_labels(model, labels, config.seed)
    if config.freeze_embeddings:
        module.get_input_embeddings().weight.requires_grad_(False)

    features = ner_train_features(
        tokenizer, sentences, labels, config.max_length, config.stride, config.label_all_tokens
    )
    if not len(features):
        raise InputError("the training sentences give no labelled tokens")
    width = config.max_length if config.pad_to_max_length else None
    pad_id = tokenizer.pad_token_id or 0

    def scores() -> dict[str, Any]:
        assert eval_data is not None
        dtype = "bf16" if config.bf16 else "fp32"
        found = evaluate(
            model, eval_data, config.aggregation, config.max_length, config.stride, dtype, threads=threads
        )
        torch.set_num_threads(threads)
        return {k: found[k] for k in ("precision", "recall", "f1")}

    job = Job(
        lengths=features.lengths,
        collate=lambda rows, _seed: collate(features, rows, width, pad_id),
        loss=lambda module, batch: ner_loss(module, batch, bf16=False),  # `fit` runs it under autocast
        evaluate=scores if eval_data is not None else None,
        score="f1",
        data_hash=fingerprint(features),
        settings={"labels": labels},
        summary=lambda e: f"precision {e['precision']:.2f}, recall {e['recall']:.2f}, F1 {e['f1']:.2f}",
    )
    result = fit(model, job, config, resume=resume, progress=progress)
    return TrainResult(**vars(result), labels=labels)
