"""Korean particles glued inside a WordPiece token: where a span that ends on such a token really ends.

Multilingual WordPiece vocabularies (mBERT, most Korean checkpoints) often hold a noun's last syllable together
with the particle after it, so a gold answer ends *inside* a token:

    context  …정육점을 운영하던…        gold answer 정육점
    tokens   정 ##육 ##점을 운영 …      the last token ##점을 = 점 + particle 을

Training labels such an answer on the token that holds its end (##점을), and decoding turns the token back
into characters, so without a rule the answer comes back as 정육점을. `particle_end` is that rule, shared by
decoding, training labels and `bertkit data check`. It cuts a particle off the end of the span when all hold:

1. the span's last token continues past where the particle starts (the particle is glued inside the token;
   a token that is only the particle, as a Hangul-exact tokenizer gives, is never cut);
2. the particle ends the word (it may run on past the token: ##사에 ##서 is 사 + 에서);
3. the particle agrees with the syllable before it: 을/은/이/과/으로… follow a final consonant (받침),
   를/는/가/와/로… follow a vowel (로 also follows ㄹ). 마을, 가을, 국가, 작가 are never cut;
4. the word is not in the lexicon of words that end like a particle but are whole words (고양이, 민주주의,
   철도 …: in Korean Wikipedia they take particles themselves more often than their stem appears alone;
   built by scripts/particle_lexicon.py).

Measured with bert-base-multilingual-cased on korquad-v1.0-dev (664 questions): 85.09 % of gold answers come
back exactly before the rule, 98.80 % with it; 3 answers exact before are cut (시나가와, a name, and two gold
answers that include their particle, 10년에 and 치챠고프는). See docs/korean.md.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

LEXICON = Path(__file__).resolve().parent / "data" / "particle-words.txt"

# Longest first, so 에서는 is tried before 에서 and 는.
PARTICLES = tuple(
    sorted(
        "을 를 이 가 은 는 의 에 에서 와 과 로 으로 도 만 에게 에는 에서는 으로는 로는 부터 까지 처럼 보다 "
        "이다 이며 이고 와의 과의 에서의 로서 으로서 로써 으로써 이나 나 이란 란 께서 한테 에도 에서도 "
        "으로도 로도 마저 조차 밖에 이라고 라고 이라는 라는".split(),
        key=len,
        reverse=True,
    )
)
AFTER_CONSONANT = frozenset(
    "을 은 이 과 으로 이다 이며 이고 과의 으로서 으로써 이나 이란 으로는 으로도 이라고 이라는".split()
)
AFTER_VOWEL = frozenset("를 는 가 와 로 와의 로서 로써 나 란 로는 로도 라고 라는".split())
RIEUL = 8  # the final-consonant index of ㄹ


def is_syllable(char: str) -> bool:
    return "\uac00" <= char <= "\ud7a3"


def final_consonant(syllable: str) -> int:
    """0 for a syllable that ends in a vowel, else the index of its final consonant (받침): 서 → 0, 울 → 8."""
    return (ord(syllable) - 0xAC00) % 28


def agrees(before: str, particle: str) -> bool:
    """Whether `particle` can follow the syllable `before` (a non-Hangul character allows any particle).

    >>> agrees("점", "을"), agrees("마", "을"), agrees("울", "로"), agrees("울", "으로")
    (True, False, True, False)
    """
    if not is_syllable(before):
        return True
    final = final_consonant(before)
    if particle in AFTER_CONSONANT:
        return final != 0 and not (particle.startswith("으") and final == RIEUL)
    if particle in AFTER_VOWEL:
        return final == 0 or (particle.startswith("로") and final == RIEUL)
    return True


@cache
def whole_words() -> frozenset[str]:
    """The lexicon of rule 4 (empty when the file is missing)."""
    if not LEXICON.is_file():
        return frozenset()
    return frozenset(LEXICON.read_text(encoding="utf-8").split())


def word_around(text: str, position: int) -> tuple[int, int]:
    """The run of Hangul syllables around the boundary `position`: word_around("정육점을 운영", 3) == (0, 4)."""
    start, end = position, position
    while start > 0 and is_syllable(text[start - 1]):
        start -= 1
    while end < len(text) and is_syllable(text[end]):
        end += 1
    return start, end


def particle_end(context: str, start: int, token_start: int, token_end: int) -> int:
    """The end of the span `context[start:token_end]` once a particle glued inside its last token
    (`context[token_start:token_end]`) is cut off; `token_end` when there is none (see the module rules).
    The particle runs to the end of the word, maybe past the token (##사에 ##서: 방송사 + 에서).

    >>> particle_end("그는 정육점을 운영했다", 3, 5, 7)      # tokens 정 ##육 ##점을
    6
    >>> particle_end("ABC방송사에서 일했다", 0, 5, 7)      # tokens ... ##사에 ##서
    6
    >>> particle_end("고양이가 의자에 앉습니다", 0, 1, 3)   # ##양이 ends 고양이, a whole word
    3
    """
    word_start, word_end = word_around(context, token_end)
    word = context[word_start:word_end]
    if word in whole_words():
        return token_end  # rule 4
    for particle in PARTICLES:
        cut = word_end - len(particle)
        # Rule 1 (the particle starts inside the last token, something left before it), then rule 3; a
        # longer particle that fails gives way to a shorter one (에서는 → 는).
        if (
            word.endswith(particle)
            and max(start, token_start) < cut < token_end
            and is_syllable(context[cut - 1])
        ):
            if agrees(context[cut - 1], particle):
                return cut
    return token_end
