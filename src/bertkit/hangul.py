"""Hangul-exact WordPiece: extend a BERT tokenizer so that every Hangul syllable boundary is a token boundary.

bert-base-uncased's normaliser (and so MiniLM's) strips accents by NFD decomposition, which also splits each
Hangul syllable into jamo: 서울 → ᄉ ##ᅥ ##ᄋ ##ᅮ ##ᆯ. Multilingual vocabularies keep syllables but glue
particles to the last one (##점을), so an answer such as 정육점 ends inside a token. The recipe here:

1. Normalise as BERT does, then recompose (NFD → strip accents → NFC → lower case): Latin text gives the same
   tokens as before (é → e), Hangul keeps its syllables.
2. Add each common syllable S twice to the vocabulary, as S (word start) and ##S (inside a word). The
   vocabulary holds no multi-syllable Hangul token, so WordPiece's longest match takes one syllable at a time:

       철수는 서울에서 → 철 ##수 ##는 서 ##울 ##에 ##서       (every syllable boundary is a token boundary)

3. A syllable outside the vocabulary would turn its whole word into [UNK] (WordPiece's rule), so the
   pre-tokenizer isolates rare syllables as words of their own: 똠방각하 → [UNK] 방 ##각 ##하, and the
   boundaries around the rare syllable stay exact.

Known edge: text typed as conjoining jamo (ᄀ + ᅡ + ᆨ, three code points) is recomposed to 각, whose token
offsets then cover only the first jamo; precomposed text (what keyboards produce) is exact.

New embedding rows start as the mean of the base model's rows for the syllable's jamo tokens (what the base
model saw for that syllable), so the extended model begins where the base one was.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

# The syllables of bertkit's Hangul-exact tokenizer (scripts/korean_encoder.py syllables writes it).
SYLLABLES = Path(__file__).resolve().parent / "data" / "hangul-syllables.txt"
FIRST_SYLLABLE, LAST_SYLLABLE = 0xAC00, 0xD7A3  # 가 … 힣: the 11,172 precomposed syllables


def is_syllable(char: str) -> bool:
    return FIRST_SYLLABLE <= ord(char) <= LAST_SYLLABLE


def has_hangul(text: str) -> bool:
    """Whether `text` holds a Hangul syllable (the test that routes Korean text to Korean-capable models)."""
    return any(FIRST_SYLLABLE <= ord(c) <= LAST_SYLLABLE for c in text)


def ks_x_1001_syllables() -> list[str]:
    """The 2,350 syllables of KS X 1001 (the Korean national character set): those EUC-KR encodes in two
    bytes. They cover almost all Korean text in use."""
    syllables = (chr(c) for c in range(FIRST_SYLLABLE, LAST_SYLLABLE + 1))
    return [s for s in syllables if len(s.encode("euc-kr")) == 2]


def count_syllables(texts: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(c for c in text if is_syllable(c))
    return counts


def vocabulary_syllables(counts: Counter[str], min_count: int = 2) -> list[str]:
    """KS X 1001 plus every syllable seen at least `min_count` times, in code-point order."""
    seen = {s for s, n in counts.items() if n >= min_count}
    return sorted(set(ks_x_1001_syllables()) | seen)


def _ranges(code_points: Sequence[int]) -> list[tuple[int, int]]:
    """[0xAC01, 0xAC02, 0xAC05] → [(0xAC01, 0xAC02), (0xAC05, 0xAC05)]."""
    out: list[tuple[int, int]] = []
    for c in code_points:
        if out and out[-1][1] == c - 1:
            out[-1] = (out[-1][0], c)
        else:
            out.append((c, c))
    return out


def rare_syllable_class(syllables: Iterable[str]) -> str:
    """A regex character class of the syllables NOT in `syllables` (ranges keep it short)."""
    kept = {ord(s) for s in syllables}
    rare = [c for c in range(FIRST_SYLLABLE, LAST_SYLLABLE + 1) if c not in kept]
    if not rare:
        return ""
    return "[" + "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in _ranges(rare)) + "]"


def hangul_exact(base: Any, syllables: Sequence[str]) -> Any:
    """A copy of the `tokenizers.Tokenizer` `base` (a BERT WordPiece tokenizer) that keeps Hangul syllables
    and has S and ##S for each of `syllables` appended to its vocabulary (ids after the base ones)."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers

    spec = json.loads(base.to_str())
    if spec["model"]["type"] != "WordPiece":
        raise ValueError(f"hangul_exact extends WordPiece tokenizers, not {spec['model']['type']}")
    bert = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
    )
    steps = [bert, normalizers.NFD(), normalizers.StripAccents(), normalizers.NFC(), normalizers.Lowercase()]
    spec["normalizer"] = json.loads(normalizers.Sequence(steps).__getstate__())
    splits: list[Any] = [pre_tokenizers.BertPreTokenizer()]
    rare = rare_syllable_class(syllables)
    if rare:
        splits.append(pre_tokenizers.Split(Regex(rare), behavior="isolated"))
    spec["pre_tokenizer"] = json.loads(pre_tokenizers.Sequence(splits).__getstate__())
    vocab = spec["model"]["vocab"]
    for syllable in syllables:
        for token in (syllable, "##" + syllable):
            vocab.setdefault(token, len(vocab))
    spec["padding"] = spec["truncation"] = None
    return Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))


def as_transformers(tokenizer: Any, model_max_length: int = 512) -> Any:
    """The transformers tokenizer around it. Saved with `tokenizer_class: TokenizersBackend`, so
    `AutoTokenizer` reloads this exact pipeline (as "BertTokenizer" it would rebuild BERT's normaliser and
    decompose Hangul again)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=model_max_length,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
        clean_up_tokenization_spaces=False,
    )


def jamo_token_ids(base: Any, syllable: str, continuation: bool) -> list[int]:
    """The base tokenizer's ids for a syllable's jamo: 서 → ᄉ ##ᅥ (with `continuation`, ##ᄉ ##ᅥ)."""
    encoding = base.encode(syllable, add_special_tokens=False)
    tokens = list(encoding.tokens)
    if continuation and tokens and not tokens[0].startswith("##"):
        tokens[0] = "##" + tokens[0]
    ids = [base.token_to_id(t) for t in tokens]
    unk = base.token_to_id("[UNK]")
    return [i for i in ids if i is not None and i != unk]


def initial_rows(base: Any, embeddings: Any, new_tokens: Sequence[str]) -> Any:
    """Embedding rows for `new_tokens` (S or ##S): the mean of the base rows of the syllable's jamo tokens,
    or of all rows when the base knows none of them. `embeddings` is the base [vocab, hidden] tensor."""
    import torch

    fallback = embeddings.mean(dim=0)
    rows = []
    for token in new_tokens:
        syllable = token.removeprefix("##")
        ids = jamo_token_ids(base, unicodedata.normalize("NFC", syllable), token.startswith("##"))
        rows.append(embeddings[ids].mean(dim=0) if ids else fallback)
    return torch.stack(rows) if rows else embeddings[:0].clone()


def extend_model(module: Any, base: Any, extended: Any) -> None:
    """Grow `module`'s word embeddings (and a masked-LM decoder tied to them, with its bias) from the `base`
    tokenizer's vocabulary to the `extended` one's, new rows from `initial_rows`."""
    import torch

    old_size, new_size = base.get_vocab_size(), extended.get_vocab_size()
    by_id = {i: t for t, i in extended.get_vocab().items()}
    new_tokens = [by_id[i] for i in range(old_size, new_size)]
    weights = module.get_input_embeddings().weight
    rows = initial_rows(base, weights.detach()[:old_size], new_tokens)
    module.resize_token_embeddings(new_size, mean_resizing=False)
    with torch.no_grad():
        module.get_input_embeddings().weight[old_size:] = rows
        output = module.get_output_embeddings() if hasattr(module, "get_output_embeddings") else None
        if (
            output is not None
            and getattr(output, "bias", None) is not None
            and output.bias.shape[0] == new_size
        ):
            output.bias[old_size:] = output.bias[:old_size].mean()


def broken_boundaries(offsets: Sequence[tuple[int, int]], text: str) -> list[int]:
    """Character positions between two Hangul syllables of `text` that fall inside a token (should be
    none). `offsets` are the tokens' (start, end) character offsets into `text`.

    >>> broken_boundaries([(0, 2), (2, 3)], "서울에")   # 서울 is one token: the boundary 1 is inside it
    [1]
    """
    inside: set[int] = set()
    for start, end in offsets:
        inside.update(range(start + 1, end))
    return [
        i for i in sorted(inside) if 0 < i < len(text) and is_syllable(text[i - 1]) and is_syllable(text[i])
    ]


def minilm_hangul_exact() -> tuple[Any, Any]:
    """(MiniLM's `tokenizers.Tokenizer`, its Hangul-exact growth by the syllables of data/hangul-syllables.txt):
    what the default tokenizer is, and what a model's vocabulary is grown from (`extend_model`)."""
    from tokenizers import Tokenizer

    from .loading import minilm_dir

    base = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    return base, hangul_exact(base, list(SYLLABLES.read_text(encoding="utf-8").strip()))


@cache
def default_tokenizer() -> Any:
    """bertkit's Hangul-exact tokenizer: MiniLM's (bert-base-uncased) vocabulary plus S and ##S for each
    syllable of data/hangul-syllables.txt, as a `PlainTokenizer` (saved as the transformers tokenizer
    `as_transformers` makes). Built on first use (~0.1 s)."""
    from tokenizers import Tokenizer

    from .plain_tokenizer import PlainTokenizer

    _, grown = minilm_hangul_exact()
    return PlainTokenizer(Tokenizer.from_str(grown.to_str()), lambda: as_transformers(grown))
