"""The settings of the training loop every task shares (`fit.py`); each task's config extends them."""

from __future__ import annotations

from dataclasses import dataclass

from ..checks import require_count, require_fraction, require_number
from ..errors import InputError


@dataclass
class LoopConfig:
    """What every task's training configuration holds (each task's config extends it).

    Args:
        output_dir: where the final model, the summary and the checkpoints go.
        epochs: passes over the training rows; the learning-rate schedule spans all of them.
        lr: peak learning rate of AdamW.
        batch_size: rows per forward pass.
        grad_accum: forward passes per optimizer step (an effective batch of batch_size * grad_accum).
        warmup_ratio: fraction of all optimizer steps over which the learning rate rises from 0.
        weight_decay: AdamW decay of matrices (biases and LayerNorm weights are not decayed).
        max_grad_norm: gradients are clipped to this norm (0 = no clipping).
        bf16: run the step under `torch.autocast("cpu", dtype=torch.bfloat16)` (the encoder's matrix
            products in bf16, each loss's softmax in fp32; weights and optimizer stay fp32) and evaluate in bf16.
            None (the default): bf16 where inference's "auto" picks it (`runtime.resolve_dtype`: AMX or
            AVX-512 BF16), else fp32 — on a CPU without them bf16 is emulated, ~100x slower (AVX2 Zen 4:
            a 1024² bf16 matmul 0.9 GFLOP/s against 112 in fp32). Resolved to a bool when the config is made.
        seed: seeds the initial RNG states, the batch order and any sampling.
        eval_every_epoch: evaluate on the eval data after each epoch (needs eval data).
        max_steps: stop after this many optimizer steps in all, saving a checkpoint; the schedule still
            spans all epochs, so `resume=True` later continues the same run.
        save_every_steps: also checkpoint every this many optimizer steps (0 = at epoch ends only).
        group_by_length: batch rows of similar length together (less padding).
        freeze_embeddings: keep the word embeddings as they are (a fine-tuned model then differs from
            its base only in the encoder and head, which keeps a shipped delta small).
        train_embeddings_from: train only the word-embedding rows from this id on (a vocabulary grown by
            `hangul.extend_model`: the new syllables learn, the base rows stay exactly as they were).
        attention_dropout: dropout on the attention probabilities while training (None: the model's own;
            0 lets SDPA use its fast kernel: `batches.set_attention_dropout`).
        freeze_layers: keep all the embeddings and the lowest this many encoder layers as they are (the
            flags stay on the module after training; a masked-LM decoder tied to the embeddings stays too). The
            backward pass then stops above them: a frozen layer costs its forward only, a third of a trained
            one's work (2 of 6 frozen: 14 layer-passes of work instead of 18). Goes without
            `train_embeddings_from` (those rows would get no gradient).
    """

    output_dir: str = "runs/model"
    epochs: int = 2
    lr: float = 5e-5
    batch_size: int = 16
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    bf16: bool | None = None
    seed: int = 0
    eval_every_epoch: bool = True
    max_steps: int | None = None
    save_every_steps: int = 0
    group_by_length: bool = True
    freeze_embeddings: bool = False
    train_embeddings_from: int | None = None
    attention_dropout: float | None = None
    freeze_layers: int = 0

    def __post_init__(self) -> None:
        if self.bf16 is None:
            from ..runtime import resolve_dtype

            self.bf16 = resolve_dtype("auto")[0] == "bf16"

    def check(self) -> None:
        """Raise `InputError` for settings that cannot work (counts are integers, numbers finite)."""
        for name in ("epochs", "batch_size", "grad_accum"):
            require_count(getattr(self, name), name)
        if not require_number(self.lr, "lr") > 0:
            raise InputError(f"lr must be positive, got {self.lr}")
        require_fraction(self.warmup_ratio, "warmup_ratio")
        require_number(self.weight_decay, "weight_decay", minimum=0.0)
        require_number(self.max_grad_norm, "max_grad_norm", minimum=0.0)
        require_count(self.seed, "seed", minimum=0)
        if self.train_embeddings_from is not None:
            require_count(self.train_embeddings_from, "train_embeddings_from", minimum=0)
            if self.freeze_embeddings:
                raise InputError("train_embeddings_from goes without freeze_embeddings")
        if self.max_steps is not None:
            require_count(self.max_steps, "max_steps")
        require_count(self.save_every_steps, "save_every_steps", minimum=0)
        require_count(self.freeze_layers, "freeze_layers", minimum=0)
        if self.freeze_layers and self.train_embeddings_from is not None:
            raise InputError("freeze_layers goes without train_embeddings_from (frozen rows cannot learn)")
        if self.attention_dropout is not None:
            require_fraction(self.attention_dropout, "attention_dropout")
