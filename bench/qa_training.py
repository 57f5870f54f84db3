"""QA fine-tuning throughput and quality: bertkit's training loop against the transformers `run_qa.py` recipe.

    .venv/bin/python bench/qa_training.py [--questions 1000] [--eval-questions 300] [--epochs 1]
                                          [--base DIR] [--out bench/out/qa_training.json]

Both engines fine-tune the same base model (the embedded default unless `--base DIR`; saved once to
bench/out/qa_training/base so both start from the same weights, QA head included) on the same first
`--questions` questions of squad-v1.1-train, for the same epochs, learning rate, batch size, warmup, weight
decay, gradient clipping and seed:

- bertkit: `bertkit.training.qa.train` as it ships: bf16 autocast where the CPU has bf16 matrix units, batches padded to their longest window,
  length-grouped batches, loss over the context tokens and CLS;
- reference: the recipe of transformers' examples/pytorch/question-answering/run_qa.py, run with the
  installed transformers 5 `Trainer`: fp32, every window padded to 384 (`pad_to_max_length`, the script's
  default), `default_data_collator`, random batches, the model's own loss (needs `accelerate`).

Each engine runs in its own process (its peak RSS is its own), then its trained model directory is scored
with the same bertkit decoder and SQuAD metric (`bertkit.training.qa.evaluate`, fp32) on the first
`--eval-questions` questions of squad-v1.1-dev, so only the training differs. Training speed is windows per
second of the training loop alone: not the model load, the feature preparation or the evaluation (for
bertkit: the time inside its optimizer steps; for the Trainer: from its `on_train_begin` to its
`on_train_end` callback). `train_call_seconds` is the whole training call, feature preparation included.
The JSON goes to `--out` and to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BENCH = Path(__file__).resolve().parent
DATA = Path(os.environ.get("BERTKIT_DATA", BENCH.parent.parent / "shared" / "data"))
WINDOWING = dict(max_length=384, stride=128)


def cpu_report() -> dict:
    """The CPU kind and its matrix-unit flags, as the inference bench reports them (figures from different
    CPU kinds are not comparable)."""
    sys.path.insert(0, str(BENCH))
    from qa_inference import cpu_report as report

    return report()


# --- the two engines (each runs in a worker process) -------------------------------------------------------


def train_bertkit(job: dict[str, Any]) -> dict[str, Any]:
    """bertkit's training loop with its defaults (auto bf16, dynamic padding, length-grouped batches)."""
    import numpy as np

    from bertkit.loading import load
    from bertkit.training.batches import epoch_batches
    from bertkit.training.qa import TrainConfig, train
    from bertkit.training.qa_features import qa_train_features
    from bertkit.training.qa_loading import load_qa_file

    s = job["settings"]
    model = load(job["base"], "qa")
    examples = load_qa_file(job["train_file"]).examples
    out = Path(job["work"]) / "bertkit-model"
    shutil.rmtree(out, ignore_errors=True)
    config = TrainConfig(
        output_dir=str(out),
        epochs=s["epochs"],
        lr=s["lr"],
        batch_size=s["batch_size"],
        warmup_ratio=s["warmup_ratio"],
        weight_decay=s["weight_decay"],
        max_grad_norm=s["max_grad_norm"],
        seed=s["seed"],
        bf16=None,  # auto (LoopConfig): bf16 where the CPU has bf16 matrix units
        attention_dropout=s.get("attention_dropout"),
        freeze_layers=s.get("freeze_layers", 0),
        **WINDOWING,
    )
    tic = time.perf_counter()
    result = train(model, examples, config, progress=False)
    call_seconds = time.perf_counter() - tic
    windows = result.windows * s["epochs"]

    # Padding actually computed: the same batches as the loop (the same seed gives the same order).
    lengths = qa_train_features(model.tokenizer, examples, **WINDOWING, seed=s["seed"]).lengths
    padded = sum(
        len(rows) * int(lengths[rows].max())
        for epoch in range(s["epochs"])
        for rows in epoch_batches(lengths, s["batch_size"], s["seed"], epoch, config.group_by_length)
    )
    return {
        "model_dir": str(out),
        "seconds": windows / result.examples_per_second,
        "windows": windows,
        "train_call_seconds": call_seconds,
        "padding_overhead": padded / (int(np.sum(lengths)) * s["epochs"]) - 1,
        "precision": "bf16 autocast" if config.bf16 else "fp32 (no bf16 units on this CPU)",
    }


def prepare_train_features(tokenizer: Any, records: list[dict], max_length: int, stride: int) -> dict:
    """Training features exactly as transformers' examples/pytorch/question-answering/run_qa.py makes them
    (its `prepare_train_features`, with `pad_to_max_length=True`, the script's default).

    Records are flat SQuAD rows (`question`, `context`, `answers: {text: [...], answer_start: [...]}`), as
    `datasets.load_dataset("squad")` gives them. The script maps batches of 1,000 rows; tokenizing all rows at
    once gives the same windows. Per window, the labels are:
    - CLS, CLS when the example has no answer, or when the first gold answer (unstripped) is not wholly
      inside the window's context tokens;
    - otherwise the last token starting at or before the answer's first character, and the first token
      (scanning back from the context's end) whose span ends at or after its last character.
    The script's edge case is kept: when the answer's first character lies in the window's last context
    token, the forward scan runs over [SEP] and the padding (offsets (0, 0)) and labels the last position.
    """
    question_first = tokenizer.padding_side == "right"
    questions = [r["question"].lstrip() for r in records]  # the script strips questions' left whitespace
    contexts = [r["context"] for r in records]
    encoded = tokenizer(
        questions if question_first else contexts,
        contexts if question_first else questions,
        truncation="only_second" if question_first else "only_first",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    sample_mapping = encoded.pop("overflow_to_sample_mapping")
    offset_mapping = encoded.pop("offset_mapping")
    context_id = 1 if question_first else 0
    starts, ends = [], []
    for i, offsets in enumerate(offset_mapping):
        ids = encoded["input_ids"][i]
        if tokenizer.cls_token_id in ids:
            cls = ids.index(tokenizer.cls_token_id)
        elif tokenizer.bos_token_id in ids:
            cls = ids.index(tokenizer.bos_token_id)
        else:
            cls = 0
        answers = records[sample_mapping[i]]["answers"]
        if not answers["answer_start"]:
            starts.append(cls)
            ends.append(cls)
            continue
        first_char = answers["answer_start"][0]
        end_char = first_char + len(answers["text"][0])
        sequence_ids = encoded.sequence_ids(i)
        first = sequence_ids.index(context_id)  # the window's first and last context token
        last = len(ids) - 1 - sequence_ids[::-1].index(context_id)
        if not (offsets[first][0] <= first_char and offsets[last][1] >= end_char):
            starts.append(cls)
            ends.append(cls)
            continue
        while first < len(offsets) and offsets[first][0] <= first_char:
            first += 1
        starts.append(first - 1)
        while offsets[last][1] >= end_char:
            last -= 1
        ends.append(last + 1)
    encoded["start_positions"] = starts
    encoded["end_positions"] = ends
    return dict(encoded)


def train_reference(job: dict[str, Any]) -> dict[str, Any]:
    """The run_qa.py recipe on transformers 5's Trainer: fp32, windows padded to 384, default collator."""
    from transformers import Trainer, TrainerCallback, TrainingArguments, default_data_collator, set_seed

    from bertkit.loading import load

    s = job["settings"]
    set_seed(s["seed"])  # run_qa.py seeds before it loads the model
    model = load(job["base"], "qa")
    records = json.loads(Path(job["train_file"]).read_text(encoding="utf-8"))
    out = Path(job["work"]) / "reference-model"
    shutil.rmtree(out, ignore_errors=True)

    class Clock(TrainerCallback):
        """The training loop's own time: from the Trainer's train-begin to its train-end event."""

        seconds = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_train_end(self, args, state, control, **kwargs):
            self.seconds = time.perf_counter() - self.start

    tic = time.perf_counter()
    features = prepare_train_features(model.tokenizer, records, **WINDOWING)
    n = len(features["input_ids"])
    dataset = [{key: column[i] for key, column in features.items()} for i in range(n)]
    total_steps = math.ceil(n / s["batch_size"]) * s["epochs"]
    args = TrainingArguments(
        output_dir=str(Path(job["work"]) / "reference-trainer"),
        per_device_train_batch_size=s["batch_size"],
        learning_rate=s["lr"],
        num_train_epochs=s["epochs"],
        # bertkit's warmup, in steps (an integer, so the Trainer does not round a ratio differently)
        warmup_steps=int(s["warmup_ratio"] * total_steps),
        weight_decay=s["weight_decay"],
        max_grad_norm=s["max_grad_norm"],
        seed=s["seed"],
        use_cpu=True,
        dataloader_num_workers=0,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
    )
    clock = Clock()
    trainer = Trainer(
        model=model.module,
        args=args,
        train_dataset=dataset,
        data_collator=default_data_collator,
        processing_class=model.tokenizer,
        callbacks=[clock],
    )
    trainer.train()
    call_seconds = time.perf_counter() - tic
    trainer.save_model(str(out))
    real_tokens = sum(sum(mask) for mask in features["attention_mask"])
    return {
        "model_dir": str(out),
        "seconds": clock.seconds,
        "windows": n * s["epochs"],
        "train_call_seconds": call_seconds,
        "padding_overhead": n * WINDOWING["max_length"] / real_tokens - 1,
        "optimizer": str(args.optim.value),
        "transformers_version": __import__("transformers").__version__,
    }


ENGINES = {
    "bertkit": (train_bertkit, "bertkit.training.qa.train: auto bf16, dynamic padding, length-grouped batches"),
    "reference": (train_reference, "run_qa.py recipe on transformers Trainer: fp32, padding to 384, default_data_collator"),
}  # fmt: skip


def worker(engine: str, job_file: str, output: str) -> None:
    """Train one engine, note its peak RSS, then score its model directory with bertkit's evaluate."""
    os.dup2(2, 1)  # library chatter (the Trainer prints its logs) goes to stderr; the bench's stdout is JSON
    import torch

    from bertkit.loading import load
    from bertkit.runtime import cpu_threads
    from bertkit.training.qa import evaluate
    from bertkit.training.qa_loading import load_qa_file

    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    torch.set_num_threads(cpu_threads())  # the same threads for both (bertkit's loop sets this too)
    result = ENGINES[engine][0](job)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["threads"] = torch.get_num_threads()
    tic = time.perf_counter()
    scores, _ = evaluate(load(result["model_dir"], "qa"), load_qa_file(job["eval_file"]), dtype="fp32")
    result.update(exact_match=scores["exact_match"], f1=scores["f1"], eval_seconds=time.perf_counter() - tic)
    Path(output).write_text(json.dumps(result), encoding="utf-8")


# --- the driver --------------------------------------------------------------------------------------------


def write_subset(source: Path, n: int, target: Path) -> int:
    """The first n questions of a SQuAD file, as a JSON list of flat records (what both engines read)."""
    from bertkit.training.qa_loading import load_qa_file

    examples = load_qa_file(source).examples[:n]
    records = [
        {
            "id": e.id,
            "title": e.title,
            "question": e.question,
            "context": e.context,
            "answers": {"text": [a.text for a in e.answers], "answer_start": [a.start for a in e.answers]},
        }
        for e in examples
    ]
    target.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return len(records)


def save_base(name: str | None, target: Path, seed: int) -> dict[str, Any]:
    """Save the base model (with its QA head, seeded if new) so both engines start from the same weights."""
    import torch

    from bertkit.loading import load

    torch.manual_seed(seed)
    model = load(name or "minilm", "qa")
    shutil.rmtree(target, ignore_errors=True)
    model.module.save_pretrained(target)
    model.tokenizer.save_pretrained(target)
    config = model.module.config
    return {
        "name": name or "minilm",
        "dir": str(target),
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "parameters": sum(p.numel() for p in model.module.parameters()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--base", help="base model directory (default: minilm, the embedded encoder with a new QA head)"
    )
    parser.add_argument("--questions", type=int, default=1000, help="training questions (first N)")
    parser.add_argument("--eval-questions", type=int, default=300, help="dev questions scored (first M)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", default="bertkit,reference")
    parser.add_argument(
        "--attention-dropout",
        type=float,
        default=None,
        help="bertkit's attention dropout (default: the model's)",
    )
    parser.add_argument(
        "--freeze-layers",
        type=int,
        default=0,
        help="bertkit's frozen lowest encoder layers (and embeddings); the reference trains them all",
    )
    parser.add_argument("--out", default=str(BENCH / "out" / "qa_training.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.job, args.output)
    engines = args.engines.split(",")
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(ENGINES)}")

    out_path = Path(args.out)
    work = out_path.parent / "qa_training"
    work.mkdir(parents=True, exist_ok=True)
    train_file, eval_file = work / "train.json", work / "eval.json"
    n_train = write_subset(DATA / "squad-v1.1-train.json", args.questions, train_file)
    n_eval = write_subset(DATA / "squad-v1.1-dev.json", args.eval_questions, eval_file)
    base = save_base(args.base, work / "base", args.seed)
    settings = dict(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        warmup_ratio=args.warmup_ratio,
        weight_decay=0.01,
        max_grad_norm=1.0,
        seed=args.seed,
        attention_dropout=args.attention_dropout,  # bertkit's only: the reference keeps the model's (0.1)
        freeze_layers=args.freeze_layers,  # bertkit's only
        **WINDOWING,
    )
    job = {"base": base["dir"], "train_file": str(train_file), "eval_file": str(eval_file)}
    job.update(work=str(work), settings=settings)
    job_file = work / "job.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    print(f"{n_train} training questions, {n_eval} eval questions, base {base['name']}", file=sys.stderr)

    runs: dict[str, dict] = {}
    for engine in engines:
        print(f"training {engine} ...", file=sys.stderr, flush=True)
        result_file = work / f"{engine}.json"
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            engine,
            "--job",
            str(job_file),
            "--output",
            str(result_file),
        ]
        subprocess.run(cmd, check=True)
        runs[engine] = json.loads(result_file.read_text(encoding="utf-8"))

    report: dict[str, Any] = {
        "benchmark": "qa_training",
        "train_questions": n_train,
        "eval_questions": n_eval,
        "data": {"train": "squad-v1.1-train.json", "eval": "squad-v1.1-dev.json"},
        "base": base,
        "settings": settings,
        "cpu_threads": os.cpu_count(),
        "cpu": cpu_report(),
        "engines": {},
    }
    for engine, run in runs.items():
        report["engines"][engine] = {
            "recipe": ENGINES[engine][1],
            "seconds": round(run["seconds"], 2),
            "windows": run["windows"],
            "examples_per_s": round(run["windows"] / run["seconds"], 3),
            "exact_match": round(run["exact_match"], 2),
            "f1": round(run["f1"], 2),
            "peak_rss_mb": round(run["peak_rss_mb"], 1),
            "padding_overhead": round(run["padding_overhead"], 4),
            "train_call_seconds": round(run["train_call_seconds"], 2),
            "eval_seconds": round(run["eval_seconds"], 2),
            "threads": run["threads"],
            **{k: run[k] for k in ("precision", "optimizer", "transformers_version") if k in run},
        }
    if "bertkit" in runs and "reference" in runs:
        ours, ref = report["engines"]["bertkit"], report["engines"]["reference"]
        report["speedup"] = round(ours["examples_per_s"] / ref["examples_per_s"], 2)
        report["f1_change"] = round(ours["f1"] - ref["f1"], 2)
    out_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
