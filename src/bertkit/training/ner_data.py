"""NER data: CoNLL-style token/tag files and KLUE-NER's character format → sentences with character offsets.

A sentence is a text plus labelled *units*, each a character span of the text with a BIO tag:

- CoNLL (`token<TAB>TAG` per line, a blank line between sentences, `-DOCSTART-` lines skipped): the units
  are the tokens, and the text is the tokens joined by single spaces:

      Hugging  B-ORG
      Face     I-ORG          →  text "Hugging Face rocks", units (0,7) B-ORG, (8,12) I-ORG, (13,18) O
      rocks    O

- KLUE-NER (`## <id><TAB><marked sentence>` then one `CHAR<TAB>TAG` line per character, spaces included):
  the text is the characters as given, and the units are the characters (`level="char"`, KLUE's own
  resolution) or the space-separated words (`level="word"`).

Tags are BIO; IOB1 data (I- starts an entity, B- only between two adjacent entities of one type) is
converted to BIO when read. Every problem is a one-line `DataError` that names the file and the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, InputError
from ..files import read_lines
from .metrics import get_entities

DOCSTART = "-DOCSTART-"
SCHEMES = ("auto", "BIO", "IOB1")
KLUE_LEVELS = ("char", "word")
# KLUE-NER's names of the CoNLL types: a model that tags PER/LOC/ORG is scored on KLUE's PS/LC/OG as these
# (`training.ner.evaluate`), and a bilingual model may train KLUE's sentences under the shared names.
TYPE_ALIASES = {"PS": "PER", "LC": "LOC", "OG": "ORG"}
_TAG = re.compile(r"^(O|[BI]-\S.*)$")


@dataclass
class NERSentence:
    """One sentence: `text[start:end]` of each unit carries the unit's BIO tag.

    Args:
        id: where it comes from: "file:line" (CoNLL) or the KLUE sentence id.
        text: the sentence.
        spans: per unit, (start, end) character offsets into `text`.
        tags: per unit, its BIO tag.
        line: the 1-based line of the sentence's first line in its file.
        unannotated: entity types its source does not annotate, so that its O may hide one of them
            (WikiANN and BTC tag PER/LOC/ORG only: mixed with CoNLL, their O means "not PER/LOC/ORG",
            not "not MISC"); training lets such an O be any of these types (`ner_features.target_sets`).
    """

    id: str
    text: str
    spans: list[tuple[int, int]]
    tags: list[str]
    line: int = 0
    unannotated: tuple[str, ...] = ()

    @property
    def units(self) -> list[str]:
        return [self.text[s:e] for s, e in self.spans]

    def entities(self) -> list[tuple[str, int, int]]:
        """Gold entities as (type, start char, end char), read from the tags as seqeval reads them.

        >>> NERSentence("x", "Hugging Face rocks", [(0, 7), (8, 12), (13, 18)], ["B-ORG", "I-ORG", "O"]).entities()
        [('ORG', 0, 12)]
        """
        return [(t, self.spans[a][0], self.spans[b][1]) for t, a, b in get_entities(self.tags)]


@dataclass
class NERDataset:
    """The sentences of one file.

    Args:
        path: the file.
        format: "conll" or "klue".
        level: what a unit is: "word" or "char".
        scheme: the tagging scheme the file used ("BIO" or "IOB1"); tags here are BIO either way.
        sentences: the sentences.
    """

    path: str
    format: str
    level: str
    scheme: str
    sentences: list[NERSentence] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        """Entity types, sorted."""
        return sorted({tag[2:] for s in self.sentences for tag in s.tags if tag != "O"})

    @property
    def labels(self) -> list[str]:
        """The label set a model needs: O, then B-/I- of each type ("O", "B-LOC", "I-LOC", ...)."""
        return label_set(self.types)


def label_set(types: Sequence[str]) -> list[str]:
    """O, then B- and I- of each type, types sorted.

    >>> label_set(["PER", "LOC"])
    ['O', 'B-LOC', 'I-LOC', 'B-PER', 'I-PER']
    """
    return ["O"] + [f"{prefix}-{t}" for t in sorted(set(types)) for prefix in ("B", "I")]


# --- reading ------------------------------------------------------------------------------------------------


def load_ner_file(path: str | Path, scheme: str = "auto", level: str = "char") -> NERDataset:
    """Read a CoNLL-style or a KLUE-NER file, telling them apart by the first line (KLUE's start "## ").

    Args:
        path: the file.
        scheme: CoNLL only: "auto" (BIO, or IOB1 when the tags show it), "BIO" (an I- tag that starts an
            entity is an error) or "IOB1" (converted to BIO).
        level: KLUE only: "char" or "word" units.
    """
    lines = read_lines(path)
    first = next((line for line in lines if line.strip()), "")
    if first.startswith("## "):
        return load_klue(path, level=level, lines=lines)
    return load_conll(path, scheme=scheme, lines=lines)


def load_conll(path: str | Path, scheme: str = "auto", lines: list[str] | None = None) -> NERDataset:
    """Read `token<TAB>TAG` lines (or whitespace-separated columns, the tag last, as in CoNLL-2003).

    Blank lines (or lines of whitespace only) end a sentence; `-DOCSTART-` lines are skipped. A token may
    contain spaces when the columns are tab-separated; an empty token is an empty unit.
    """
    if scheme not in SCHEMES:
        raise InputError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    lines = read_lines(path) if lines is None else lines
    sentences: list[NERSentence] = []
    line_numbers: list[list[int]] = []  # per sentence, the line of each tag
    for rows in _conll_sentences(lines, path):
        numbers, tokens, tags = (list(column) for column in zip(*rows, strict=True))
        spans, at = [], 0
        for token in tokens:  # the tokens joined by single spaces
            spans.append((at, at + len(token)))
            at += len(token) + 1
        sentences.append(NERSentence(f"{path}:{numbers[0]}", " ".join(tokens), spans, tags, numbers[0]))
        line_numbers.append(numbers)
    if not sentences:
        raise DataError(f"{path}: no sentences (expected TOKEN<TAB>TAG lines)")
    found = _apply_scheme(sentences, line_numbers, scheme, path)
    return NERDataset(path=str(path), format="conll", level="word", scheme=found, sentences=sentences)


def _conll_sentences(lines: list[str], path: str | Path) -> Iterator[list[tuple[int, str, str]]]:
    """The (line number, token, tag) rows of each sentence, read as `load_conll` describes."""
    rows: list[tuple[int, str, str]] = []
    for number, line in enumerate(lines, 1):
        blank = not line.strip()
        token, tag = ("", "") if blank else _conll_columns(line, number, path)
        if blank or token == DOCSTART:  # the sentence ends
            if rows:
                yield rows
            rows = []
        else:
            rows.append((number, token, tag))
    if rows:
        yield rows


def _conll_columns(line: str, number: int, path: str | Path) -> tuple[str, str]:
    """(token, tag) of a non-blank CoNLL line, or a `DataError` naming the line."""
    if "\t" in line:
        token, tag = line.split("\t", 1)[0], line.rsplit("\t", 1)[1].strip()
    else:
        fields = line.split()
        if len(fields) < 2:
            raise DataError(
                f"{path}:{number}: expected TOKEN<TAB>TAG, got {line.strip()[:40]!r} (no tag column)"
            )
        token, tag = fields[0], fields[-1]
    if token != DOCSTART and not _TAG.match(tag):
        raise DataError(
            f"{path}:{number}: tag {tag[:30]!r} is not BIO (O, B-TYPE or I-TYPE)"
            + ("; IOBES tags (E-, S-) are not supported" if tag[:2] in ("E-", "S-") else "")
        )
    return token, tag


def _apply_scheme(
    sentences: list[NERSentence], line_numbers: list[list[int]], scheme: str, path: str | Path
) -> str:
    """Check or convert the tags in place; return the scheme the file used."""
    starts_with_i = []  # (sentence, unit) where an I- tag starts an entity
    b_after_other = False  # a B- tag that follows O or another type: only BIO does that
    for k, s in enumerate(sentences):
        previous = "O"
        for u, tag in enumerate(s.tags):
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                starts_with_i.append((k, u))
            if tag.startswith("B-") and previous[2:] != tag[2:]:
                b_after_other = True
            previous = tag
    if scheme == "BIO" and starts_with_i:
        k, u = starts_with_i[0]
        raise DataError(
            f"{path}:{line_numbers[k][u]}: tag {sentences[k].tags[u]} starts an entity, which BIO does not allow "
            "(IOB1 data? read it with scheme IOB1)"
        )
    if not starts_with_i:
        return "BIO" if scheme != "IOB1" else "IOB1"
    for s in sentences:
        s.tags = iob1_to_bio(s.tags)
    return "IOB1" if scheme == "IOB1" or not b_after_other else "BIO"


def iob1_to_bio(tags: Sequence[str]) -> list[str]:
    """IOB1 → BIO: an I- tag that starts an entity becomes B- (valid BIO is left as it is).

    >>> iob1_to_bio(["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"])
    ['B-PER', 'I-PER', 'B-PER', 'O', 'B-LOC', 'B-ORG']
    """
    out = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def renamed_types(tags: Sequence[str], names: Mapping[str, str]) -> list[str]:
    """BIO tags with their entity types renamed by `names` (the others as they are).

    >>> renamed_types(["B-PS", "I-PS", "O", "B-DT"], TYPE_ALIASES)
    ['B-PER', 'I-PER', 'O', 'B-DT']
    """
    return [t if t == "O" or t[2:] not in names else f"{t[:2]}{names[t[2:]]}" for t in tags]


def load_klue(path: str | Path, level: str = "char", lines: list[str] | None = None) -> NERDataset:
    """Read KLUE-NER's character format.

    A sentence is a header `## <id><TAB><sentence with <entity:TYPE> marks>` followed by one `CHAR<TAB>TAG`
    line per character (a space is a line too) and a blank line. `##` lines not followed by characters
    (the format note at the top of the file) are skipped. The text is the characters as given: the marked
    sentence of the header is not used (its marks are ambiguous when the text itself holds < or >).

    Args:
        level: "char": one unit per character (spaces included; KLUE tags the spaces inside an entity I-),
            or "word": one unit per space-separated word, tagged B-X when an entity of type X starts in
            it, I-X when it continues one, else O (an entity that is only part of a word, like 서울 in
            서울에서, is then the whole word).
    """
    if level not in KLUE_LEVELS:
        raise InputError(f"level must be one of {', '.join(KLUE_LEVELS)}, got {level!r}")
    lines = read_lines(path) if lines is None else lines
    sentences: list[NERSentence] = []
    header: tuple[str, int] | None = None
    chars: list[str] = []
    tags: list[str] = []

    def flush() -> None:
        if header is not None and chars:
            sentence_id, number = header
            text = "".join(chars)
            spans = [(i, i + 1) for i in range(len(text))]
            sentence = NERSentence(sentence_id, text, spans, iob1_to_bio(tags), number)
            sentences.append(sentence if level == "char" else _klue_words(sentence))
        chars.clear()
        tags.clear()

    for number, line in enumerate(lines, 1):
        if line.startswith("##"):
            flush()
            body = line[2:].strip()
            header = (body.split("\t", 1)[0].strip(), number) if "\t" in body else None
            continue
        if not line.strip("\r\n"):
            flush()
            header = None
            continue
        if header is None:
            raise DataError(
                f"{path}:{number}: a character line outside a sentence (no '## id<TAB>...' above)"
            )
        char, tag = _klue_columns(line, number, path)
        chars.append(char)
        tags.append(tag)
    flush()
    if not sentences:
        raise DataError(
            f"{path}: no sentences (expected '## id<TAB>sentence' headers and CHAR<TAB>TAG lines)"
        )
    return NERDataset(path=str(path), format="klue", level=level, scheme="BIO", sentences=sentences)


def _klue_columns(line: str, number: int, path: str | Path) -> tuple[str, str]:
    """(character, tag) of a KLUE character line, or a `DataError` naming the line."""
    char, sep, tag = line.partition("\t")
    tag = tag.strip()
    if not sep or len(char) != 1:
        raise DataError(
            f"{path}:{number}: expected one character, a tab and a tag (KLUE format), got {line[:40]!r}"
        )
    if not _TAG.match(tag):
        raise DataError(f"{path}:{number}: tag {tag[:30]!r} is not BIO (O, B-TYPE or I-TYPE)")
    return char, tag


def _klue_words(sentence: NERSentence) -> NERSentence:
    """Character units → space-separated word units (see `load_klue`)."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", sentence.text)]
    char_tags = sentence.tags
    tags = []
    for start, end in spans:
        inside = char_tags[start:end]
        begins = [t for t in inside if t.startswith("B-")]
        if begins:
            tags.append(begins[0])
        elif inside[0].startswith("I-"):
            tags.append(inside[0])
        else:
            tags.append(next((t for t in inside if t != "O"), "O"))
    return NERSentence(sentence.id, sentence.text, spans, iob1_to_bio(tags), sentence.line)


# --- predictions → unit tags --------------------------------------------------------------------------------


def tags_from_entities(
    spans: Sequence[tuple[int, int]], entities: Sequence[tuple[str, int, int]]
) -> list[str]:
    """BIO tags of units from predicted character spans: the first unit an entity overlaps gets B-TYPE,
    the following ones I-TYPE; a unit overlapped by no entity (or an empty unit) is O; the first entity
    wins a unit that two overlap.

    >>> tags_from_entities([(0, 7), (8, 12), (13, 18)], [("ORG", 0, 12)])
    ['B-ORG', 'I-ORG', 'O']
    >>> tags_from_entities([(0, 4)], [("LOC", 0, 1), ("LOC", 2, 4)])  # "U.S." tagged as two words
    ['B-LOC']
    """
    tags = ["O"] * len(spans)
    for kind, start, end in sorted(entities, key=lambda e: (e[1], e[2])):
        begun = False
        for u, (a, b) in enumerate(spans):
            if b <= start or a >= end or a == b:
                continue
            if tags[u] != "O":
                begun = True  # the unit is taken: the entity continues after it
                continue
            tags[u] = ("I-" if begun else "B-") + kind
            begun = True
    return tags
