"""Train a tokenizer on your own corpus: retrain an existing one's recipe, or build one from scratch.

Two ways in, one way out:
- `source=DIR` keeps a tokenizer's whole recipe (normaliser, pre-tokeniser, model type, special tokens,
  post-processor) and learns a new vocabulary: `train_new_from_iterator` on the fast tokenizer.
- `algorithm=` builds a recipe with `tokenizers`: `wordpiece` (BERT), `bpe` (byte-level, GPT-2/RoBERTa) or
  `unigram` (Metaspace, ALBERT/XLNet style).
Either way the result is saved with `save_pretrained` (written aside, then renamed into place) and loads with
`AutoTokenizer.from_pretrained(DIR)`.

Corpora are streamed in batches, never loaded whole: plain text (a document per line), blocks (documents
separated by blank lines, e.g. source code), JSONL (a `text` field) and SQuAD-format JSON (contexts and
questions; the one JSON document is walked article by article, so only one article is held at a time).

Reproducibility: byte-level BPE training gives the same vocabulary on every run; WordPiece and Unigram
training in `tokenizers` 0.23 do not (WordPiece breaks count ties in hash-map order,
huggingface/tokenizers#1794; Unigram's scores differ in the last float bits, which reorders some ids).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError, InputError, ModelLoadError
from .files import squad_articles

ALGORITHMS = ("wordpiece", "bpe", "unigram")
FORMATS = ("auto", "text", "blocks", "jsonl", "squad")
BYTE_ALPHABET = 256  # byte-level BPE starts from every byte

# Default special tokens, in id order, as the models each recipe imitates have them.
DEFAULT_SPECIAL_TOKENS = {
    "wordpiece": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],  # bert-base-*
    "bpe": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],  # roberta-base
    "unigram": ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"],  # albert-base-v2
}
# Lower-casing by default where the imitated model lower-cases (bert-base-uncased, albert); GPT-2 does not.
DEFAULT_LOWERCASE = {"wordpiece": True, "bpe": False, "unigram": True}
ROLES = ("unk", "pad", "cls", "sep", "mask", "bos", "eos")
# What a bare token's name says about its role: "[CLS]" → cls, "<s>" → cls and bos (RoBERTa), ...
NAMED_ROLES = {
    "unk": ("unk",),
    "pad": ("pad",),
    "cls": ("cls",),
    "sep": ("sep",),
    "mask": ("mask",),
    "bos": ("bos",),
    "eos": ("eos",),
    "s": ("cls", "bos"),
    "/s": ("sep", "eos"),
}
NEEDED_ROLES = {"wordpiece": ("unk", "cls", "sep"), "bpe": ("cls", "sep"), "unigram": ("unk", "cls", "sep")}


# --- corpora -------------------------------------------------------------------------------------------


def corpus_format(path: Path, fmt: str = "auto") -> str:
    """The format of a corpus file: `fmt` itself, or for `auto` guessed from the suffix.

    >>> corpus_format(Path("reviews.jsonl")), corpus_format(Path("train.json")), corpus_format(Path("a.txt"))
    ('jsonl', 'squad', 'text')
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown corpus format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "squad"
    return "text"


def read_texts(path: str | Path, fmt: str = "auto", field: str = "text") -> Iterator[str]:
    """Stream the texts of one corpus file (empty texts skipped).

    Args:
        path: the file.
        fmt: `auto` (by suffix: .jsonl/.ndjson → jsonl, .json → squad, else text), `text` (a document per
            line), `blocks` (documents separated by blank lines, newlines kept), `jsonl` or `squad`.
        field: the JSONL field holding the text.
    """
    path = Path(path)
    kind = corpus_format(path, fmt)
    try:
        if kind == "text":
            yield from _lines(path)
        elif kind == "blocks":
            yield from _blocks(path)
        elif kind == "jsonl":
            yield from _jsonl(path, field)
        else:
            for number, article in enumerate(squad_articles(path)):
                yield from _squad_texts(article, path, number)
    except FileNotFoundError:
        raise InputError(f"corpus file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"corpus {path} is a directory: pass its files") from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text") from None


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield line.rstrip("\r\n")


def _blocks(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        block: list[str] = []
        for line in f:
            if line.strip():
                block.append(line)
            elif block:
                yield "".join(block).rstrip("\r\n")
                block = []
        if block:
            yield "".join(block).rstrip("\r\n")


def _jsonl(path: Path, field: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path} line {number} is not JSON: {e.msg}") from None
            if not isinstance(record, dict) or field not in record:
                raise DataError(f"{path} line {number} has no field {field!r} (choose one with --field)")
            text = record[field]
            if not isinstance(text, str):
                raise DataError(f"{path} line {number}: field {field!r} is not a string")
            if text.strip():
                yield text


def _squad_texts(article: Any, path: Path, number: int) -> Iterator[str]:
    try:
        for paragraph in article["paragraphs"]:
            if paragraph["context"].strip():
                yield paragraph["context"]
            for qa in paragraph.get("qas", ()):
                if qa["question"].strip():
                    yield qa["question"]
    except (KeyError, TypeError, AttributeError):
        raise DataError(
            f"{path} article {number} is not SQuAD format (data[].paragraphs[].context/qas[].question)"
        ) from None


@dataclass
class CorpusStats:
    """What streamed past: texts, characters and the distinct characters (the alphabet)."""

    texts: int = 0
    chars: int = 0
    alphabet: set[str] = field(default_factory=set)


def iter_batches(
    paths: Sequence[str | Path],
    fmt: str = "auto",
    field: str = "text",
    batch_size: int = 1000,
    stats: CorpusStats | None = None,
) -> Iterator[list[str]]:
    """Stream the texts of several corpus files as lists of `batch_size` texts, counting into `stats`."""
    batch: list[str] = []
    for path in paths:
        for text in read_texts(path, fmt, field):
            if stats is not None:
                stats.texts += 1
                stats.chars += len(text)
                stats.alphabet.update(text)
            batch.append(text)
            if len(batch) == batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def _nonempty(batches: Iterator[list[str]], shown: str) -> Iterator[list[str]]:
    """The same batches, after checking there is a first one (so an empty corpus fails before training)."""
    first = next(batches, None)
    if first is None:
        raise InputError(f"empty corpus: {shown} holds no text")
    yield first
    yield from batches


# --- recipes ---------------------------------------------------------------------------------------------


def special_token_roles(tokens: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """The special tokens in id order, and the role each plays: `role=token` names it, else the name does.

    >>> special_token_roles(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])[1]
    {'pad': '[PAD]', 'unk': '[UNK]', 'cls': '[CLS]', 'sep': '[SEP]', 'mask': '[MASK]'}
    >>> special_token_roles(["<s>", "</s>", "<pad>", "mask=<M>", "<extra>"])
    (['<s>', '</s>', '<pad>', '<M>', '<extra>'], {'cls': '<s>', 'bos': '<s>', 'sep': '</s>', 'eos': '</s>', 'pad': '<pad>', 'mask': '<M>'})
    """
    ordered: list[str] = []
    roles: dict[str, str] = {}
    for item in tokens:
        role, sep, token = item.partition("=")
        if sep and role.strip().lower() in ROLES and token:
            roles[role.strip().lower()] = token
        else:
            token = item
            for named in NAMED_ROLES.get(item.strip("[]<>|").lower(), ()):
                roles.setdefault(named, token)
        if not token.strip():
            raise InputError("a special token cannot be empty")
        if token not in ordered:
            ordered.append(token)
    return ordered, roles


def build_recipe(
    algorithm: str,
    special_tokens: Sequence[str] | None = None,
    lowercase: bool | None = None,
    strip_accents: bool | None = None,
):
    """An untrained `tokenizers.Tokenizer` and its trainer factory for a from-scratch algorithm.

    Args:
        algorithm: `wordpiece`, `bpe` or `unigram`.
        special_tokens: in id order; `None` for the algorithm's defaults (`DEFAULT_SPECIAL_TOKENS`).
        lowercase: `None` for the algorithm's default (`DEFAULT_LOWERCASE`).
        strip_accents: `None` to follow `lowercase` (as BERT's normaliser does).

    Returns:
        `(tokenizer, make_trainer, tokens, roles)`; `make_trainer(vocab_size, show_progress)` gives the trainer;
        the post-processor is set by `finish_recipe` once the special tokens have ids.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if algorithm not in ALGORITHMS:
        raise InputError(f"unknown algorithm {algorithm!r}: use one of {', '.join(ALGORITHMS)}")
    tokens, roles = special_token_roles(special_tokens or DEFAULT_SPECIAL_TOKENS[algorithm])
    missing = [r for r in NEEDED_ROLES[algorithm] if r not in roles]
    if missing:
        raise InputError(
            f"{algorithm} needs special tokens for {', '.join(missing)}: name them like [UNK]/[CLS]/[SEP] "
            f"or say role=token (e.g. cls=<s>); the default is {' '.join(DEFAULT_SPECIAL_TOKENS[algorithm])}"
        )
    if algorithm == "bpe":  # RoBERTa: <s> opens and </s> closes a sequence
        roles.setdefault("bos", roles["cls"])
        roles.setdefault("eos", roles["sep"])
    lowercase = DEFAULT_LOWERCASE[algorithm] if lowercase is None else lowercase
    strip_accents = lowercase if strip_accents is None else strip_accents
    # Accents off by decomposing, dropping the marks and recomposing: Hangul syllables come back whole.
    unaccent = [normalizers.NFD(), normalizers.StripAccents(), normalizers.NFC()] if strip_accents else []
    lower = [normalizers.Lowercase()] if lowercase else []

    if algorithm == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=roles["unk"], continuing_subword_prefix="##"))
        tokenizer.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=lowercase
        )
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece(prefix="##")

        def make_trainer(vocab_size: int, show_progress: bool):
            return trainers.WordPieceTrainer(
                vocab_size=vocab_size,
                special_tokens=tokens,
                continuing_subword_prefix="##",
                show_progress=show_progress,
            )

    elif algorithm == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=roles.get("unk")))
        if unaccent or lower:
            tokenizer.normalizer = normalizers.Sequence(unaccent + lower)
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()

        def make_trainer(vocab_size: int, show_progress: bool):
            return trainers.BpeTrainer(
                vocab_size=vocab_size,
                special_tokens=tokens,
                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                show_progress=show_progress,
            )

    else:
        tokenizer = Tokenizer(models.Unigram())
        # ALBERT's recipe, but NFKC (sentencepiece's nmt_nfkc) where ALBERT strips accents after NFKD,
        # which leaves Hangul as loose jamo.
        tokenizer.normalizer = normalizers.Sequence(
            [normalizers.Replace("``", '"'), normalizers.Replace("''", '"'), normalizers.NFKC()]
            + unaccent
            + lower
        )
        # Split on whitespace first, so that "▁word" has the offsets of "word", not of " word".
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.WhitespaceSplit(),
                pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
            ]
        )
        tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")

        def make_trainer(vocab_size: int, show_progress: bool):
            return trainers.UnigramTrainer(
                vocab_size=vocab_size,
                special_tokens=tokens,
                unk_token=roles["unk"],
                show_progress=show_progress,
            )

    return tokenizer, make_trainer, tokens, roles


def finish_recipe(tokenizer, algorithm: str, roles: dict[str, str]) -> None:
    """Set the post-processor, which needs the special tokens' ids (known only after training).

    wordpiece/unigram: `[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]` with type ids 0…0 1…1 (BERT, ALBERT);
    bpe: `<s> A </s>` and `<s> A </s></s> B </s>` (RoBERTa, no type ids).
    """
    from tokenizers import processors

    cls, sep = roles["cls"], roles["sep"]
    ids = {cls: tokenizer.token_to_id(cls), sep: tokenizer.token_to_id(sep)}
    if algorithm == "bpe":
        tokenizer.post_processor = processors.RobertaProcessing(
            (sep, ids[sep]), (cls, ids[cls]), trim_offsets=True, add_prefix_space=False
        )
    else:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0",
            pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
            special_tokens=list(ids.items()),
        )


def wrap(tokenizer, algorithm: str, roles: dict[str, str], tokens: Sequence[str]):
    """A transformers tokenizer around a trained `tokenizers.Tokenizer`, its special tokens named."""
    from transformers import PreTrainedTokenizerFast

    named = {f"{role}_token": token for role, token in roles.items()}
    extra = [t for t in tokens if t not in roles.values()]
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_input_names=(
            ["input_ids", "attention_mask"]
            if algorithm == "bpe"
            else ["input_ids", "token_type_ids", "attention_mask"]
        ),
        clean_up_tokenization_spaces=False,
        **named,
        **({"extra_special_tokens": extra} if extra else {}),
    )


def load_source_tokenizer(source: str | Path):
    """The fast tokenizer whose recipe is retrained.

    A directory holding only `vocab.json` + `merges.txt` (GPT-2 as OpenAI published it) has no file that
    tells `AutoTokenizer` which class to build, and transformers 5 then fails; such a pair is GPT-2's
    byte-level BPE, so it is read with `GPT2Tokenizer`.
    """
    from .loading import load_tokenizer

    path = Path(source).expanduser()
    try:
        return load_tokenizer(str(path) if path.is_dir() else str(source))
    except ModelLoadError:
        bare_gpt2 = (
            path.is_dir()
            and (path / "vocab.json").is_file()
            and (path / "merges.txt").is_file()
            and not (path / "tokenizer.json").exists()
            and not (path / "tokenizer_config.json").exists()
        )
        if not bare_gpt2:
            raise
    from transformers import GPT2Tokenizer

    try:
        return GPT2Tokenizer.from_pretrained(str(path))
    except Exception as e:
        raise ModelLoadError(f"cannot load tokenizer from {source}: {' '.join(str(e).split())[:200]}") from e


def recipe_summary(tokenizer) -> dict[str, Any]:
    """The parts of a fast tokenizer's recipe, by type: what `--from` keeps."""
    backend = tokenizer.backend_tokenizer

    def kind(part: Any) -> str | None:
        return None if part is None else type(part).__name__

    return {
        "model": type(backend.model).__name__,
        "normalizer": kind(backend.normalizer),
        "pre_tokenizer": kind(backend.pre_tokenizer),
        "post_processor": kind(backend.post_processor),
        "decoder": kind(backend.decoder),
    }


# --- training ------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """A trained tokenizer and how it came to be.

    Args:
        tokenizer: the transformers tokenizer, as saved.
        output: the directory written.
        vocab_size: the size of the vocabulary learnt (special tokens included).
        recipe: `from DIR` or the algorithm name; `parts` lists the recipe's parts by type.
        texts, chars: what the corpus held.
        seconds: training time.
        original: with `source`, the tokenizer retrained (for comparisons).
    """

    tokenizer: Any
    output: Path
    vocab_size: int
    recipe: str
    parts: dict[str, Any]
    texts: int
    chars: int
    seconds: float
    original: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "vocab_size": self.vocab_size,
            "recipe": self.recipe,
            "parts": self.parts,
            "texts": self.texts,
            "chars": self.chars,
            "seconds": round(self.seconds, 3),
        }


def train_tokenizer(
    corpus: Sequence[str | Path],
    output: str | Path,
    vocab_size: int,
    source: str | Path | None = None,
    algorithm: str | None = None,
    special_tokens: Sequence[str] | None = None,
    lowercase: bool | None = None,
    strip_accents: bool | None = None,
    fmt: str = "auto",
    field: str = "text",
    batch_size: int = 1000,
    show_progress: bool = False,
) -> TrainResult:
    """Train a tokenizer on `corpus` and save it to `output` (a new or empty directory).

    Args:
        corpus: corpus files (see `read_texts` for formats), streamed.
        output: directory to write; it must not exist or be empty, and appears only once complete.
        vocab_size: the vocabulary's size, special tokens included.
        source: a tokenizer directory (or Hub id when online) whose recipe is kept; or
        algorithm: `wordpiece`, `bpe` or `unigram`, from scratch (exactly one of the two).
        special_tokens, lowercase, strip_accents: the from-scratch recipe (see `build_recipe`).
        fmt, field: corpus format and JSONL field (see `read_texts`).
        batch_size: texts per batch handed to the trainer.
        show_progress: let `tokenizers` draw its progress bar (stderr).
    """
    if (source is None) == (algorithm is None):
        raise InputError("give exactly one of --from (retrain a tokenizer) and --algorithm (build one)")
    if source is not None and (special_tokens or lowercase is not None or strip_accents is not None):
        raise InputError(
            "--special-tokens, --lowercase and --strip-accents shape a new recipe: --from keeps the "
            "tokenizer's own (use --algorithm to choose them)"
        )
    paths = [Path(p) for p in corpus]
    if not paths:
        raise InputError("no corpus files given")
    for path in paths:
        if not path.exists():
            raise InputError(f"corpus file not found: {path}")
        if path.is_dir():
            raise InputError(f"corpus {path} is a directory: pass its files")
    corpus_format(paths[0], fmt)  # an unknown format fails before anything is read
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InputError(f"output {output} already exists and is not empty")
    if vocab_size < 1:
        raise InputError("--vocab-size must be positive")

    from .loading import quiet_transformers

    quiet_transformers()
    stats = CorpusStats()
    shown = " ".join(str(p) for p in corpus)
    batches = _nonempty(iter_batches(corpus, fmt, field, batch_size, stats), shown)
    started = time.perf_counter()
    original = None
    if source is not None:
        original = load_source_tokenizer(source)
        specials = len(original.all_special_tokens)
        _check_room(vocab_size, specials, byte_level=_is_byte_level(original))
        tokenizer = original.train_new_from_iterator(batches, vocab_size, show_progress=show_progress)
        recipe = f"from {source}"
    else:
        assert algorithm is not None
        backend, make_trainer, tokens, roles = build_recipe(
            algorithm, special_tokens, lowercase, strip_accents
        )
        _check_room(vocab_size, len(tokens), byte_level=algorithm == "bpe")
        try:
            backend.train_from_iterator(batches, trainer=make_trainer(vocab_size, show_progress))
        except Exception as e:
            if "not large enough" in str(e):  # the Unigram trainer keeps every character
                raise _too_small(vocab_size, len(tokens), stats) from None
            raise
        finish_recipe(backend, algorithm, roles)
        tokenizer = wrap(backend, algorithm, roles, tokens)
        recipe = algorithm
    seconds = time.perf_counter() - started
    learnt = len(tokenizer)
    if learnt > vocab_size:  # BPE and WordPiece keep the whole alphabet whatever vocab_size says
        raise _too_small(vocab_size, len(tokenizer.all_special_tokens), stats, learnt)
    save_atomically(tokenizer, output)
    return TrainResult(
        tokenizer=tokenizer,
        output=output,
        vocab_size=learnt,
        recipe=recipe,
        parts=recipe_summary(tokenizer),
        texts=stats.texts,
        chars=stats.chars,
        seconds=seconds,
        original=original,
    )


def _is_byte_level(tokenizer) -> bool:
    """True when the pre-tokeniser (or one in a sequence of them) works on bytes: every byte is in the alphabet."""
    return "ByteLevel(" in repr(tokenizer.backend_tokenizer.pre_tokenizer)


def _check_room(vocab_size: int, specials: int, byte_level: bool) -> None:
    """Fail before training when the special tokens (and for byte-level BPE the 256 bytes) do not fit."""
    floor = specials + (BYTE_ALPHABET if byte_level else 0)
    if vocab_size <= floor:
        what = f"{specials} special tokens" + (f" + {BYTE_ALPHABET} bytes" if byte_level else "")
        raise InputError(
            f"--vocab-size {vocab_size} is too small: {what} leave no room to learn (use > {floor})"
        )


def _too_small(vocab_size: int, specials: int, stats: CorpusStats, learnt: int | None = None) -> InputError:
    got = f"; the trainer kept {learnt} entries" if learnt else ""
    return InputError(
        f"--vocab-size {vocab_size} is too small for the corpus alphabet: it has {len(stats.alphabet)} "
        f"distinct characters (plus {specials} special tokens){got}; use a larger --vocab-size"
    )


def save_atomically(tokenizer, output: str | Path) -> Path:
    """`save_pretrained` into a staging directory beside `output`, then rename it into place."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        tokenizer.save_pretrained(str(staging))
        if output.exists():
            output.rmdir()  # empty: checked before training
        os.replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output


# --- comparison ----------------------------------------------------------------------------------------


def tokenization_stats(tokenizer, batches: Iterable[list[str]]) -> dict[str, Any]:
    """Tokens per whitespace word and the share of unknown tokens, special tokens not counted.

    Returns:
        `{tokens_per_word, unk_rate, tokens, words, texts}`.
    """
    backend = tokenizer.backend_tokenizer
    unk_id = tokenizer.unk_token_id
    texts = words = tokens = unknown = 0
    for batch in batches:
        for text, encoding in zip(batch, backend.encode_batch(batch, add_special_tokens=False), strict=True):
            texts += 1
            words += len(text.split())
            tokens += len(encoding.ids)
            if unk_id is not None:
                unknown += encoding.ids.count(unk_id)
    return {
        "tokens_per_word": round(tokens / words, 4) if words else None,
        "unk_rate": round(unknown / tokens, 5) if tokens else None,
        "tokens": tokens,
        "words": words,
        "texts": texts,
    }


def compare(
    held_out: str | Path,
    new,
    old=None,
    fmt: str = "auto",
    field: str = "text",
    batch_size: int = 1000,
) -> dict[str, Any]:
    """`{"old": stats | None, "new": stats}` over a held-out file (see `tokenization_stats`)."""
    path = Path(held_out)
    if not path.is_file():
        raise InputError(f"held-out file not found: {path}")

    def stats(tokenizer) -> dict[str, Any]:
        return tokenization_stats(
            tokenizer, _nonempty(iter_batches([path], fmt, field, batch_size), str(path))
        )

    return {"old": None if old is None else stats(old), "new": stats(new)}
