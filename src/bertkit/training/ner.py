"""Fine-tune a model for NER (token classification) on the shared loop (`training/fit.py`: AdamW with linear
warmup/decay, length-grouped batches, bf16, atomic checkpoints and an exact resume).

Read top to bottom: configuration → the head's labels → loss → evaluation → `train`. The training windows
and their token labels (what inference sees, labelled once per token) are `training/ner_features.py`'s.

The output directory is laid out as for QA (`training/qa.py`): the best epoch by dev F1 (else the last) as
a plain model directory (`AutoModelForTokenClassification.from_pretrained` and `bertkit.load(dir, "ner")`
read it), `train_summary.json`, and `checkpoints/step-NNNNNNN/` (the latest and the best are kept).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..loading import Model, load, quiet_transformers
from ..runtime import cpu_threads
from ..tasks.ner import AGGREGATIONS, EntityTagger, NEROptions
from ..tasks.ner_decoding import entity_types_of
from .batches import IGNORE, forward
from .fit import FitResult, Job, LoopConfig, check_start, fit
from .klue_metrics import entity_macro_f1, tag_macro_f1
from .metrics import entity_scores
from .ner_data import TYPE_ALIASES, NERDataset, NERSentence, label_set, renamed_types, tags_from_entities
from .ner_features import NERFeatures, collate, fingerprint, ner_train_features


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
        super().__post_init__()
        if self.stride is None:
            self.stride = min(64, self.max_length // 4)

    def check(self) -> None:
        """Raise `InputError` for settings that cannot work."""
        super().check()
        if self.aggregation not in AGGREGATIONS or self.aggregation == "none":
            raise InputError(
                f"aggregation for evaluation must be one of simple, first, average, max; got {self.aggregation!r}"
            )


# --- model --------------------------------------------------------------------------------------------------


def model_labels(model: Model) -> list[str]:
    """The labels of the model's head, by id (a model trained by `train` has the run's label set)."""
    id2label = model.module.config.id2label
    return [id2label[i] for i in range(len(id2label))]


def set_labels(model: Model, labels: Sequence[str], seed: int = 0) -> bool:
    """Give the model's token-classification head exactly `labels`; returns True when a new head was made.

    A model whose labels are already these (a NER model trained on the same tag set) keeps its head; any
    other gets a new `classifier` layer, initialised from `seed` as transformers initialises one, except
    that a label the old head had keeps its row there (weights and bias). Example: a head over O, B-PER,
    I-PER, B-PS, I-PS given O, B-PER, I-PER, B-DT, I-DT keeps its O and PER rows, drops PS and starts DT
    anew, so continuing a NER model on a changed label set does not forget the types it keeps.
    """
    import torch

    module = model.module
    config = module.config
    old_labels = model_labels(model)
    if old_labels == list(labels):
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
    if head.out_features == len(old_labels):  # a base model's LABEL_0, LABEL_1 match no NER label
        was = {label: i for i, label in enumerate(old_labels)}
        with torch.no_grad():
            for i, label in enumerate(labels):
                if label in was:
                    new.weight[i] = head.weight[was[label]]
                    new.bias[i] = head.bias[was[label]]
    module.classifier = new
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    return True


# --- loss ----------------------------------------------------------------------------------------------------


def ner_loss(module: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy over the labelled tokens of the batch (IGNORE tokens and padding skipped); under
    bf16 the encoder runs in bf16, the softmax in fp32. With open targets (`batch["targets"]`, see
    `ner_features.target_sets`) a token's loss is −log of the probability of all the labels its target
    allows, which is the cross-entropy when it allows one."""
    import torch.nn.functional as F

    logits = forward(module, batch).logits.float()
    if "targets" not in batch:
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1), ignore_index=IGNORE
        )
    return open_target_loss(logits, batch["labels"], batch["targets"])


def open_target_loss(logits: Any, targets: Any, allowed: Any) -> Any:
    """Mean over tokens whose target is not IGNORE of logsumexp(all logits) − logsumexp(the allowed ones).

    Args:
        logits: (..., labels) float scores.
        targets: (...) target ids (rows of `allowed`) or IGNORE.
        allowed: (targets, labels) bool: which labels each target allows.
    """
    flat = logits.reshape(-1, logits.shape[-1])
    targets = targets.reshape(-1)
    kept = targets != IGNORE
    flat, targets = flat[kept], targets[kept]
    chosen = flat.masked_fill(~allowed[targets], float("-inf"))
    return (flat.logsumexp(-1) - chosen.logsumexp(-1)).mean()


# --- evaluation ---------------------------------------------------------------------------------------------


def predict_tags(
    tagger: EntityTagger,
    sentences: Sequence[NERSentence],
    options: NEROptions,
    on_progress: Callable[[int], None] | None = None,
) -> list[list[str]]:
    """Predicted BIO tags of each sentence's units, through `EntityTagger` (the decoder users get): its
    entities' character spans are mapped onto the units (`tags_from_entities`).

    Args:
        tagger: the model's tagger.
        sentences: the sentences to tag.
        options: how to tag (an aggregation that groups entities).
        on_progress: called with n after each chunk of n sentences.
    """
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
    ignore_types: Sequence[str] = (),
    decoding: str = "viterbi",
    data_types_only: bool = True,
) -> dict[str, Any]:
    """Entity-level precision/recall/F1 (0-100, seqeval's default mode) of a model on a dataset, over the
    dataset's units (words; characters for KLUE at char level), and `macro_f1` / `tag_macro_f1`
    (`klue_metrics`: KLUE-NER's entity F1 and character F1 when the units are KLUE's characters).

    Args:
        model: the model (or its tagger).
        dataset: the gold sentences.
        aggregation, max_length, stride: how to tag (`NEROptions`); the aggregation must group entities.
        dtype, threads: how the model runs (`EntityTagger`), when `model` is not a tagger.
        on_progress: called with n after each chunk of n sentences.
        ignore_types: entity types left out of both gold and predictions (a model that tags MISC scored on
            WikiANN, which has no MISC, with `data_types_only=False`: `ignore_types=("MISC",)`).
        decoding: "viterbi" or "argmax" (`NEROptions`).
        data_types_only: tag with the entity types the dataset annotates only (those of them the model
            knows: `NEROptions.entity_types`), as a model trained on that data would. A bilingual model
            scored on KLUE-NER then never tags MISC, which KLUE's gold does not have; a model whose types
            are the data's is unaffected.

    A type the data names differently from the model (`ner_data.TYPE_ALIASES`: KLUE's PS, LC, OG) is
    scored as the model's type when the model knows that one and not the data's name: a model that tags
    PER is scored on KLUE's PS as PER. `per_type` keeps the data's names.
    """
    if aggregation not in AGGREGATIONS or aggregation == "none":
        raise InputError(
            "evaluation needs grouped entities: aggregation must be simple, first, average or max, "
            f"got {aggregation!r}"
        )
    tagger = model if isinstance(model, EntityTagger) else EntityTagger(model, dtype=dtype, threads=threads)
    known = set(entity_types_of(tagger.labels))
    annotated = {tag[2:] for s in dataset.sentences for tag in s.tags if tag != "O"}
    aliases = {t: TYPE_ALIASES[t] for t in annotated - known if TYPE_ALIASES.get(t) in known - annotated}
    gold = [renamed_types(s.tags, aliases) for s in dataset.sentences]
    types = None
    if data_types_only:
        types = tuple(sorted({aliases.get(t, t) for t in annotated} & known)) or None
    options = NEROptions(
        aggregation=aggregation, max_length=max_length, stride=stride, decoding=decoding, entity_types=types
    )
    predicted = predict_tags(tagger, dataset.sentences, options, on_progress)
    if ignore_types:
        ignored = {aliases.get(t, t) for t in ignore_types}
        gold, predicted = (
            [["O" if t != "O" and t[2:] in ignored else t for t in tags] for tags in rows]
            for rows in (gold, predicted)
        )
    scores = entity_scores(gold, predicted)
    data_name = {model_type: data_type for data_type, model_type in aliases.items()}
    scores["per_type"] = {data_name.get(t, t): v for t, v in scores["per_type"].items()}
    # KLUE's figures (for KLUE at character level, its entity F1 and char F1)
    return scores | {
        "macro_f1": entity_macro_f1(scores),
        "tag_macro_f1": tag_macro_f1(gold, predicted),
        "entity_types": list(types) if types else None,  # what the model was held to (None: all it knows)
    }


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
) -> FitResult:
    """Fine-tune `model` (an AutoModelForTokenClassification and its tokenizer) on `sentences`.

    Args:
        model: the base model; its module is trained in place (its head replaced when its labels are not
            `labels`, see `set_labels`). A name (a directory, a Hub id, "minilm") is loaded with any new
            head seeded by `config.seed`, as `bertkit train ner --base NAME` does.
        sentences: training sentences (BIO tags).
        config: see `NERTrainConfig`.
        eval_data: evaluated after each epoch; the best epoch by F1 becomes the final model.
        labels: the label set (default: O + B-/I- of every type in the training and eval data).
        resume: continue from the latest checkpoint in `config.output_dir` (an `InputError` if there is none).
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
    check_start(model, config, resume)
    labels = list(labels) if labels is not None else data_labels(sentences, eval_data)
    threads = threads or cpu_threads()
    torch.set_num_threads(threads)
    set_labels(model, labels, config.seed)
    features = ner_train_features(
        model.tokenizer, sentences, labels, config.max_length, config.stride, config.label_all_tokens
    )
    if not len(features):
        raise InputError("the training sentences give no labelled tokens")
    job = ner_job(model, features, config, eval_data, labels, threads)
    return fit(model, job, config, resume=resume, progress=progress)


def data_labels(sentences: Sequence[NERSentence], eval_data: NERDataset | None) -> list[str]:
    """O, then B-/I- of every entity type in the training sentences and the eval data."""
    every = list(sentences) + (eval_data.sentences if eval_data is not None else [])
    return label_set(sorted({tag[2:] for s in every for tag in s.tags if tag != "O"}))


def ner_job(
    model: Model,
    features: NERFeatures,
    config: NERTrainConfig,
    eval_data: NERDataset | None,
    labels: list[str],
    threads: int,
) -> Job:
    """What `fit` needs to train `model` for NER on `features` (see `Job`); the run keeps `labels`."""

    width = config.max_length if config.pad_to_max_length else None
    pad_id = model.tokenizer.pad_token_id or 0

    def scores() -> dict[str, Any]:
        assert eval_data is not None
        dtype = "bf16" if config.bf16 else "fp32"
        found = evaluate(
            model, eval_data, config.aggregation, config.max_length, config.stride, dtype, threads=threads
        )
        return {k: found[k] for k in ("precision", "recall", "f1")}

    return Job(
        lengths=features.lengths,
        collate=lambda rows, _seed: collate(features, rows, width, pad_id),
        loss=ner_loss,
        evaluate=scores if eval_data is not None else None,
        score="f1",
        data_hash=fingerprint(features),
        settings={"labels": labels},
        summary=lambda e: f"precision {e['precision']:.2f}, recall {e['recall']:.2f}, F1 {e['f1']:.2f}",
    )
