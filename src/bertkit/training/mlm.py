"""Masked-LM (+ next-sentence) training: continued pre-training on a domain corpus, or a small model from
scratch with a trained tokenizer.

Read top to bottom: configuration → rows (documents → sentences → token rows) → masking → loss →
evaluation → `train` (the shared loop, `training/fit.py`).

Rows are built as BERT's `create_pretraining_data.py` builds them. A document (a line of a text file, a
JSONL record, a SQuAD paragraph) is split into sentences; sentences are packed into rows of at most
`max_length` tokens. With `nsp`, each row is a pair `[CLS] A [SEP] B [SEP]`: A is the first sentences of a
chunk, B the rest of the chunk (label 0, IsNext) or, half of the time, sentences of another document (label
1, NotNext); a chunk of one sentence always gets a random B:

    document   s1 s2 s3 s4                 chunk s1 s2 s3, split after s1
    IsNext     [CLS] s1 [SEP] s2 s3 [SEP]  NotNext  [CLS] s1 [SEP] t7 t8 [SEP]  (s2 s3 go back to the pool)

Masking is BERT's: 15 % of the tokens (or of the words, with `whole_word_mask`) are chosen; of those 80 %
become [MASK], 10 % a random token, 10 % stay; the loss is over the chosen tokens. Masks are drawn afresh
for every batch, from a seed fixed per (seed, epoch, batch), so a resumed run draws the same masks.
Evaluation masks the held-out rows with one fixed seed: the same positions for every epoch and model.

The corpus is read as a stream (`corpus.read_texts`) and kept as int32 token ids.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..loading import Model, quiet_transformers
from ..runtime import cpu_threads, pad
from .fit import FitResult, Job, LoopConfig, check_start, fit

IGNORE = -100  # the label the loss skips
IS_NEXT, NOT_NEXT = 0, 1  # BERT's NSP labels
# A sentence ends at . ! ? (also the full-width and CJK ones) followed by white space.
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+(?=\S)")


@dataclass
class MLMTrainConfig(LoopConfig):
    """How to train: `LoopConfig`'s settings (`freeze_embeddings` also keeps the output layer tied to the
    word embeddings), and

    Args:
        max_length: tokens per row, special tokens included.
        mask_prob: fraction of tokens (or words) chosen for prediction.
        whole_word_mask: choose whole words (all their sub-tokens together) instead of tokens.
        nsp: build sentence pairs and train the next-sentence head too (a BERT pre-training model).
    """

    output_dir: str = "runs/mlm"
    epochs: int = 3
    lr: float = 1e-4
    batch_size: int = 32
    warmup_ratio: float = 0.06
    max_length: int = 128
    mask_prob: float = 0.15
    whole_word_mask: bool = False
    nsp: bool = False

    def check(self) -> None:
        """Raise `InputError` for settings that cannot work."""
        super().check()
        if not 0.0 < self.mask_prob < 1.0:
            raise InputError(f"mask_prob must be between 0 and 1, got {self.mask_prob}")
        if self.max_length < 8:
            raise InputError(f"max_length must be at least 8, got {self.max_length}")


# --- rows ---------------------------------------------------------------------------------------------------


def split_sentences(text: str) -> list[str]:
    """Sentences of a text: cut after . ! ? (and 。！？) followed by white space.

    >>> split_sentences("He came. She left! Did it rain? 비가 왔다. 끝")
    ['He came.', 'She left!', 'Did it rain?', '비가 왔다.', '끝']
    """
    return [s for s in (part.strip() for part in SENTENCE_END.split(text)) if s]


def held_out(texts: Iterable[str], every: int) -> tuple[list[str], list[str]]:
    """(training, held-out) documents: every `every`-th document is held out (0: none).

    >>> held_out(["a", "b", "c", "d"], 2)
    (['a', 'c'], ['b', 'd'])
    """
    train: list[str] = []
    held: list[str] = []
    for i, text in enumerate(texts):
        (held if every and i % every == every - 1 else train).append(text)
    return train, held


@dataclass
class PretrainingRows:
    """Model inputs for masked-LM training: one entry per row.

    Args:
        input_ids: token ids with the special tokens.
        token_type_ids: 0 for the first segment, 1 for the second (all 0 without NSP).
        word_starts: True where a token begins a word (whole-word masking groups the rest with it).
        maskable: True where a token may be chosen (not a special token).
        next_labels: per row IS_NEXT / NOT_NEXT (IGNORE without NSP).
    """

    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray]
    word_starts: list[np.ndarray]
    maskable: list[np.ndarray]
    next_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.asarray([len(ids) for ids in self.input_ids], dtype=np.int64)


Sentence = tuple[np.ndarray, np.ndarray]  # (token ids, word starts)


def tokenize_documents(tokenizer: Any, texts: Iterable[str], chunk: int = 512) -> Iterator[list[Sentence]]:
    """Each document as its sentences' (token ids, word starts), tokenized `chunk` documents at a time."""
    batch: list[str] = []

    def flush() -> Iterator[list[Sentence]]:
        sentences = [split_sentences(t) for t in batch]
        flat = [s for doc in sentences for s in doc]
        encoded = tokenizer(flat, add_special_tokens=False) if flat else None
        k = 0
        for doc in sentences:
            out: list[Sentence] = []
            for _ in doc:
                ids = np.asarray(encoded["input_ids"][k], dtype=np.int32)  # type: ignore[index]
                words = encoded.word_ids(k)  # type: ignore[union-attr]
                starts = np.asarray([i == 0 or words[i] != words[i - 1] for i in range(len(words))], bool)
                k += 1
                if len(ids):
                    out.append((ids, starts))
            if out:
                yield out

    for text in texts:
        batch.append(text)
        if len(batch) == chunk:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def pretraining_rows(
    tokenizer: Any, texts: Iterable[str], max_length: int = 128, nsp: bool = False, seed: int = 0
) -> PretrainingRows:
    """Token rows of the documents `texts` (see the module docstring for how pairs are made)."""
    documents = list(tokenize_documents(tokenizer, texts))
    if not documents:
        raise InputError("the corpus holds no text")
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    if cls is None or sep is None:
        raise InputError(
            "the tokenizer has no CLS/SEP tokens: masked-LM training needs a BERT-style tokenizer"
        )
    rows = PretrainingRows([], [], [], [])
    labels: list[int] = []

    def add(a: list[Sentence], b: list[Sentence] | None, label: int) -> None:
        ids_a, starts_a = join(a)
        parts = [np.asarray([cls], np.int32), ids_a, np.asarray([sep], np.int32)]
        starts = [np.ones(1, bool), starts_a, np.ones(1, bool)]
        types = [np.zeros(len(ids_a) + 2, np.int32)]
        if b is not None:
            ids_b, starts_b = join(b)
            parts += [ids_b, np.asarray([sep], np.int32)]
            starts += [starts_b, np.ones(1, bool)]
            types.append(np.ones(len(ids_b) + 1, np.int32))
        ids = np.concatenate(parts)
        rows.input_ids.append(ids)
        rows.token_type_ids.append(np.concatenate(types))
        rows.word_starts.append(np.concatenate(starts))
        rows.maskable.append((ids != cls) & (ids != sep))
        labels.append(label)

    if not nsp:
        room = max_length - 2
        for doc in documents:
            ids, starts = join(doc)
            for first in range(0, len(ids), room):
                add([(ids[first : first + room], starts[first : first + room])], None, IGNORE)
    else:
        rng = random.Random(seed)
        for d, doc in enumerate(documents):
            for a, b, label in sentence_pairs(doc, d, documents, max_length - 3, rng):
                add(a, b, label)
    rows.next_labels = np.asarray(labels, dtype=np.int64)
    return rows


def join(sentences: list[Sentence]) -> Sentence:
    """One (ids, starts) of several sentences."""
    return np.concatenate([s[0] for s in sentences]), np.concatenate([s[1] for s in sentences])


def sentence_pairs(
    doc: list[Sentence], d: int, documents: list[list[Sentence]], room: int, rng: random.Random
) -> Iterator[tuple[list[Sentence], list[Sentence], int]]:
    """(A, B, label) pairs of one document, as BERT makes them; the pair is cut to `room` tokens."""
    current: list[Sentence] = []
    size, j = 0, 0
    while j < len(doc):
        current.append(doc[j])
        size += len(doc[j][0])
        if j == len(doc) - 1 or size >= room:
            a_end = 1 if len(current) < 2 else rng.randint(1, len(current) - 1)
            a = current[:a_end]
            if (len(current) == 1 or rng.random() < 0.5) and len(documents) > 1:
                label = NOT_NEXT
                other = rng.randrange(len(documents) - 1)
                other_doc = documents[other + (other >= d)]
                start = rng.randrange(len(other_doc))
                want = room - sum(len(s[0]) for s in a)
                b: list[Sentence] = []
                for sentence in other_doc[start:]:
                    b.append(sentence)
                    if sum(len(s[0]) for s in b) >= want:
                        break
                j -= len(current) - a_end  # the unused sentences go back to the pool
            else:
                label, b = IS_NEXT, current[a_end:]
            if b:
                yield cut_pair(a, b, room) + (label,)
            current, size = [], 0
        j += 1


def cut_pair(a: list[Sentence], b: list[Sentence], room: int) -> tuple[list[Sentence], list[Sentence]]:
    """Trim the longer side's end until the pair fits in `room` tokens (BERT's `truncate_seq_pair`).

    >>> s = lambda n: (np.arange(n), np.ones(n, bool))
    >>> [len(join(x)[0]) for x in cut_pair([s(7)], [s(3)], 6)]
    [3, 3]
    """
    ids_a, starts_a = join(a)
    ids_b, starts_b = join(b)
    while len(ids_a) + len(ids_b) > room:
        if len(ids_a) > len(ids_b):
            ids_a, starts_a = ids_a[:-1], starts_a[:-1]
        else:
            ids_b, starts_b = ids_b[:-1], starts_b[:-1]
    return [(ids_a, starts_a)], [(ids_b, starts_b)]


def fingerprint(rows: PretrainingRows) -> str:
    """A hash of the rows: a resumed run must see the same data."""
    digest = hashlib.sha256()
    for ids, types in zip(rows.input_ids, rows.token_type_ids, strict=True):
        digest.update(ids.tobytes() + types.tobytes())
    digest.update(rows.next_labels.tobytes())
    return digest.hexdigest()[:16]


# --- masking ------------------------------------------------------------------------------------------------


def choose_tokens(
    maskable: np.ndarray, word_starts: np.ndarray, prob: float, whole_words: bool, rng: np.random.Generator
) -> np.ndarray:
    """Which tokens of a [rows, width] batch are to be predicted (never a special token or padding).

    With `whole_words`, a word is chosen with probability `prob` and all its tokens with it.

    >>> m = np.array([[False, True, True, True, False]]); w = np.array([[True, True, False, True, True]])
    >>> choose_tokens(m, w, 0.999, True, np.random.default_rng(0)).astype(int).tolist()
    [[0, 1, 1, 1, 0]]
    """
    if not whole_words:
        return (rng.random(maskable.shape) < prob) & maskable
    word = np.cumsum(word_starts, axis=1)  # word number of each token within its row
    chosen_word = rng.random(word.shape) < prob  # one draw per word (at the word's number)
    return np.take_along_axis(chosen_word, word - 1, axis=1) & maskable


def mask_batch(
    ids: np.ndarray,
    chosen: np.ndarray,
    mask_id: int,
    vocab_size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, labels): chosen tokens become [MASK] (80 %), a random token (10 %) or stay (10 %); labels
    are the original ids there and IGNORE elsewhere."""
    labels = np.where(chosen, ids, IGNORE)
    draw = rng.random(ids.shape)
    inputs = ids.copy()
    inputs[chosen & (draw < 0.8)] = mask_id
    random_tokens = chosen & (draw >= 0.8) & (draw < 0.9)
    inputs[random_tokens] = rng.integers(vocab_size, size=int(random_tokens.sum()))
    return inputs, labels


def collate(
    rows: PretrainingRows, indices: np.ndarray, seed: int, config: MLMTrainConfig, mask_id: int, vocab: int
) -> dict[str, Any]:
    """The tensors of one batch: padded rows, masked inputs, labels (and NSP labels)."""
    import torch

    lengths = [len(rows.input_ids[i]) for i in indices]
    width = max(lengths)
    ids = pad([rows.input_ids[i] for i in indices], width, 0)
    maskable = pad([rows.maskable[i] for i in indices], width, 0).astype(bool)
    starts = pad([rows.word_starts[i] for i in indices], width, 1).astype(bool)
    rng = np.random.default_rng(seed)
    chosen = choose_tokens(maskable, starts, config.mask_prob, config.whole_word_mask, rng)
    if not chosen.any():  # a batch must predict something
        r = int(np.flatnonzero(maskable.any(axis=1))[0]) if maskable.any() else 0
        chosen[r, int(np.flatnonzero(maskable[r])[0]) if maskable[r].any() else 0] = True
    inputs, labels = mask_batch(ids, chosen, mask_id, vocab, rng)  # padding is never chosen
    return {
        "input_ids": torch.from_numpy(inputs),
        "attention_mask": torch.from_numpy(pad([np.ones(n, np.int64) for n in lengths], width, 0)),
        "token_type_ids": torch.from_numpy(pad([rows.token_type_ids[i] for i in indices], width, 0)),
        "labels": torch.from_numpy(labels),
        "next_sentence_label": torch.from_numpy(rows.next_labels[indices]),
    }


# --- loss ---------------------------------------------------------------------------------------------------


def head_outputs(module: Any, batch: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(masked-LM logits at the labelled positions [n, vocab], their labels [n], NSP logits or None).

    For BERT-family models (a `cls.predictions` head) the vocabulary projection runs only at the labelled
    positions (about 15 % of the tokens), which halves the cost of a step; other models go through their
    full forward pass.
    """
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    labels = batch["labels"]
    where = labels != IGNORE
    head = getattr(module, "cls", None)
    if head is None or not hasattr(head, "predictions"):
        out = module(**inputs)
        logits = out.logits if hasattr(out, "logits") else out.prediction_logits
        nsp = getattr(out, "seq_relationship_logits", None)
        return logits[where], labels[where], nsp
    encoded = module.bert(**inputs)
    logits = head.predictions(encoded.last_hidden_state[where])
    nsp = None
    if hasattr(head, "seq_relationship") and encoded.pooler_output is not None:
        nsp = head.seq_relationship(encoded.pooler_output)
    return logits, labels[where], nsp


def pretraining_loss(module: Any, batch: dict[str, Any]) -> Any:
    """Masked-LM cross-entropy over the labelled tokens, plus NSP cross-entropy where rows have labels."""
    import torch.nn.functional as F

    logits, labels, nsp = head_outputs(module, batch)
    loss = F.cross_entropy(logits.float(), labels)
    next_labels = batch["next_sentence_label"]
    if nsp is not None and bool((next_labels != IGNORE).any()):
        loss = loss + F.cross_entropy(nsp.float(), next_labels, ignore_index=IGNORE)
    return loss


# --- evaluation ---------------------------------------------------------------------------------------------

EVAL_SEED = 1234  # held-out rows are masked the same way for every epoch and every model


def evaluate(
    model: Model,
    rows: PretrainingRows,
    config: MLMTrainConfig | None = None,
    batch_size: int = 64,
    threads: int | None = None,
) -> dict[str, Any]:
    """Held-out masked-token accuracy (top-1, top-5, in %), perplexity (exp of the mean cross-entropy over
    the masked tokens) and, with NSP labels, next-sentence accuracy (%)."""
    import torch

    config = config or MLMTrainConfig()
    if not len(rows):
        raise InputError("no held-out rows to evaluate")
    if threads:
        torch.set_num_threads(threads)
    module, tokenizer = model.module, model.tokenizer
    mask_id, vocab = tokenizer.mask_token_id, module.config.vocab_size
    order = np.argsort(rows.lengths, kind="stable")
    top1 = top5 = n = 0
    nll = 0.0
    nsp_right = nsp_n = 0
    was_training = module.training
    module.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
        for b, first in enumerate(range(0, len(order), batch_size)):
            batch = collate(rows, order[first : first + batch_size], EVAL_SEED + b, config, mask_id, vocab)
            logits, labels, nsp = head_outputs(module, batch)
            logits = logits.float()
            nll += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
            best = logits.topk(5, dim=-1).indices
            top1 += int((best[:, 0] == labels).sum())
            top5 += int((best == labels[:, None]).any(dim=1).sum())
            n += len(labels)
            nl = batch["next_sentence_label"]
            if nsp is not None and bool((nl != IGNORE).any()):
                keep = nl != IGNORE
                nsp_right += int((nsp.float().argmax(-1)[keep] == nl[keep]).sum())
                nsp_n += int(keep.sum())
    module.train(was_training)
    scores: dict[str, Any] = {
        "masked_accuracy": 100.0 * top1 / n,
        "top5_accuracy": 100.0 * top5 / n,
        "perplexity": math.exp(nll / n),
        "masked_tokens": n,
    }
    if nsp_n:
        scores.update(nsp_accuracy=100.0 * nsp_right / nsp_n, nsp_pairs=nsp_n)
    return scores


def describe(scores: dict[str, Any]) -> str:
    """One line of scores for a person."""
    line = (
        f"masked top-1 {scores['masked_accuracy']:.2f} %, top-5 {scores['top5_accuracy']:.2f} %, "
        f"perplexity {scores['perplexity']:.2f}"
    )
    return line + (f", NSP {scores['nsp_accuracy']:.2f} %" if "nsp_accuracy" in scores else "")


# --- training -----------------------------------------------------------------------------------------------


def train(
    model: Model,
    texts: Iterable[str],
    config: MLMTrainConfig,
    eval_texts: Iterable[str] | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    threads: int | None = None,
) -> FitResult:
    """Train `model` (an AutoModelForMaskedLM, or AutoModelForPreTraining with `config.nsp`) on documents.

    Args:
        model: the model to train in place (`bertkit.load(base, "mlm" | "pretraining")`, or a new one).
        texts: the training documents (a stream is fine: it is read once).
        config: see `MLMTrainConfig`.
        eval_texts: held-out documents, scored after each epoch; the best epoch by masked-token accuracy
            becomes the final model.
        resume: continue from the latest checkpoint in `config.output_dir`.
        progress: show a progress bar on stderr.
        threads: torch threads (default: the usable cores).
    """
    import torch

    config.check()
    quiet_transformers()
    module, tokenizer = model.module, model.tokenizer
    if tokenizer.mask_token_id is None:
        raise InputError("the tokenizer has no mask token: masked-LM training needs one")
    if config.nsp and not hasattr(getattr(module, "cls", None), "seq_relationship"):
        raise InputError(
            f"{type(module).__name__} has no next-sentence head: load the base for 'pretraining' to train NSP"
        )
    check_start(model, config, resume)
    threads = threads or cpu_threads()
    torch.set_num_threads(threads)
    rows = pretraining_rows(tokenizer, texts, config.max_length, config.nsp, config.seed)
    eval_rows = None
    if eval_texts is not None:
        eval_rows = pretraining_rows(tokenizer, eval_texts, config.max_length, config.nsp, config.seed + 1)
    if config.freeze_embeddings:
        module.get_input_embeddings().weight.requires_grad_(False)
    mask_id, vocab = tokenizer.mask_token_id, module.config.vocab_size
    job = Job(
        lengths=rows.lengths,
        collate=lambda indices, seed: collate(rows, indices, seed, config, mask_id, vocab),
        loss=pretraining_loss,
        evaluate=(lambda: evaluate(model, eval_rows, config, threads=threads)) if eval_rows else None,
        score="masked_accuracy",
        data_hash=fingerprint(rows),
        summary=describe,
    )
    return fit(model, job, config, resume=resume, progress=progress)


def new_model(config_file: str | Path, tokenizer_dir: str | Path | None, nsp: bool, seed: int = 0) -> Model:
    """A new, randomly initialised (seeded) model from a config.json, sized to a tokenizer's vocabulary:
    pre-training from scratch.

    Args:
        config_file: a transformers config JSON (`model_type` defaults to "bert"); `vocab_size` is set from
            the tokenizer.
        tokenizer_dir: the tokenizer (e.g. from `bertkit train-tokenizer`); None: the embedded MiniLM's.
        nsp: build the pre-training model (masked-LM + next-sentence heads) instead of masked-LM only.
    """
    import json

    import torch
    import transformers

    from ..loading import load_tokenizer

    try:
        settings = json.loads(Path(config_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read the model config {config_file}: {e}") from None
    if not isinstance(settings, dict):
        raise InputError(f"{config_file} is not a JSON object of model settings")
    tokenizer = load_tokenizer(None if tokenizer_dir is None else str(tokenizer_dir))
    settings = {k: v for k, v in settings.items() if k not in ("architectures", "transformers_version")}
    model_type = settings.pop("model_type", "bert")
    settings["vocab_size"] = len(tokenizer)
    settings.setdefault("pad_token_id", tokenizer.pad_token_id or 0)
    try:
        config = transformers.AutoConfig.for_model(model_type, **settings)
    except (ValueError, TypeError) as e:
        raise InputError(f"{config_file}: {e}") from None
    auto = transformers.AutoModelForPreTraining if nsp else transformers.AutoModelForMaskedLM
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = auto.from_config(config)
    return Model(tokenizer=tokenizer, module=module.eval(), name=str(config_file), source="new")
