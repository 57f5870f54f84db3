"""A transformers-compatible tokenizer over the `tokenizers` library alone, for the embedded default models:
a one-shot `bertkit qa` need not import transformers (~1 s of its start-up) to split a question into tokens.

`PlainTokenizer` answers the calls bertkit makes of a fast transformers tokenizer, the same way
(`tokenization_utils_tokenizers.TokenizersBackend._encode_plus` of transformers 5): truncation and stride
are set on the backend, `encode_batch` runs, and each encoding is followed by its overflowing windows, so

    tokenizer(["Who?"], ["A long context ..."], truncation="only_second", max_length=384, stride=128,
              return_overflowing_tokens=True, return_offsets_mapping=True)

gives the same `encodings`, `input_ids`, `offset_mapping` and `overflow_to_sample_mapping` as transformers'
(tests/test_plain_tokenizer.py checks it on random text). Anything else — another keyword (`return_tensors`,
`padding`, ...), another method or attribute, `save_pretrained` — goes to the transformers tokenizer it
stands for, built on first need, so a user's `model.tokenizer` behaves as transformers' in every call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

SPECIAL = {"unk": "[UNK]", "sep": "[SEP]", "pad": "[PAD]", "cls": "[CLS]", "mask": "[MASK]"}


class Encoded(dict):
    """What a call returns: the lists by name (`input_ids`, `attention_mask`, ...) and `encodings`."""

    def __init__(self, values: dict[str, Any], encodings: list[Any]):
        super().__init__(values)
        self.encodings = encodings


class PlainTokenizer:
    """A BERT-style `tokenizers.Tokenizer` with the surface of a fast transformers tokenizer.

    Args:
        backend: the `tokenizers.Tokenizer` (its own truncation and padding are switched off).
        to_transformers: builds the transformers tokenizer this one stands for (used to save it).
        model_max_length: the most tokens an input may hold.
    """

    is_fast = True
    padding_side = "right"
    truncation_side = "right"
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]

    def __init__(self, backend: Any, to_transformers: Callable[[], Any], model_max_length: int = 512):
        backend.no_truncation()
        backend.no_padding()
        self.backend_tokenizer = backend
        self.model_max_length = model_max_length
        self._to_transformers = to_transformers
        self._transformers: Any = None
        # One instance serves every task and thread (the server's workers): truncation is the backend's
        # state, set for the length of one call, so calls take turns.
        self._lock = threading.Lock()
        for name, token in SPECIAL.items():
            setattr(self, f"{name}_token", token)
            setattr(self, f"{name}_token_id", backend.token_to_id(token))
        self.all_special_tokens = list(SPECIAL.values())
        self.all_special_ids = [backend.token_to_id(t) for t in self.all_special_tokens]

    def __len__(self) -> int:
        return self.backend_tokenizer.get_vocab_size()

    def __call__(
        self,
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        *,
        add_special_tokens: bool = True,
        truncation: bool | str = False,
        max_length: int | None = None,
        stride: int = 0,
        return_overflowing_tokens: bool = False,
        return_offsets_mapping: bool = False,
        **other: Any,
    ) -> Any:
        if other:  # what bertkit itself never asks for: transformers answers
            return self.transformers(
                text,
                text_pair,
                add_special_tokens=add_special_tokens,
                truncation=truncation,
                max_length=max_length,
                stride=stride,
                return_overflowing_tokens=return_overflowing_tokens,
                return_offsets_mapping=return_offsets_mapping,
                **other,
            )
        batched = isinstance(text, (list, tuple))
        if batched:
            inputs: list[Any] = (
                list(zip(text, text_pair, strict=True)) if text_pair is not None else list(text)
            )
        else:
            inputs = [(text, text_pair)] if text_pair else [text]
        backend = self.backend_tokenizer
        with self._lock:
            if truncation:
                strategy = "longest_first" if truncation is True else truncation
                backend.enable_truncation(
                    max_length or self.model_max_length, stride=stride, strategy=strategy
                )
            try:
                encodings = backend.encode_batch(inputs, add_special_tokens=add_special_tokens)
            finally:
                backend.no_truncation()
        per_input = [[e, *e.overflowing] if return_overflowing_tokens else [e] for e in encodings]
        flat = [e for group in per_input for e in group]
        values: dict[str, Any] = {
            "input_ids": [e.ids for e in flat],
            "token_type_ids": [e.type_ids for e in flat],
            "attention_mask": [e.attention_mask for e in flat],
        }
        if return_offsets_mapping:
            values["offset_mapping"] = [e.offsets for e in flat]
        if return_overflowing_tokens:
            values["overflow_to_sample_mapping"] = [i for i, group in enumerate(per_input) for _ in group]
        elif not batched:
            values = {k: v[0] for k, v in values.items()}
        return Encoded(values, flat)

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self.backend_tokenizer.num_special_tokens_to_add(pair)

    def convert_ids_to_tokens(self, ids: int | Sequence[int]) -> Any:
        if isinstance(ids, int):
            return self.backend_tokenizer.id_to_token(ids)
        return [self.backend_tokenizer.id_to_token(int(i)) for i in ids]

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> Any:
        unk = self.unk_token_id
        if isinstance(tokens, str):
            found = self.backend_tokenizer.token_to_id(tokens)
            return unk if found is None else found
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def decode(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> str:
        ids = [ids] if isinstance(ids, int) else [int(i) for i in ids]
        return self.backend_tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def get_vocab(self) -> dict[str, int]:
        return self.backend_tokenizer.get_vocab()

    @property
    def transformers(self) -> Any:
        """The transformers tokenizer this one stands for (built on first use, ~1 s of imports)."""
        if self._transformers is None:
            self._transformers = self._to_transformers()
        return self._transformers

    def __getattr__(self, name: str) -> Any:  # only for what this class does not define
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.transformers, name)


@cache
def minilm_tokenizer() -> PlainTokenizer:
    """all-MiniLM-L6-v2's tokenizer (bert-base-uncased's vocabulary), saved as MiniLM's own files."""
    from tokenizers import Tokenizer

    from .loading import minilm_dir

    def to_transformers() -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(minilm_dir())

    return PlainTokenizer(Tokenizer.from_file(str(minilm_dir() / "tokenizer.json")), to_transformers)
