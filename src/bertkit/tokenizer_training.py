"""Train a tokenizer on your own corpus: retrain an existing one's recipe, or build one from scratch.

Two ways in, one way out:
- `source=DIR` keeps a tokenizer's whole recipe (normaliser, pre-tokeniser, model type, special tokens,
  post-processor) and learns a new vocabulary: `train_new_from_iterator` on the fast tokenizer.
- `algorithm=` builds a recipe with `tokenizers` (see `tokenizer_recipes`): `wordpiece` (BERT), `bpe`
  (byte-level, GPT-2/RoBERTa) or `unigram` (Metaspace, ALBERT/XLNet style).
Either way the result is saved with `save_pretrained` (written aside, then renamed into place) and loads with
`AutoTokenizer.from_pretrained(DIR)`; `compare` measures old and new on a held-out file.

Corpora are streamed in batches, never loaded whole (see `corpus` for the formats).

Reproducibility: byte-level BPE training gives the same vocabulary on every run; WordPiece and Unigram
training in `tokenizers` 0.23 do not (WordPiece breaks count ties in hash-map order,
huggingface/tokenizers#1794; Unigram's scores differ in the last float bits, which reorders some ids).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checks import require_count
from .corpus import CorpusStats, corpus_format, iter_batches, nonempty_batches
from .errors import InputError, ModelLoadError
from .files import check_writable, require_file, write_dir_atomically
from .tokenizer_recipes import Recipe, build_recipe, finish_recipe, recipe_summary

BYTE_ALPHABET = 256  # byte-level BPE starts from every byte
# The largest vocabulary trained: the trainers allocate for the size asked before they read a word (10**9
# made `tokenizers` abort, asking for 70 GB), and the largest real vocabularies are ~256k.
MAX_VOCAB_SIZE = 1_000_000


@dataclass
class TrainedTokenizer:
    """A trained tokenizer and how it came to be.

    Args:
        tokenizer: the transformers tokenizer, as saved.
        output: the directory written.
        vocab_size: the size of the vocabulary learnt (special tokens included).
        recipe: `from DIR` or the algorithm name; `parts` lists the recipe's parts by type.
        texts, chars: what the corpus held.
        seconds: training time.
        original: with `source`, the tokenizer retrained (for comparisons).
        notes: what a user should know (a vocabulary smaller than asked for).
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
    notes: list[str] = field(default_factory=list)

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
) -> TrainedTokenizer:
    """Train a tokenizer on `corpus` and save it to `output` (a new or empty directory).

    Args:
        corpus: corpus files (see `corpus.read_texts` for formats), streamed.
        output: directory to write; it must not exist or be empty, and appears only once complete.
        vocab_size: the vocabulary's size, special tokens included.
        source: a tokenizer directory (or Hub id when online) whose recipe is kept; or
        algorithm: `wordpiece`, `bpe` or `unigram`, from scratch (exactly one of the two).
        special_tokens, lowercase, strip_accents: the from-scratch recipe (see
            `tokenizer_recipes.build_recipe`).
        fmt, field: corpus format and JSONL field (see `corpus.read_texts`).
        batch_size: texts per batch handed to the trainer.
        show_progress: let `tokenizers` draw its progress bar (stderr).
    """
    _check_recipe_choice(source, algorithm, special_tokens, lowercase, strip_accents)
    output = _check_files(corpus, output, vocab_size, fmt, batch_size)
    from .loading import quiet_transformers

    quiet_transformers()
    stats = CorpusStats()
    shown = " ".join(str(p) for p in corpus)
    batches = nonempty_batches(iter_batches(corpus, fmt, field, batch_size, stats), shown)
    started = time.perf_counter()
    original = None if source is None else load_source_tokenizer(source)
    if original is not None:
        tokenizer = _retrain(original, batches, vocab_size, show_progress)
        recipe_name = f"from {source}"
    else:
        assert algorithm is not None
        recipe = build_recipe(algorithm, special_tokens, lowercase, strip_accents)
        tokenizer = _train_recipe(recipe, batches, vocab_size, stats, show_progress)
        recipe_name = algorithm
    seconds = time.perf_counter() - started
    _save(tokenizer, output, vocab_size, stats)
    return TrainedTokenizer(
        tokenizer=tokenizer,
        output=output,
        vocab_size=len(tokenizer),
        recipe=recipe_name,
        parts=recipe_summary(tokenizer),
        texts=stats.texts,
        chars=stats.chars,
        seconds=seconds,
        original=original,
        notes=_size_notes(len(tokenizer), vocab_size),
    )


def _size_notes(learnt: int, vocab_size: int) -> list[str]:
    """A note when the trainer stopped short of `vocab_size` (a small corpus has no more to learn)."""
    if learnt >= vocab_size:
        return []
    return [
        f"the vocabulary has {learnt} entries, fewer than the {vocab_size} asked for: the corpus holds "
        "nothing more to learn (a larger corpus gives a larger vocabulary)"
    ]


def _check_recipe_choice(
    source: str | Path | None,
    algorithm: str | None,
    special_tokens: Sequence[str] | None,
    lowercase: bool | None,
    strip_accents: bool | None,
) -> None:
    """Exactly one of `source` and `algorithm`; the recipe options only with `algorithm`."""
    if (source is None) == (algorithm is None):
        raise InputError("give exactly one of --from (retrain a tokenizer) and --algorithm (build one)")
    if source is not None and (special_tokens or lowercase is not None or strip_accents is not None):
        raise InputError(
            "--special-tokens, --lowercase and --strip-accents shape a new recipe: --from keeps the "
            "tokenizer's own (use --algorithm to choose them)"
        )


def _check_files(
    corpus: Sequence[str | Path], output: str | Path, vocab_size: int, fmt: str, batch_size: int
) -> Path:
    """Fail before anything is read: corpus files that exist in a known format, an empty output, sizes."""
    require_count(batch_size, "batch_size")
    if not corpus:
        raise InputError("no corpus files given")
    paths = [require_file(path, "corpus file") for path in corpus]
    corpus_format(paths[0], fmt)
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InputError(f"output {output} already exists and is not empty")
    check_writable(output, "dir")
    require_count(vocab_size, "--vocab-size")
    if vocab_size > MAX_VOCAB_SIZE:
        raise InputError(
            f"--vocab-size {vocab_size} is too large: bertkit trains at most {MAX_VOCAB_SIZE:,} entries "
            "(the largest real vocabularies have ~256k)"
        )
    return output


def _retrain(original, batches: Iterator[list[str]], vocab_size: int, show_progress: bool):
    """A new vocabulary in `original`'s recipe."""
    specials = len(original.all_special_tokens)
    _check_room(vocab_size, specials, byte_level=_is_byte_level(original))
    return original.train_new_from_iterator(batches, vocab_size, show_progress=show_progress)


def _train_recipe(
    recipe: Recipe, batches: Iterator[list[str]], vocab_size: int, stats: CorpusStats, show_progress: bool
):
    """A from-scratch recipe, trained and finished into a transformers tokenizer."""
    _check_room(vocab_size, len(recipe.special_tokens), byte_level=recipe.algorithm == "bpe")
    try:
        recipe.backend.train_from_iterator(batches, trainer=recipe.make_trainer(vocab_size, show_progress))
    except Exception as e:
        if "not large enough" in str(e):  # the Unigram trainer keeps every character
            raise _too_small(vocab_size, len(recipe.special_tokens), stats) from None
        raise
    return finish_recipe(recipe)


def _save(tokenizer, output: Path, vocab_size: int, stats: CorpusStats) -> None:
    """Write the tokenizer as a whole, unless it came out larger than asked for."""
    learnt = len(tokenizer)
    if learnt > vocab_size:  # BPE and WordPiece keep the whole alphabet whatever vocab_size says
        raise _too_small(vocab_size, len(tokenizer.all_special_tokens), stats, learnt)
    write_dir_atomically(output, lambda folder: tokenizer.save_pretrained(str(folder)))


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
    path = require_file(held_out, "held-out file")

    def stats(tokenizer) -> dict[str, Any]:
        return tokenization_stats(
            tokenizer, nonempty_batches(iter_batches([path], fmt, field, batch_size), str(path))
        )

    return {"old": None if old is None else stats(old), "new": stats(new)}
