"""Recipe of bertkit's Korean-capable encoder: the Hangul-exact tokenizer over all-MiniLM-L6-v2's vocabulary,
then masked-LM adaptation of the default pre-training model on Korean and English text (issue 12).

    python scripts/korean_encoder.py syllables    # src/bertkit/data/hangul-syllables.txt (seconds)
    python scripts/korean_encoder.py init         # runs/korean-encoder/init: the default pre-training model
                                                  # (fill-mask + NSP heads) with the vocabulary grown (seconds)
    python scripts/korean_encoder.py train [--resume] [--max-steps N]
                                                  # masked-LM + NSP on Korean and English text (~45 min, 2 cores)
    python scripts/korean_encoder.py evaluate [--model DIR]   # held-out masked top-1/top-5, NSP (JSON)

A QA model's encoder adapted again (runs 13m: does more Korean masked LM help the QA model read Korean?):

    python scripts/korean_encoder.py init --encoder runs/default-qa-stage12 --output runs/korean-readapt/init
    python scripts/korean_encoder.py train --init runs/korean-readapt/init --output runs/korean-readapt/model \
        --kowiki-first 1 --kowiki-every 24 --english-share 1.0 [--resume]
    python scripts/default_qa_model.py graft --encoder runs/korean-readapt/model --model runs/default-qa-stage12 \
        --output runs/default-qa-stage12-readapted     # the QA model with the adapted encoder; then a QA stage

Growing the vocabulary: `hangul.extend_model` appends S and ##S rows for each syllable, each the mean of the
base rows of its jamo tokens (what MiniLM saw for that syllable). Training moves only those new rows of the
embedding matrix (`train_embeddings_from`): the 30,522 base rows stay bit-exact, so a shipped delta holds
the new rows and the encoder, and English tokens keep their embeddings. The encoder and heads train at a
lower rate than a fresh pre-training (lr 5e-5) on a mix of about two Korean tokens to one English token,
so English does not degrade (`evaluate` scores both).

The syllables are KS X 1001's 2,350 plus every syllable seen at least twice in the Korean *training* text
here: Korean Wikipedia (../shared/data/text/kowiki, filtered against every Korean evaluation set), the NSMC
reviews, the KLUE sentences, and the contexts and questions of korquad-v1.0-train and tydiqa-goldp-ko-train.
No dev file is read.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BERTKIT_DATA", ROOT.parent / "shared" / "data"))
KOREAN_TEXT = [
    *sorted((DATA / "text" / "kowiki").glob("*.txt")),
    DATA / "text" / "nsmc-reviews-ko.txt",
    DATA / "text" / "klue-sentences-ko.txt",
]
KOREAN_QA_TRAIN = [DATA / "korquad-v1.0-train.json", DATA / "tydiqa" / "tydiqa-goldp-ko-train.json"]
ENGLISH_QA_TRAIN = [
    DATA / "squad-v1.1-train.json",
    DATA / "tydiqa" / "tydiqa-goldp-en-train.json",
    DATA / "qa-extra" / "squad-v1.1-train-first11.json",
    DATA / "squadshifts" / "new_wiki_v1.0.json",
    DATA / "squadshifts" / "amazon_reviews_v1.0.json",
    DATA / "squadshifts" / "reddit_v1.0.json",
]
# BERTKIT_RUNS puts the run elsewhere (e.g. outside a work tree that is laid anew between sessions).
RUNS = Path(os.environ.get("BERTKIT_RUNS", ROOT / "runs")) / "korean-encoder"
KOWIKI_EVERY = 6  # every sixth kowiki file: ~5.7 M characters, about 2 Korean tokens to 1 English
HELD_OUT_EVERY = 50
TRAINING = dict(
    epochs=1,
    lr=5e-5,
    batch_size=32,
    warmup_ratio=0.03,
    weight_decay=0.01,
    max_length=128,
    mask_prob=0.15,
    nsp=True,
    bf16=None,  # auto: bf16 where the CPU has bf16 matrix units (LoopConfig)
    seed=0,
    save_every_steps=200,
)


def korean_training_texts():
    from bertkit.corpus import read_texts

    for path in KOREAN_TEXT + KOREAN_QA_TRAIN:
        yield from read_texts(path)


def paragraphs(path: Path) -> list[str]:
    """A kowiki file's paragraphs (article headers `# <id>\t<title>` left out)."""
    from bertkit.corpus import read_texts

    return [t for t in read_texts(path) if not t.startswith("# ") and len(t) > 40]


def qa_contexts(paths: list[Path]) -> list[str]:
    from bertkit.training.qa_loading import load_qa_file

    return [c for path in paths for c in dict.fromkeys(e.context for e in load_qa_file(path).examples)]


def documents(
    first: int = 0, every: int = KOWIKI_EVERY, english_share: float | None = None
) -> tuple[list[str], list[str], list[str], list[str]]:
    """(Korean training, Korean held-out, English training, English held-out) documents, in a fixed order.
    Korean Wikipedia: files first, first + every, ... (the encoder's run 2 read 0, 6, 12, ...; the cloze sets
    3, 9, 15, ...). Held out: every 50th of their paragraphs, every 20th wikitext-2 paragraph (as
    default_heads.py). english_share: English training documents cut (evenly) to about that many characters
    per Korean character (None: all of them)."""
    from bertkit.corpus import read_texts
    from bertkit.training.mlm_data import held_out

    kowiki = KOREAN_TEXT[: len(KOREAN_TEXT) - 2]
    wiki = [p for path in kowiki[first::every] for p in paragraphs(path)]
    ko_train, ko_held = held_out(wiki, HELD_OUT_EVERY)
    ko_train += [t for path in KOREAN_TEXT[-2:] for t in read_texts(path)] + qa_contexts(KOREAN_QA_TRAIN)
    english = [t.strip() for t in read_texts(DATA / "text" / "wikitext2-test-raw.txt")]
    en_train, en_held = held_out([t for t in english if not (t.startswith("=") and t.endswith("="))], 20)
    en_train += qa_contexts(ENGLISH_QA_TRAIN)
    if english_share is not None:
        ratio = english_share * sum(map(len, ko_train)) / sum(map(len, en_train))
        en_train = [t for i, t in enumerate(en_train) if int((i + 1) * ratio) > int(i * ratio)]
    return ko_train, ko_held, en_train, en_held


def interleave(a: list[str], b: list[str]) -> list[str]:
    """a and b mixed evenly in one list (the loop shuffles batches, this keeps each chunk of rows mixed)."""
    out, step = [], len(a) / max(1, len(b))
    j = 0
    for i, text in enumerate(a):
        out.append(text)
        while j < len(b) and j * step <= i:
            out.append(b[j])
            j += 1
    return out + b[j:]


def init(args) -> None:
    from bertkit.hangul import as_transformers, extend_model, minilm_hangul_exact
    from bertkit.loading import load

    model = load("default", "pretraining")
    base, grown = minilm_hangul_exact()
    extend_model(model.module, base, grown)
    if args.encoder:  # a bilingual QA model's encoder under the pre-training heads
        from default_qa_model import copy_encoder, load_model

        copied = copy_encoder(load_model(args.encoder).module, model.module)
        print(f"encoder from {args.encoder} ({copied} tensors)", file=sys.stderr)
    out = Path(args.output) if args.output else RUNS / "init"
    model.module.save_pretrained(out)
    as_transformers(grown).save_pretrained(out)
    print(f"{out}: vocabulary {base.get_vocab_size():,} → {grown.get_vocab_size():,}", file=sys.stderr)


def train(args) -> None:
    import json

    from bertkit.training.mlm import MLMTrainConfig
    from bertkit.training.mlm import train as run

    ko_train, ko_held, en_train, en_held = documents(args.kowiki_first, args.kowiki_every, args.english_share)
    print(
        f"Korean: {len(ko_train):,} documents ({sum(map(len, ko_train)):,} characters), {len(ko_held):,} held out; "
        f"English: {len(en_train):,} ({sum(map(len, en_train)):,} characters), {len(en_held):,} held out",
        file=sys.stderr,
    )
    config = MLMTrainConfig(
        output_dir=args.output or str(RUNS / "model"),
        max_steps=args.max_steps,
        train_embeddings_from=30522,
        **TRAINING,
    )
    texts = interleave(ko_train, en_train)
    result = run(args.init or str(RUNS / "init"), texts, config, ko_held + en_held, resume=args.resume)
    print(json.dumps({"best": result.best, "history": result.history}, default=str))


def syllables(args) -> None:
    from bertkit.files import write_text_atomically
    from bertkit.hangul import SYLLABLES, count_syllables, vocabulary_syllables

    counts: Counter[str] = count_syllables(korean_training_texts())
    kept = vocabulary_syllables(counts, min_count=args.min_count)
    write_text_atomically(SYLLABLES, "".join(kept) + "\n")
    covered = sum(n for s, n in counts.items() if s in set(kept))
    print(
        f"{len(kept)} syllables → {SYLLABLES} ({100 * covered / sum(counts.values()):.4f} % of "
        f"{sum(counts.values()):,} syllables in the training text)",
        file=sys.stderr,
    )


def evaluate(args) -> None:
    import json

    from bertkit.loading import load
    from bertkit.training.mlm import MLMTrainConfig
    from bertkit.training.mlm import evaluate as score
    from bertkit.training.mlm_data import pretraining_rows

    _, ko_held, _, en_held = documents(args.kowiki_first, args.kowiki_every)
    config = MLMTrainConfig(**{k: v for k, v in TRAINING.items() if k != "save_every_steps"})
    model = load(args.model or str(RUNS / "model"), "pretraining")
    report = {}
    for name, held in (("kowiki-held-out", ko_held), ("wikitext2-held-out", en_held)):
        rows = pretraining_rows(model.tokenizer, held, config.max_length, nsp=True, seed=config.seed + 1)
        report[name] = {k: round(v, 2) for k, v in score(model, rows, config).items()}
        print(name, report[name], file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("syllables")
    p.add_argument("--min-count", type=int, default=2)
    p = sub.add_parser("init")
    p.add_argument(
        "--encoder", help="a bilingual QA model whose encoder goes under the heads (default: MiniLM's)"
    )
    p.add_argument("--output", help="default: runs/korean-encoder/init")
    p = sub.add_parser("train")
    p.add_argument("--init", help="default: runs/korean-encoder/init")
    p.add_argument("--output", help="default: runs/korean-encoder/model")
    p.add_argument("--english-share", type=float, help="English characters per Korean one (default: all)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--max-steps", type=int, default=None, help="stop there (resumable)")
    p = sub.add_parser("evaluate")
    p.add_argument("--model", default=None)
    for p in (sub.choices["train"], sub.choices["evaluate"]):
        p.add_argument("--kowiki-first", type=int, default=0, help="the first Korean Wikipedia file read")
        p.add_argument("--kowiki-every", type=int, default=KOWIKI_EVERY, help="then every N-th file")
    args = parser.parse_args()
    {"syllables": syllables, "init": init, "train": train, "evaluate": evaluate}[args.command](args)


if __name__ == "__main__":
    main()
