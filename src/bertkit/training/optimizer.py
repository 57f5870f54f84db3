"""The optimizer every task trains with: AdamW (matrices decayed, vectors not) under a linear warmup and
decay of the learning rate, as BERT's fine-tuning recipes use."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def make_optimizer(module: Any, lr: float, weight_decay: float, undecayed: Sequence[Any] = ()) -> Any:
    """AdamW over the trainable parameters; matrices decay, vectors (biases, LayerNorm weights) do not.

    Args:
        module: the torch module being trained.
        lr: the peak learning rate.
        weight_decay: AdamW's decay of the matrices.
        undecayed: matrices that must not decay either (embeddings whose base rows are kept as they are).
    """
    import torch

    params = [p for p in module.parameters() if p.requires_grad]
    kept = {id(p) for p in undecayed}
    groups = [
        {"params": [p for p in params if p.ndim >= 2 and id(p) not in kept], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2 or id(p) in kept], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr)


def limit_embedding_training(module: Any, freeze: bool, train_from: int | None) -> list[Any]:
    """Freeze the word embeddings, or train only their rows from `train_from` on (a grown vocabulary:
    the gradient of the base rows is zeroed at every backward pass, so AdamW never moves them). Returns
    the matrices to leave out of weight decay (decay would move the kept rows too)."""
    weight = module.get_input_embeddings().weight
    if freeze:
        weight.requires_grad_(False)
    if train_from is None:
        return []

    def keep_base_rows(grad: Any) -> Any:
        grad = grad.clone()
        grad[:train_from] = 0
        return grad

    weight.register_hook(keep_base_rows)
    return [weight]


LAYER_STACKS = ("encoder.layer", "transformer.layer")  # BERT, RoBERTa, ELECTRA, DeBERTa; DistilBERT


def freeze_lowest_layers(module: Any, layers: int) -> None:
    """Freeze everything of `module`'s base model below encoder layer `layers`: the embeddings (with
    ELECTRA's projection, DeBERTa's relative embeddings: every base parameter outside the layer stack and
    the pooler) and the lowest `layers` layers of the stack (`encoder.layer`, DistilBERT's
    `transformer.layer`). Nothing below layer `layers` then needs a gradient, so autograd stops there. Raises
    `InputError` when the model has fewer layers or no such stack (ALBERT shares one layer: nothing to
    freeze layer by layer)."""
    from ..errors import InputError

    if not layers:
        return
    inner = getattr(module, "get_base_model", lambda: module)()  # a LoRA (peft) model: the model it wraps
    base = getattr(inner, "base_model", None)
    names = {name for name, _ in base.named_modules()} if base is not None else set()
    path = next((p for p in LAYER_STACKS if p in names), None)
    if base is None or path is None:
        raise InputError("freeze_layers needs a model with an encoder.layer or transformer.layer stack")
    stack = base.get_submodule(path)
    if layers > len(stack):
        raise InputError(f"freeze_layers is {layers}, but the model has {len(stack)} encoder layers")
    trained = tuple(f"{path}.{i}." for i in range(layers, len(stack))) + ("pooler.",)
    for name, parameter in base.named_parameters():
        if not name.startswith(trained):
            parameter.requires_grad_(False)


def linear_schedule(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Learning-rate factor: 0 → 1 over the warmup, then 1 → 0 at the last step.

    >>> f = linear_schedule(2, 10)
    >>> [round(f(s), 3) for s in (0, 1, 2, 6, 10)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def linear_scheduler(optimizer: Any, warmup_ratio: float, total_steps: int) -> Any:
    """The torch scheduler of `linear_schedule`, the warmup being `warmup_ratio` of all steps."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, linear_schedule(int(warmup_ratio * total_steps), total_steps)
    )
