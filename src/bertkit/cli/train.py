"""`bertkit train qa|ner|mlm`: options → the task's training config → its `train` → a summary.

Each option named as a field of the task's config sets that field and takes its default from there
(`default`), so a setting is declared once, in the library; `report` prints the same summary for all three.

Under `torchrun --nproc_per_node N` (or `accelerate launch --multi_gpu --num_processes N`, which starts N CPU
processes where there is no GPU) the processes share each epoch's batches; process 0 writes and reports.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from ..loading import BASE
from ..training.mlm import MLMTrainConfig
from ..training.ner import NERTrainConfig
from ..training.qa import TrainConfig
from ._util import JsonOpt, MaxLengthOpt, StrideOpt, default, emit_json, new_table, out, qa_dataset

train_app = typer.Typer(help="Fine-tune a model.", no_args_is_help=True, add_completion=False)


@train_app.callback()
def train_group() -> None:
    """Fine-tune a model."""


# Options every `train` command has (the defaults come from each task's config).
OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="Directory for the model and checkpoints.")]
EvalOpt = Annotated[Path | None, typer.Option("--eval", help="Evaluated after each epoch.")]
BaseOpt = Annotated[
    str,
    typer.Option(
        "--base", help="Model to start from: a directory, a Hub id, or minilm (the embedded encoder)."
    ),
]
EpochsOpt = Annotated[int, typer.Option(help="Passes over the training data.")]
LrOpt = Annotated[float, typer.Option(help="Peak learning rate (AdamW).")]
BatchSizeOpt = Annotated[int, typer.Option(help="Windows (rows) per forward pass.")]
GradAccumOpt = Annotated[int, typer.Option(help="Forward passes per optimizer step.")]
WarmupOpt = Annotated[float, typer.Option(help="Fraction of steps to warm up over.")]
WeightDecayOpt = Annotated[float, typer.Option(help="AdamW weight decay.")]
Bf16Opt = Annotated[
    bool | None,
    typer.Option(
        "--bf16/--no-bf16", help="bfloat16 autocast [default: where the CPU has bf16 matrix units]."
    ),
]
MaxStepsOpt = Annotated[int | None, typer.Option(help="Stop after this many optimizer steps (resumable).")]
SaveEveryOpt = Annotated[int, typer.Option(help="Checkpoint every N steps (0: per epoch).")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue from the latest checkpoint.")]
FreezeEmbeddingsOpt = Annotated[
    bool, typer.Option(help="Keep the word embeddings frozen (smaller deltas to ship).")
]
FreezeLayersOpt = Annotated[
    int,
    typer.Option(help="Keep the embeddings and the lowest N encoder layers frozen (faster steps)."),
]
# What a command shows of each epoch's evaluation: (column, key of the history entry); the best epoch is
# starred in the column of its score.
QA_HISTORY = [("exact match", "exact_match"), ("F1", "f1")]
NER_HISTORY = [("precision", "precision"), ("recall", "recall"), ("F1", "f1")]
MLM_HISTORY = [("top-1 %", "masked_accuracy"), ("top-5 %", "top5_accuracy"), ("perplexity", "perplexity")]


def config_from(config_type: type, output: Path, options: dict[str, Any]) -> Any:
    """The config of type `config_type` with `output_dir=output` and every option named as one of its
    fields, checked, and --output checked to be a directory that can be written (before any data is read
    or model loaded; `options`: a command's `locals()`, taken first thing)."""
    from ..files import check_writable

    fields = {f.name for f in dataclasses.fields(config_type)}
    config = config_type(output_dir=str(output), **{k: v for k, v in options.items() if k in fields})
    config.check()
    check_writable(output, "dir")
    return config


@train_app.command("qa")
def train_qa(
    train: Annotated[
        list[Path],
        typer.Option("--train", help="Training file (SQuAD/KorQuAD JSON or JSONL); repeat for more."),
    ],
    output: OutputOpt,
    eval_file: EvalOpt = None,
    base: BaseOpt = BASE,
    epochs: EpochsOpt = default(TrainConfig, "epochs"),
    lr: LrOpt = default(TrainConfig, "lr"),
    batch_size: BatchSizeOpt = default(TrainConfig, "batch_size"),
    grad_accum: GradAccumOpt = default(TrainConfig, "grad_accum"),
    warmup_ratio: WarmupOpt = default(TrainConfig, "warmup_ratio"),
    weight_decay: WeightDecayOpt = default(TrainConfig, "weight_decay"),
    max_length: MaxLengthOpt = default(TrainConfig, "max_length"),
    stride: StrideOpt = default(TrainConfig, "stride"),
    answerless_ratio: Annotated[
        float, typer.Option(help="Fraction of windows without the answer to keep.")
    ] = default(TrainConfig, "answerless_ratio"),
    bf16: Bf16Opt = default(TrainConfig, "bf16"),
    freeze_embeddings: FreezeEmbeddingsOpt = default(TrainConfig, "freeze_embeddings"),
    freeze_layers: FreezeLayersOpt = default(TrainConfig, "freeze_layers"),
    seed: Annotated[int, typer.Option(help="Seed of initialisation, data order and sampling.")] = default(
        TrainConfig, "seed"
    ),
    max_steps: MaxStepsOpt = default(TrainConfig, "max_steps"),
    save_every_steps: SaveEveryOpt = default(TrainConfig, "save_every_steps"),
    resume: ResumeOpt = False,
    lora_r: Annotated[
        int, typer.Option(help="Train LoRA adapters of this rank and the QA head only (0: all weights).")
    ] = default(TrainConfig, "lora_r"),
    lora_alpha: Annotated[int, typer.Option(help="LoRA scaling numerator (scale = alpha / r).")] = default(
        TrainConfig, "lora_alpha"
    ),
    lora_dropout: Annotated[float, typer.Option(help="Dropout on the LoRA adapters' input.")] = default(
        TrainConfig, "lora_dropout"
    ),
    lora_export: Annotated[
        str,
        typer.Option(help="With LoRA, write 'merged' (a plain model directory) or 'adapter' (peft files)."),
    ] = default(TrainConfig, "lora_export"),
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a model for extractive QA; the best epoch by dev F1 is written to --output.

    Under `torchrun --nproc_per_node N` (or `accelerate launch --multi_gpu --num_processes N`, which starts
    N CPU processes where there is no GPU) the processes share each epoch's batches; process 0 writes.
    """
    from ..training.qa import train as run_training

    config = config_from(TrainConfig, output, locals())
    examples = [example for path in train for example in qa_dataset(path).examples]
    eval_data = qa_dataset(eval_file, scoring_only=True) if eval_file is not None else None
    result = run_training(base, examples, config, eval_data, resume=resume)
    report(result, as_json, "evaluation after each epoch", QA_HISTORY, "f1")


AggregationOpt = Annotated[
    str, typer.Option(help="How tokens become entities: simple, first, average or max.")
]
KlueLevelOpt = Annotated[
    str, typer.Option(help="KLUE-NER files: score characters ('char') or space-separated words ('word').")
]
SchemeOpt = Annotated[str, typer.Option(help="CoNLL files: auto, BIO (strict) or IOB1 (converted to BIO).")]


@train_app.command("ner")
def train_ner(
    train: Annotated[
        list[Path],
        typer.Option("--train", help="Training file (CoNLL token<TAB>TAG, or KLUE-NER); repeat for more."),
    ],
    output: OutputOpt,
    eval_file: EvalOpt = None,
    base: BaseOpt = BASE,
    epochs: EpochsOpt = default(NERTrainConfig, "epochs"),
    lr: LrOpt = default(NERTrainConfig, "lr"),
    batch_size: BatchSizeOpt = default(NERTrainConfig, "batch_size"),
    grad_accum: GradAccumOpt = default(NERTrainConfig, "grad_accum"),
    warmup_ratio: WarmupOpt = default(NERTrainConfig, "warmup_ratio"),
    weight_decay: WeightDecayOpt = default(NERTrainConfig, "weight_decay"),
    max_length: MaxLengthOpt = default(NERTrainConfig, "max_length"),
    stride: Annotated[
        int | None,
        typer.Option(help="Tokens shared by consecutive windows (default: a quarter window, ≤ 64)."),
    ] = default(NERTrainConfig, "stride"),
    label_all_tokens: Annotated[
        bool, typer.Option("--label-all-tokens", help="Label every sub-token (I- after the first).")
    ] = default(NERTrainConfig, "label_all_tokens"),
    aggregation: AggregationOpt = default(NERTrainConfig, "aggregation"),
    scheme: SchemeOpt = "auto",
    klue_level: KlueLevelOpt = "char",
    bf16: Bf16Opt = default(NERTrainConfig, "bf16"),
    seed: Annotated[int, typer.Option(help="Seed of the new head, dropout and data order.")] = default(
        NERTrainConfig, "seed"
    ),
    max_steps: MaxStepsOpt = default(NERTrainConfig, "max_steps"),
    save_every_steps: SaveEveryOpt = default(NERTrainConfig, "save_every_steps"),
    freeze_embeddings: FreezeEmbeddingsOpt = default(NERTrainConfig, "freeze_embeddings"),
    freeze_layers: FreezeLayersOpt = default(NERTrainConfig, "freeze_layers"),
    resume: ResumeOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a model for NER; the best epoch by dev entity F1 is written to --output."""
    from ..training.ner import train as run_training
    from ..training.ner_data import load_ner_file

    config = config_from(NERTrainConfig, output, locals())
    sentences = [s for path in train for s in load_ner_file(path, scheme, klue_level).sentences]
    eval_data = load_ner_file(eval_file, scheme, klue_level) if eval_file is not None else None
    result = run_training(base, sentences, config, eval_data, resume=resume)
    report(result, as_json, "evaluation after each epoch", NER_HISTORY, "f1")


CorpusFormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        help="auto (by suffix), text (a document per line), blocks (blank-line separated), jsonl or squad.",
    ),
]
FieldOpt = Annotated[str, typer.Option(help="The JSONL field holding the text.")]
NspOpt = Annotated[bool, typer.Option("--nsp", help="Sentence pairs and the next-sentence head too.")]


MLMBaseOpt = Annotated[
    str | None,
    typer.Option(help="Model to continue pre-training: a directory, a Hub id, or minilm (the default)."),
]
ModelConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="A config.json to build a new model from (pre-training from scratch)."),
]
TokenizerDirOpt = Annotated[
    Path | None, typer.Option(help="With --config: the tokenizer directory (e.g. from train-tokenizer).")
]
EvalFilesOpt = Annotated[
    list[Path] | None, typer.Option("--eval", help="Held-out corpus file; repeat for more.")
]
HeldOutEveryOpt = Annotated[
    int, typer.Option(help="Without --eval: hold out every N-th document (0: no evaluation).")
]


@train_app.command("mlm")
def train_mlm(
    corpus: Annotated[list[Path], typer.Argument(help="Corpus files (text, blocks, JSONL or SQuAD JSON).")],
    output: OutputOpt,
    base: MLMBaseOpt = None,
    config_file: ModelConfigOpt = None,
    tokenizer: TokenizerDirOpt = None,
    eval_files: EvalFilesOpt = None,
    held_out_every: HeldOutEveryOpt = 20,
    corpus_format: CorpusFormatOpt = "auto",
    field: FieldOpt = "text",
    nsp: NspOpt = default(MLMTrainConfig, "nsp"),
    whole_word_mask: Annotated[
        bool, typer.Option("--whole-word-mask", help="Mask whole words, not single sub-tokens.")
    ] = default(MLMTrainConfig, "whole_word_mask"),
    mask_prob: Annotated[float, typer.Option(help="Fraction of tokens (or words) to predict.")] = default(
        MLMTrainConfig, "mask_prob"
    ),
    max_length: MaxLengthOpt = default(MLMTrainConfig, "max_length"),
    epochs: EpochsOpt = default(MLMTrainConfig, "epochs"),
    lr: LrOpt = default(MLMTrainConfig, "lr"),
    batch_size: BatchSizeOpt = default(MLMTrainConfig, "batch_size"),
    grad_accum: GradAccumOpt = default(MLMTrainConfig, "grad_accum"),
    warmup_ratio: WarmupOpt = default(MLMTrainConfig, "warmup_ratio"),
    weight_decay: WeightDecayOpt = default(MLMTrainConfig, "weight_decay"),
    bf16: Bf16Opt = default(MLMTrainConfig, "bf16"),
    freeze_embeddings: FreezeEmbeddingsOpt = default(MLMTrainConfig, "freeze_embeddings"),
    seed: Annotated[
        int, typer.Option(help="Seed of initialisation, pairs, batch order and masks.")
    ] = default(MLMTrainConfig, "seed"),
    max_steps: MaxStepsOpt = default(MLMTrainConfig, "max_steps"),
    save_every_steps: SaveEveryOpt = default(MLMTrainConfig, "save_every_steps"),
    resume: ResumeOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Masked-LM (+ next-sentence) training: continue pre-training a model on your corpus, or pre-train a
    new one from a config; reports held-out masked-token accuracy and perplexity after each epoch."""
    from ..training.mlm import starting_model
    from ..training.mlm import train as run_training
    from ..training.mlm_data import held_out
    from ._util import corpus_texts

    config = config_from(MLMTrainConfig, output, locals())
    model = starting_model(config, base, config_file, tokenizer)
    texts: Any = corpus_texts(corpus, corpus_format, field)
    held: Any = None
    if eval_files:
        held = corpus_texts(eval_files, corpus_format, field)
    elif held_out_every:
        texts, held = held_out(texts, held_out_every)
    result = run_training(model, texts, config, held, resume=resume)
    history = MLM_HISTORY + ([("NSP %", "nsp_accuracy")] if nsp else [])
    report(result, as_json, "held-out evaluation after each epoch", history, "masked_accuracy", rows="rows")


def report(
    result: Any,
    as_json: bool,
    title: str,
    history: list[tuple[str, str]],
    score: str,
    rows: str = "windows",
) -> None:
    """The summary of a run (JSON, or the history table and where the model went), from process 0 only.

    Args:
        result: the `FitResult` of the run.
        title, history, score: the table's title, its (column, key) pairs, and the key the best epoch won by.
        rows: what the summary calls the training rows ("windows" of text, or "rows").

    The JSON summary also holds the task's own settings (`result.settings`: NER's labels).
    """
    import torch.distributed as dist

    if dist.is_initialized() and dist.get_rank() != 0:
        return
    if as_json:
        emit_json(
            {
                "output": result.output_dir,
                "steps": result.global_step,
                "completed": result.completed,
                rows: result.rows,
                "examples_per_second": result.examples_per_second,
                **result.settings,
                "history": result.history,
                "best": result.best,
            }
        )
        return
    if result.history:
        table = new_table("epoch", "step", *(column for column, _ in history), title=title)
        for entry in result.history:
            best = " *" if entry == result.best else ""
            cells = [f"{entry.get(key, 0.0):.2f}{best if key == score else ''}" for _, key in history]
            table.add_row(str(entry["epoch"]), str(entry["step"]), *cells)
        out.print(table)
    state = "finished" if result.completed else f"stopped at step {result.global_step} (--resume continues)"
    out.print(f"{state}; model written to {result.output_dir}", markup=False)
