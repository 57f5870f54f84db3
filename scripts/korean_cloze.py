"""Synthetic Korean QA questions from Korean Wikipedia (issue 12): cloze questions made from named entities.

The default QA model has 5.6k Korean training questions; KorQuAD models reach 80+ F1 from 60k. Questions
made without annotators from unlabelled text help most where labelled questions are few (Lewis et al.
2019, "Unsupervised Question Answering by Cloze Translation"; Ram et al. 2021, Splinter). Here, for one
paragraph of ../shared/data/text/kowiki (already filtered against every Korean evaluation set):

1. bertkit's own NER default tags the paragraph with KLUE's types (PS, LC, OG, DT, TI, QT);
2. for an entity inside a sentence, the question is that sentence with the entity replaced by a question
   word of its type, the particle after it made to agree with the new word, a few other words dropped
   (Lewis et al.'s "noisy cloze": the question must not be a copy of the sentence), at most 8 words kept
   on each side of the question word (their shorter sub-clause questions did better), and a question
   ending;
3. the answer is the entity, at its place in the paragraph (the context is the whole paragraph).

Worked example (paragraph of the kowiki article 지미 카터):

    sentence  지미 카터는 조지아주 섬터 카운티 플레인스 마을에서 태어났다.
    entity    LC "플레인스 마을" (characters 21-28 of the sentence), followed by the particle 에서
    question  지미 카터는 섬터 카운티 어디에서 태어났는가?      (조지아주 dropped at random)
    answer    플레인스 마을

    PS 이순신은 → 누구는 (은 → 는 after a vowel);  DT 1545년에 → 언제 (에 goes);  QT 3명이 → 몇 명이;
    the entity before a closing copula: 그의 고향은 서울이다. → 그의 고향은 어디인가?

    python scripts/korean_cloze.py make --paragraphs 6000 --output runs/korean-cloze.json

With `--noun-share 0.5`, half of the sentences that have entities (and every sentence that has none) are
asked about a common noun instead (`noun_candidates`): 회사는 공장에서 자동차를 생산한다. → 회사는 공장에서
무엇을 생산한다? (자동차) or 회사는 어디에서 자동차를 생산한다? (공장). With 0 (the default) the output is
the first set's, byte for byte.

The output is a SQuAD-format file (`load_qa_file` reads it; one article per paragraph);
`default_qa_model.py train --stage 11` mixes its questions into the Korean training data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from default_qa_data import DATA  # noqa: E402

from bertkit.particles import PARTICLES, agrees, final_consonant, is_syllable  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KOWIKI = DATA / "text" / "kowiki"
QUESTION_WORDS = {"PS": "누구", "LC": "어디", "OG": "어디", "DT": "언제", "TI": "언제"}  # QT: 몇 + unit
# The particle after the entity, as the question word needs it: each pair is (after a consonant, after a
# vowel); 누구/어디/언제 end in a vowel, 몇 + a unit usually in a consonant.
PARTICLE_PAIRS = [("으로", "로"), ("은", "는"), ("이", "가"), ("을", "를"), ("과", "와")]
TIME_PARTICLES = ("에는", "에도", "에")  # 1545년에 태어났다 → 언제 태어났는가 (언제 takes no 에)
SENTENCE_END = re.compile(r"(?<=[다요])\.(?=\s|$)")
MIN_WORDS, MAX_WORDS = 5, 40  # eojeols in a sentence a question is made from
DROP_SHARE = 0.1  # of the sentence's other eojeols, dropped at random (noisy cloze)
SIDE_WORDS = 8  # eojeols kept on each side of the question word (the sentence's last one always kept)
MAX_QUESTION_CHARS = 100  # KorQuAD's questions: median 32 characters, 99 % under 71
MIN_SCORE = 0.8  # of the NER entity
SSANG_SIOT = 20  # the final-consonant index of ㅆ (past tense: 했다, 났다)
ENTITY_FIELDS = ("word", "start", "end", "label", "score")  # what the tagging cache keeps of an entity
# Questions about common nouns (`--noun-share`), which no entity type covers: the object of a verb (의자를
# 샀다 → 무엇을 샀는가?) and the place of an action (의자에 앉았다 → 어디에 앉았는가?). KorQuAD asks 무엇 more
# than any other word; the entities alone give none.
NOUN_QUESTION_WORDS = {"OBJ": "무엇", "PLACE": "어디"}
NOUN_PARTICLES = (("을", "OBJ"), ("를", "OBJ"), ("에서", "PLACE"), ("에", "PLACE"))  # longest first per kind
PRONOUNS = frozenset(
    "그들 이들 자신 우리 그녀 이것 그것 저것 여기 거기 무엇 누구 이곳 그곳 자기 서로".split()
)  # no question about them
# Not places, though 에 follows them: time words (가을에, 나중에, 1945년에) and grammar (때문에, 동시에).
NOT_PLACES = frozenset(
    "때문 동시 대신 이후 이전 당시 동안 사이 직후 직전 무렵 처음 마지막 최근 현재 오늘날 한편 반면 결과 "
    "경우 정도 이상 이하 이외 가운데 도중 다음 과정 불과 봄 여름 가을 겨울 아침 저녁 오전 오후 새벽 낮 "
    "주말 나중 과거 미래 초기 중기 말기 후기 시절 순간 그때 이때 그날 그해 이듬해 전날 다음날".split()
)
TIME_ENDINGS = ("년", "월", "일", "세기", "시대", "시기", "초", "말", "중반", "후반", "전반", "기간")
# 에 before these is grammar, not a place: X에 대해 (about X), X에 의해 (by X), X에 따라 (according to X)
GRAMMAR_AFTER_E = tuple(
    "대해 대한 대하 의해 의한 의하 따라 따른 따르 관해 관한 관하 비해 비하 걸쳐 있어 해당 달하 달한 이르 "
    "불과 앞서 반해 반하 대응 맞서 반대".split()
)
# Verb forms, not nouns: 만들었을, 있을 (the ㅆ of the past, 있/없/같/많 before 을), 옳았음을 (음 after
# the past), 중요함을, 되기를, 하기에 (nominalised verbs), 통치하에 (하 before 에: "under").
SSANG_SIOT_STEMS = ("있", "없", "같", "많")
VERB_NOUN_ENDINGS = ("하기", "되기", "함", "됨", "하")  # 군함, 잠수함 are lost with them: rare


def past_tense(syllable: str) -> bool:
    """Whether `syllable` carries the ㅆ final of the past tense (했, 났, 았): past_tense("했") is True."""
    return is_syllable(syllable) and final_consonant(syllable) == SSANG_SIOT


def sentences(paragraph: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence ending in 다. or 요. (the others are headings or fragments)."""
    spans, start = [], 0
    for match in SENTENCE_END.finditer(paragraph):
        end = match.end()
        while start < end and paragraph[start].isspace():
            start += 1
        spans.append((start, end))
        start = end
    return spans


def agreeing_particle(word: str, particle: str) -> str:
    """`particle` as it must be after `word`: agreeing_particle("누구", "은") == "는"."""
    for consonant, vowel in PARTICLE_PAIRS:
        for head in (consonant, vowel):
            if particle.startswith(head):
                new = consonant if agrees(word[-1], consonant) else vowel
                return new + particle[len(head) :]
    return particle


def question_word(label: str, entity: str) -> str | None:
    """The question word for an entity: 누구/어디/언제, 몇 + its unit for a quantity (3명 → 몇 명)."""
    if label in QUESTION_WORDS:
        return QUESTION_WORDS[label]
    if label in NOUN_QUESTION_WORDS:
        return NOUN_QUESTION_WORDS[label]
    if label == "QT":
        unit = re.fullmatch(r"[\d.,]+\s*([가-힣]{1,3})", entity)
        return f"몇 {unit.group(1)}" if unit else None
    return None


def question_ending(sentence: str) -> str:
    """The sentence's last 다. made a question: 태어났다. → 태어났는가?, 대통령이다. → 대통령인가?"""
    body = sentence[:-1]
    if body.endswith("이다"):
        return body[:-2] + "인가?"
    if body.endswith("다") and len(body) > 1 and past_tense(body[-2]):
        return body[:-1] + "는가?"  # ㅆ (past tense): 했다 → 했는가
    return body + "?"


def noun_candidates(paragraph: str, s_start: int, s_end: int, entities: list) -> list:
    """The common nouns of the sentence `paragraph[s_start:s_end]` a 무엇/어디 question can ask about, as
    entities (word, start, end, label OBJ | PLACE, score 1) with paragraph offsets: a word of ≥ 2 Hangul
    syllables followed by 을/를 (OBJ) or 에서/에 (PLACE) and nothing else, outside every tagged entity,
    not a pronoun or a verb form (만들었을, 옳았음을, 중요함을, 되기를), and for a place not a time or
    grammar word (가을에, 때문에) nor the 에 of 에 대해 / 에 의해 / 에 따라. 에 also marks goals and topics
    (전쟁에 반대하였다): those places are the noisiest questions.

    >>> [(n.word, n.label) for n in noun_candidates("고양이가 의자에 앉았다.", 0, 13, [])]
    [('의자', 'PLACE')]
    """
    from types import SimpleNamespace

    words = list(re.finditer(r"\S+", paragraph[s_start:s_end]))
    out = []
    for i, match in enumerate(words):
        word = match.group().rstrip(".,")
        for particle, label in NOUN_PARTICLES:
            stem = word[: -len(particle)]
            if not word.endswith(particle) or len(stem) < 2 or not all(map(is_syllable, stem)):
                continue
            if particle in ("을", "를") and not agrees(stem[-1], particle):
                break
            if past_tense(stem[-1]) or stem[-1] in SSANG_SIOT_STEMS:
                break
            if stem.endswith(VERB_NOUN_ENDINGS) or (stem[-1] == "음" and past_tense(stem[-2])):
                break
            if stem in PRONOUNS or (label == "PLACE" and (stem in NOT_PLACES or stem.endswith(TIME_ENDINGS))):
                break
            if particle == "에" and i + 1 < len(words) and words[i + 1].group().startswith(GRAMMAR_AFTER_E):
                break
            start = s_start + match.start()
            end = start + len(stem)
            if any(e.start < end and start < e.end for e in entities):
                break
            out.append(SimpleNamespace(word=stem, start=start, end=end, label=label, score=1.0))
            break
    return out


def cloze_question(sentence: str, start: int, end: int, label: str, rng: random.Random) -> str | None:
    """The question for the entity `sentence[start:end]` (offsets inside the sentence), or None when the
    entity is not a whole word followed by nothing or a particle (1970|년, 가|나다: a tagging error)."""
    word = question_word(label, sentence[start:end])
    if word is None or (start > 0 and sentence[start - 1].isalnum()):
        return None
    tail_end = end
    while tail_end < len(sentence) and is_syllable(sentence[tail_end]):
        tail_end += 1
    particle = sentence[end:tail_end]
    before = [w for w in sentence[:start].split()[-SIDE_WORDS:] if rng.random() >= DROP_SHARE]
    if particle in ("이다", "다") and sentence[tail_end:].strip() == ".":  # 고향은 서울이다. → 어디인가?
        return " ".join([*before, word + "인가?"])
    if particle and particle not in PARTICLES:
        return None
    if label in ("DT", "TI") and particle.startswith(TIME_PARTICLES):
        particle = particle[1:]
    particle = agreeing_particle(word, particle) if particle else ""
    after = question_ending(sentence[tail_end:]).split()
    if not after or after == ["?"]:  # nothing left after the entity to ask with
        return None
    kept_after = [w for w in after[:-1][:SIDE_WORDS] if rng.random() >= DROP_SHARE] + after[-1:]
    question = " ".join([*before, word + particle, *kept_after])
    return question if len(question) <= MAX_QUESTION_CHARS else None


def paragraph_questions(
    paragraph: str,
    entities: list,
    rng: random.Random,
    per_paragraph: int,
    prefix: str,
    noun_share: float = 0.0,
) -> list[dict]:
    """Up to `per_paragraph` questions (SQuAD-style `qas` entries) from different sentences; with
    `noun_share` > 0 a sentence's question is about a common noun (`noun_candidates`) that often where it
    has entities too, and always where it has only nouns."""
    by_sentence = []
    for s_start, s_end in sentences(paragraph):
        if not MIN_WORDS <= len(paragraph[s_start:s_end].split()) <= MAX_WORDS:
            continue
        inside = [e for e in entities if s_start <= e.start and e.end <= s_end and e.score >= MIN_SCORE]
        nouns = noun_candidates(paragraph, s_start, s_end, entities) if noun_share else []
        if inside or nouns:
            by_sentence.append((s_start, s_end, inside, nouns))
    rng.shuffle(by_sentence)
    qas = []
    for s_start, s_end, inside, nouns in by_sentence[:per_paragraph]:
        entity = rng.choice(nouns if nouns and (not inside or rng.random() < noun_share) else inside)
        sentence = paragraph[s_start:s_end]
        question = cloze_question(sentence, entity.start - s_start, entity.end - s_start, entity.label, rng)
        if question is None or entity.word in question:
            continue
        qas.append(
            {
                "id": f"{prefix}-{len(qas)}",
                "question": question,
                "answers": [{"text": entity.word, "answer_start": entity.start}],
            }
        )
    return qas


def kowiki_paragraphs(files: list[Path], min_chars: int, max_chars: int) -> list[tuple[str, str]]:
    """(title, paragraph) of the kowiki files, in order, paragraphs of min_chars..max_chars characters."""
    out = []
    for path in files:
        title = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                title = line.split("\t", 1)[-1]
            elif min_chars <= len(line) <= max_chars:
                out.append((title, line))
    return out


def tagged_paragraphs(args) -> list[tuple[str, str, list]]:
    """(title, paragraph, entities) of the paragraphs drawn; the tagging (the slow part, ~10 minutes for
    7,000 paragraphs on 2 cores) is kept in `args.entities` and read back by the next run with the same
    settings, so that the question rules can change without tagging again."""
    from types import SimpleNamespace

    from bertkit.tasks.ner import EntityTagger

    cache = Path(args.entities)
    key = [args.paragraphs, args.first_file, args.every_file, args.seed]
    saved = json.loads(cache.read_text(encoding="utf-8")) if cache.is_file() else None
    if saved is not None and saved["key"] == key:
        rows = saved["rows"]
    else:
        files = sorted(KOWIKI.glob("*.txt"))[args.first_file :: args.every_file]
        paragraphs = kowiki_paragraphs(files, 150, 1200)
        paragraphs = random.Random(args.seed).sample(paragraphs, min(args.paragraphs, len(paragraphs)))
        tagger = EntityTagger(None, dtype="fp32")
        rows = []
        for first in range(0, len(paragraphs), 64):
            chunk = paragraphs[first : first + 64]
            tagged = tagger.tag_many([p for _, p in chunk], entity_types=(*QUESTION_WORDS, "QT"))
            for (title, paragraph), entities in zip(chunk, tagged, strict=True):
                rows.append((title, paragraph, [{k: getattr(e, k) for k in ENTITY_FIELDS} for e in entities]))
            print(f"{first + len(chunk)} paragraphs tagged", file=sys.stderr, flush=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "rows": rows}, ensure_ascii=False), encoding="utf-8")
        tmp.replace(cache)
    return [(t, p, [SimpleNamespace(**e) for e in es]) for t, p, es in rows]


def make(args) -> None:
    rng = random.Random(args.seed)
    articles, made = [], 0
    for i, (title, paragraph, entities) in enumerate(tagged_paragraphs(args)):
        qas = paragraph_questions(
            paragraph, entities, rng, args.per_paragraph, f"kocloze-{i}", args.noun_share
        )
        if qas:
            made += len(qas)
            articles.append({"title": title, "paragraphs": [{"context": paragraph, "qas": qas}]})
    out = Path(args.output)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": "kocloze", "data": articles}, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out)
    print(f"{out}: {made} questions from {len(articles)} paragraphs", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("make")
    p.add_argument("--paragraphs", type=int, default=6000)
    p.add_argument("--per-paragraph", type=int, default=2)
    p.add_argument("--first-file", type=int, default=3, help="kowiki files first-file, +every-file, …")
    p.add_argument("--every-file", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--noun-share",
        type=float,
        default=0.0,
        help="share of the questions about common nouns (무엇/어디) where a sentence has entities too",
    )
    p.add_argument("--output", default=str(ROOT / "runs" / "korean-cloze.json"))
    p.add_argument("--entities", default=str(ROOT / "runs" / "korean-cloze-entities.json"))
    args = parser.parse_args()
    make(args)


if __name__ == "__main__":
    main()
