"""KLUE-NER's two figures (Park et al. 2021, klue_baseline/metrics/functional.py), from BIO tags:

- entity macro F1: seqeval's F1 (strict IOB2) averaged over entity types, unweighted. With well-formed BIO
  tags (KLUE's gold; bertkit's predictions, which come from grouped entities) the strict and default
  readings find the same chunks, so it is the mean of `entity_scores`'s per-type F1;
- character macro F1: sklearn's `f1_score(average="macro")` over the tags of every unit (a character, for
  KLUE), O included, as KLUE's code computes it over its whole label list (its docstring says "except O";
  the code passes every label index).

Example: gold [B-PS I-PS O B-LC], predicted [B-PS I-PS O O]. Entities: PS F1 100, LC F1 0 → macro 50.
Tags: B-PS 100, I-PS 100, B-LC 0, O: 2·1/(2·1 + 1) = 66.7 → macro (100 + 100 + 0 + 66.7) / 4 = 66.7.

>>> gold, pred = [["B-PS", "I-PS", "O", "B-LC"]], [["B-PS", "I-PS", "O", "O"]]
>>> round(entity_macro_f1(entity_scores(gold, pred)), 1), round(tag_macro_f1(gold, pred), 1)
(50.0, 66.7)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from .metrics import entity_scores  # noqa: F401 (the doctest uses it)

__all__ = ["entity_macro_f1", "tag_macro_f1"]


def entity_macro_f1(scores: dict[str, Any]) -> float:
    """The unweighted mean F1 (0-100) over the entity types of `entity_scores`'s result (0 when none)."""
    per_type = scores["per_type"]
    return sum(v["f1"] for v in per_type.values()) / len(per_type) if per_type else 0.0


def tag_macro_f1(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> float:
    """Macro F1 (0-100) over every tag seen in gold or predictions, one decision per unit:
    F1 of a tag = 2·tp / (2·tp + fp + fn)."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for gold, guessed in zip(y_true, y_pred, strict=True):
        for g, p in zip(gold, guessed, strict=True):
            if g == p:
                tp[g] += 1
            else:
                fp[p] += 1
                fn[g] += 1
    labels = set(tp) | set(fp) | set(fn)
    if not labels:
        return 0.0
    return 100 * sum(2 * tp[t] / (2 * tp[t] + fp[t] + fn[t]) for t in labels) / len(labels)
