"""Recipes of bertkit's embedded default heads besides QA: masked-LM + next-sentence (one BERT pre-training
model serves `fill-mask` and `nsp`) and English NER. Each starts from all-MiniLM-L6-v2.

    python scripts/default_heads.py train pretraining [--resume]   # CPU, ~30 min
    python scripts/default_heads.py train ner [--resume]           # CPU, ~5 min
    python scripts/default_qa_model.py grow --task ner --korean runs/korean-encoder/model/checkpoints/step-N
    python scripts/default_heads.py train ner-bilingual [--with-wikiann] [--with-btc] [--klue-repeat N]
                                     [--init DIR] [--resume]      # CoNLL-2003 + KLUE-NER from the grown MiniLM
    python scripts/default_heads.py evaluate pretraining|ner       # held-out figures (JSON on stdout)
    python scripts/default_heads.py package pretraining|ner        # write src/bertkit/models/default-<name>

Pre-training data: the English text here (wikitext-2 raw, the SQuAD and TyDi English training contexts);
every 20th wikitext paragraph is held out for evaluation. NER: btc-train, model selection on btc-dev;
btc-test and wnut17-test (its person/location/corporation+group mapped to PER/LOC/ORG) are read by
`evaluate` only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BERTKIT_DATA", ROOT.parent / "shared" / "data"))
RUNS = ROOT / "runs"
HELD_OUT_EVERY = 20

PRETRAINING = dict(
    epochs=4,
    lr=1e-4,
    batch_size=32,
    warmup_ratio=0.06,
    weight_decay=0.01,
    max_length=128,
    mask_prob=0.15,
    whole_word_mask=False,
    nsp=True,
    bf16=None,  # auto: bf16 where the CPU has bf16 matrix units (LoopConfig)
    freeze_embeddings=True,
    seed=0,
    save_every_steps=100,
)
NER = dict(
    epochs=4,
    lr=8e-5,
    batch_size=32,
    max_length=128,
    stride=32,
    bf16=None,  # auto: bf16 where the CPU has bf16 matrix units (LoopConfig)
    freeze_embeddings=True,
    seed=0,
    save_every_steps=100,
)
# Bilingual NER (issues 12 and 13): CoNLL-2003 English (PER/LOC/ORG/MISC) and KLUE-NER Korean (its own
# types PS/LC/OG/DT/TI/QT, kept as KLUE names them so KLUE's metric and tutorials read them), one label set;
# the new Hangul rows learn, the English word embeddings stay MiniLM's.
NER_BILINGUAL = dict(NER, epochs=3, freeze_embeddings=False, train_embeddings_from=30522)
# What the shipped bilingual NER model was trained on and from (recorded in its manifest).
BILINGUAL_DATA = (
    "conll2003-train (PER/LOC/ORG/MISC); wikiann-en-train and btc-train (PER/LOC/ORG; their O may be MISC); "
    "klue-ner-v1.1-train-5k less its last 500, twice (PS/LC/OG/DT/TI/QT); then the same with KLUE four times"
)
BILINGUAL_INIT = (
    "the shipped default-qa (run 5: MiniLM + Hangul rows), exported with `bertkit export`; new head; "
    "3 epochs (lr 8e-5), then 1 more epoch (lr 4e-5, KLUE x4) from that run (`make default-ner-bilingual`)"
)
KLUE_HELD_OUT = 500  # the last 500 of klue-ner-v1.1-train-5k's sentences choose the epoch with conll2003-dev
# One label set across the languages (`--shared-types`): KLUE's persons, places and organisations trained as
# the English PER/LOC/ORG (`ner_data.TYPE_ALIASES`), so the 40k English sentences teach those types on
# Korean text too; KLUE's metric scores such a model on PS/LC/OG as PER/LOC/ORG (`training.ner.evaluate`).
# WNUT-17's types that are PER/LOC/ORG in the default model's terms (the others are left out).
WNUT_TO_BTC = {"person": "PER", "location": "LOC", "corporation": "ORG", "group": "ORG"}


def english_documents() -> tuple[list[str], list[str]]:
    """(training, held-out) documents: paragraphs of wikitext-2 and of the QA training contexts."""
    from bertkit.corpus import read_texts
    from bertkit.training.mlm_data import held_out
    from bertkit.training.qa_loading import load_qa_file

    wiki = [t.strip() for t in read_texts(DATA / "text" / "wikitext2-test-raw.txt")]
    wiki = [t for t in wiki if not (t.startswith("=") and t.endswith("="))]  # headings
    train, held = held_out(wiki, HELD_OUT_EVERY)
    for path in (DATA / "squad-v1.1-train.json", DATA / "tydiqa" / "tydiqa-goldp-en-train.json"):
        train += list(dict.fromkeys(e.context for e in load_qa_file(path).examples))
    return train, held


def train(args) -> None:
    from bertkit.loading import load

    if args.name == "pretraining":
        from bertkit.training.mlm import MLMTrainConfig
        from bertkit.training.mlm import train as run

        texts, held = english_documents()
        print(f"{len(texts)} training documents, {len(held)} held out", file=sys.stderr)
        config = MLMTrainConfig(
            output_dir=str(RUNS / "default-pretraining"), max_steps=args.max_steps, **PRETRAINING
        )
        result = run(load("minilm", "pretraining"), texts, config, held, resume=args.resume)
    elif args.name == "ner-bilingual":
        from bertkit.training.ner import NERTrainConfig
        from bertkit.training.ner import train as run

        sentences, dev = bilingual_ner_data(
            args.with_wikiann, args.with_btc, args.klue_repeat, args.shared_types
        )
        print(f"{len(sentences)} training sentences, {len(dev.sentences)} for selection", file=sys.stderr)
        out = RUNS / "".join(
            ["default-ner-bilingual"]
            + ["-wikiann"] * args.with_wikiann
            + ["-btc"] * args.with_btc
            + [f"-klue{args.klue_repeat}"] * (args.klue_repeat != 1)
            + ["-shared"] * args.shared_types
        )
        out = RUNS / args.output if args.output else out
        recipe = dict(NER_BILINGUAL, **{k: v for k, v in (("epochs", args.epochs), ("lr", args.lr)) if v})
        config = NERTrainConfig(output_dir=str(out), max_steps=args.max_steps, **recipe)
        init = args.init or str(RUNS / "default-ner-grown")
        result = run(init, sentences, config, dev, resume=args.resume, threads=args.threads)
    else:
        from bertkit.training.ner import NERTrainConfig
        from bertkit.training.ner import train as run
        from bertkit.training.ner_data import load_ner_file

        sentences = load_ner_file(DATA / "ner" / "btc-train.conll").sentences
        if args.with_wnut:
            sentences += wnut_as_btc("train").sentences
        dev = load_ner_file(DATA / "ner" / "btc-dev.conll")
        out = RUNS / ("default-ner-wnut" if args.with_wnut else "default-ner")
        config = NERTrainConfig(output_dir=str(out), max_steps=args.max_steps, **NER)
        result = run(load("minilm", "ner"), sentences, config, dev, resume=args.resume)
    print(json.dumps({"best": result.best, "history": result.history}, default=str))


def bilingual_ner_data(
    with_wikiann: bool, with_btc: bool = False, klue_repeat: int = 1, shared_types: bool = False
):
    """(training sentences, selection set): CoNLL-2003 train + KLUE-NER train (less its last 500, repeated
    `klue_repeat` times) [+ WikiANN train] [+ BTC train]; conll2003-dev + those 500 KLUE sentences choose
    the epoch. No test or KLUE dev file is read. WikiANN and BTC tag no MISC: their sentences say so
    (`unannotated`), and their O tokens may be MISC in training (`ner_features.target_sets`). With
    `shared_types`, KLUE's PS/LC/OG are PER/LOC/ORG (`ner_data.TYPE_ALIASES`)."""
    import dataclasses

    from bertkit.training.ner_data import TYPE_ALIASES, load_ner_file, renamed_types

    def klue_file(name: str):
        found = load_ner_file(DATA / "ner" / name)
        if not shared_types:
            return found
        renamed = [dataclasses.replace(s, tags=renamed_types(s.tags, TYPE_ALIASES)) for s in found.sentences]
        return dataclasses.replace(found, sentences=renamed)

    def without_misc(name: str):
        found = load_ner_file(DATA / "ner" / name).sentences
        return [dataclasses.replace(s, unannotated=("MISC",)) for s in found]

    conll = load_ner_file(DATA / "ner" / "conll2003-train.conll")
    klue = klue_file("klue-ner-v1.1-train-5k.tsv")
    sentences = conll.sentences + klue.sentences[:-KLUE_HELD_OUT] * klue_repeat
    if with_wikiann:
        sentences += without_misc("wikiann-en-train.conll")
    if with_btc:
        sentences += without_misc("btc-train.conll")
    dev = load_ner_file(DATA / "ner" / "conll2003-dev.conll")
    dev = dataclasses.replace(
        dev,
        path="conll2003-dev + klue-train held-out",
        sentences=dev.sentences + klue.sentences[-KLUE_HELD_OUT:],
    )
    return sentences, dev


def wnut_as_btc(split: str = "test"):
    """wnut17-SPLIT with its types mapped to PER/LOC/ORG (other types become O)."""
    import dataclasses

    from bertkit.training.ner_data import load_ner_file

    data = load_ner_file(DATA / "ner" / f"wnut17-{split}.conll")

    def mapped(tag: str) -> str:
        kind = WNUT_TO_BTC.get(tag[2:]) if tag != "O" else None
        return f"{tag[:2]}{kind}" if kind else "O"

    sentences = [dataclasses.replace(s, tags=[mapped(t) for t in s.tags]) for s in data.sentences]
    return dataclasses.replace(data, path=f"{data.path} (PER/LOC/ORG)", sentences=sentences)


def evaluate(args) -> None:
    from bertkit.loading import load

    model_dir = args.model or str(RUNS / f"default-{args.name}")
    report = {}
    if args.name == "pretraining":
        from bertkit.training.mlm import MLMTrainConfig
        from bertkit.training.mlm import evaluate as score
        from bertkit.training.mlm_data import pretraining_rows

        _, held = english_documents()
        config = MLMTrainConfig(**{k: v for k, v in PRETRAINING.items() if k != "save_every_steps"})
        for task in ("pretraining",):
            model = load(model_dir, task)
            rows = pretraining_rows(model.tokenizer, held, config.max_length, nsp=True, seed=config.seed + 1)
            report["wikitext2-held-out"] = {k: round(v, 2) for k, v in score(model, rows, config).items()}
    else:
        from bertkit.training.ner import evaluate as score
        from bertkit.training.ner_data import load_ner_file

        model = load(model_dir, "ner")
        sets = [
            ("btc-test", lambda: load_ner_file(DATA / "ner" / "btc-test.conll")),
            ("wnut17-test (PER/LOC/ORG)", wnut_as_btc),
        ]
        if args.name == "ner-bilingual":
            sets = [
                ("conll2003-test", lambda: load_ner_file(DATA / "ner" / "conll2003-test.conll")),
                (
                    "wikiann-en-test (PER/LOC/ORG)",
                    lambda: load_ner_file(DATA / "ner" / "wikiann-en-test.conll"),
                ),
                ("klue-ner-v1.1-dev", lambda: load_ner_file(DATA / "ner" / "klue-ner-v1.1-dev.tsv")),
                *sets,
            ]
        for name, data in sets:
            # each set held to the types it annotates (no MISC on WikiANN, BTC, WNUT; KLUE's six on KLUE)
            scores = score(model, data(), decoding=args.decoding)
            keys = ("precision", "recall", "f1") + (("macro_f1", "tag_macro_f1") if "klue" in name else ())
            report[name] = {k: round(scores[k], 2) for k in keys}
            report[name]["per_type_f1"] = {t: round(v["f1"], 1) for t, v in scores["per_type"].items()}
            print(name, report[name], file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


def package(args) -> None:
    """Write src/bertkit/models/default-<name>; the bilingual NER model ships as default-ner."""
    from default_qa_model import write_shipped  # the same packaging as the QA model

    recipe = {"pretraining": PRETRAINING, "ner": NER, "ner-bilingual": NER_BILINGUAL}[args.name]
    if args.name == "ner-bilingual":
        recipe = dict(recipe, data=BILINGUAL_DATA, init=BILINGUAL_INIT)
    model_dir = Path(args.model or RUNS / f"default-{args.name}")
    shipped = "default-ner" if args.name == "ner-bilingual" else f"default-{args.name}"
    write_shipped(shipped, model_dir, args.bits, recipe, args.metrics)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("train", "evaluate", "package"):
        p = sub.add_parser(command)
        p.add_argument("name", choices=("pretraining", "ner", "ner-bilingual"))
        if command == "train":
            p.add_argument("--resume", action="store_true")
            p.add_argument("--max-steps", type=int, default=None, help="stop there (resumable)")
            p.add_argument("--with-wnut", action="store_true", help="NER: add wnut17-train (PER/LOC/ORG)")
            p.add_argument("--with-wikiann", action="store_true", help="ner-bilingual: add wikiann-en-train")
            p.add_argument("--with-btc", action="store_true", help="ner-bilingual: add btc-train")
            p.add_argument("--klue-repeat", type=int, default=1, help="ner-bilingual: KLUE sentences N times")
            p.add_argument(
                "--shared-types", action="store_true", help="ner-bilingual: KLUE's PS/LC/OG as PER/LOC/ORG"
            )
            p.add_argument("--init", default=None, help="ner-bilingual: the start (runs/default-ner-grown)")
            p.add_argument(
                "--epochs", type=int, default=None, help="ner-bilingual: instead of the recipe's 3"
            )
            p.add_argument("--output", default=None, help="ner-bilingual: the run's name under runs/")
            p.add_argument(
                "--lr", type=float, default=None, help="ner-bilingual: instead of the recipe's 8e-5"
            )
            p.add_argument("--threads", type=int, default=None, help="torch threads (default: every core)")
        else:
            p.add_argument("--model", default=None)
        if command == "evaluate":
            p.add_argument("--decoding", default="viterbi", choices=("viterbi", "argmax"), help="NER labels")
        if command == "package":
            p.add_argument("--bits", type=int, default=4)
            p.add_argument("--metrics", help="JSON file with the evaluation report to record")
    args = parser.parse_args()
    {"train": train, "evaluate": evaluate, "package": package}[args.command](args)


if __name__ == "__main__":
    main()
