"""The NER picture: long texts wrap, and a word glued to an entity stays on one row."""

from __future__ import annotations

from bertkit import viz
from bertkit.viz.entities import split_at_entities

from .rendering import render_both


def test_entities_figure_wraps_and_keeps_glued_words(tmp_path):
    text = "My name is Sylvain and I work at Hugging Face in Brooklyn. 이순신은 서울에서 태어났다.\n" * 6
    entities = []
    for word, label in (("Sylvain", "PER"), ("Hugging Face", "ORG"), ("Brooklyn", "LOC"), ("서울", "LOC")):
        start = -1
        while (start := text.find(word, start + 1)) >= 0:
            entities.append({"entity_group": label, "start": start, "end": start + len(word), "score": 0.9})
    entities.append(
        {"entity": "B-PER", "start": text.find("이순신"), "end": text.find("이순신") + 3, "score": 0.5}
    )
    fig = viz.entities_figure(text, entities)
    assert fig.get_size_inches()[1] * viz.DPI >= 66 + 6 * 44  # six lines, each on its own row(s)
    render_both(fig, tmp_path, "ner")
    pieces = split_at_entities("서울에서 왔다", [{"entity_group": "LOC", "start": 0, "end": 2}])
    assert [(p.text, p.space_before) for p in pieces] == [("서울", False), ("에서", False), ("왔다", True)]
