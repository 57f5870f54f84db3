"""From-scratch tokenizer recipes: `wordpiece` (BERT), `bpe` (byte-level, GPT-2/RoBERTa), `unigram`
(Metaspace, ALBERT/XLNet style), each with its special tokens, their roles and its post-processor.

A recipe is built untrained (`build_recipe`), trained by `tokenizer_training.train_tokenizer`, then finished
(`finish_recipe`: the post-processor needs the special tokens' ids, known only after training) into a
transformers tokenizer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InputError

ALGORITHMS = ("wordpiece", "bpe", "unigram")

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


@dataclass
class Recipe:
    """An untrained `tokenizers.Tokenizer` and what training and finishing it need.

    Args:
        algorithm: `wordpiece`, `bpe` or `unigram`.
        backend: the `tokenizers.Tokenizer` (normaliser, pre-tokeniser, model, decoder; no post-processor yet).
        make_trainer: `make_trainer(vocab_size, show_progress)` gives the `tokenizers` trainer.
        special_tokens: in id order.
        roles: role → special token (`cls`, `sep`, `unk`, ...).
    """

    algorithm: str
    backend: Any
    make_trainer: Callable[[int, bool], Any]
    special_tokens: list[str]
    roles: dict[str, str]


def build_recipe(
    algorithm: str,
    special_tokens: Sequence[str] | None = None,
    lowercase: bool | None = None,
    strip_accents: bool | None = None,
) -> Recipe:
    """The untrained recipe of a from-scratch algorithm.

    Args:
        algorithm: `wordpiece`, `bpe` or `unigram`.
        special_tokens: in id order; `None` for the algorithm's defaults (`DEFAULT_SPECIAL_TOKENS`).
        lowercase: `None` for the algorithm's default (`DEFAULT_LOWERCASE`).
        strip_accents: `None` to follow `lowercase` (as BERT's normaliser does).
    """
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
    build = {"wordpiece": _wordpiece, "bpe": _bpe, "unigram": _unigram}[algorithm]
    backend, make_trainer = build(tokens, roles, lowercase, strip_accents)
    return Recipe(algorithm, backend, make_trainer, tokens, roles)


def _extra_normalizers(lowercase: bool, strip_accents: bool) -> list[Any]:
    """Accents off by decomposing, dropping the marks and recomposing (Hangul syllables come back whole),
    then lower-casing."""
    from tokenizers import normalizers

    unaccent = [normalizers.NFD(), normalizers.StripAccents(), normalizers.NFC()] if strip_accents else []
    return unaccent + ([normalizers.Lowercase()] if lowercase else [])


def _wordpiece(tokens: list[str], roles: dict[str, str], lowercase: bool, strip_accents: bool):
    """BERT's recipe: BertNormalizer, BertPreTokenizer, WordPiece with `##` continuations."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

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

    return tokenizer, make_trainer


def _bpe(tokens: list[str], roles: dict[str, str], lowercase: bool, strip_accents: bool):
    """GPT-2/RoBERTa's recipe: byte-level pre-tokeniser and decoder, every byte in the alphabet."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=roles.get("unk")))
    extra = _extra_normalizers(lowercase, strip_accents)
    if extra:
        tokenizer.normalizer = normalizers.Sequence(extra)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()

    def make_trainer(vocab_size: int, show_progress: bool):
        return trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=tokens,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=show_progress,
        )

    return tokenizer, make_trainer


def _unigram(tokens: list[str], roles: dict[str, str], lowercase: bool, strip_accents: bool):
    """ALBERT's recipe, but NFKC (sentencepiece's nmt_nfkc) where ALBERT strips accents after NFKD, which
    leaves Hangul as loose jamo."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Replace("``", '"'), normalizers.Replace("''", '"'), normalizers.NFKC()]
        + _extra_normalizers(lowercase, strip_accents)
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

    return tokenizer, make_trainer


def finish_recipe(recipe: Recipe):
    """The trained recipe as a transformers tokenizer: its post-processor set and its special tokens named.

    wordpiece/unigram: `[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]` with type ids 0…0 1…1 (BERT, ALBERT);
    bpe: `<s> A </s>` and `<s> A </s></s> B </s>` (RoBERTa, no type ids).
    """
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    backend, roles = recipe.backend, recipe.roles
    cls, sep = roles["cls"], roles["sep"]
    ids = {cls: backend.token_to_id(cls), sep: backend.token_to_id(sep)}
    if recipe.algorithm == "bpe":
        backend.post_processor = processors.RobertaProcessing(
            (sep, ids[sep]), (cls, ids[cls]), trim_offsets=True, add_prefix_space=False
        )
        input_names = ["input_ids", "attention_mask"]
    else:
        backend.post_processor = processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0",
            pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
            special_tokens=list(ids.items()),
        )
        input_names = ["input_ids", "token_type_ids", "attention_mask"]
    extra = [t for t in recipe.special_tokens if t not in roles.values()]
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_input_names=input_names,
        clean_up_tokenization_spaces=False,
        **{f"{role}_token": token for role, token in roles.items()},
        **({"extra_special_tokens": extra} if extra else {}),
    )


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
