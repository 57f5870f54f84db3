"""Checkpoints of a training run: writing them whole, finding them, loading one back for an exact resume,
and copying the chosen one's model files into the output directory.

    OUTPUT/checkpoints/step-0000120/   config.json, model.safetensors (with LoRA the adapter), tokenizer
                                       files, trainer_state.pt (optimizer, schedule, RNG states, the epoch's
                                       batch order, history, the settings and data hash of the run)

A resumed run must compute what the stopped one would have: its settings (but `RESUMABLE_CHANGES`) and its
training data (by hash) must be the same, or `restore` refuses with an `InputError` that names the change.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..files import write_dir_atomically, write_file_atomically
from ..loading import Model

STATE_FILE = "trainer_state.pt"
# Settings a resumed run may change; all others change what the run computes and must stay as they were.
# bf16 among them: a run stopped on a CPU with bf16 matrix units can go on in fp32 on one without (where
# bf16 is emulated, ~100x slower); the schedule, data and order stay the same, only the rounding differs.
RESUMABLE_CHANGES = ("output_dir", "eval_every_epoch", "max_steps", "save_every_steps", "lora_export", "bf16")


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    """Where the checkpoint of optimizer step `step` goes.

    >>> checkpoint_dir(Path("runs/qa"), 120).as_posix()
    'runs/qa/checkpoints/step-0000120'
    """
    return output_dir / "checkpoints" / f"step-{step:07d}"


def list_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (a `.tmp` directory is an interrupted write)."""
    found = [
        p for p in (output_dir / "checkpoints").glob("step-*") if p.suffix == "" and (p / STATE_FILE).exists()
    ]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def check_resume(output_dir: Path, resume: bool) -> None:
    """Refuse, before any work, a fresh run into a directory that holds another run's checkpoints, and a
    resume with no checkpoint to resume from (which would silently start afresh)."""
    found = list_checkpoints(output_dir)
    if found and not resume:
        raise InputError(
            f"{output_dir} already holds checkpoints: resume with --resume, or use another --output"
        )
    if resume and not found:
        raise InputError(
            f"--resume: {output_dir} holds no checkpoint to resume from (drop --resume to start afresh)"
        )


def is_peft(module: Any) -> bool:
    """Whether `module` is a peft (LoRA) model, whose checkpoints hold its adapter."""
    return hasattr(module, "peft_config")


def save_checkpoint(path: Path, model: Model, state: dict[str, Any]) -> None:
    """Model (safetensors; with LoRA the adapter) + tokenizer + trainer_state.pt, written atomically."""
    import torch

    def write(tmp: Path) -> None:
        if is_peft(model.module):
            model.module.save_pretrained(tmp, save_embedding_layers=False)
        else:
            model.module.save_pretrained(tmp)
        model.tokenizer.save_pretrained(tmp)
        torch.save(state, tmp / STATE_FILE)

    write_dir_atomically(path, write)


def remove_checkpoints(output_dir: Path, keep: list[Path]) -> None:
    """Delete the run's checkpoints but those in `keep`."""
    names = {path.name for path in keep}
    for old in list_checkpoints(output_dir):
        if old.name not in names:
            shutil.rmtree(old)


def rng_states() -> dict[str, Any]:
    """The python, numpy and torch RNG states, in types that `torch.load(weights_only=True)` reads."""
    import torch

    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (name, np.asarray(keys).tolist(), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Put back RNG states saved by `rng_states`."""
    import torch

    random.setstate(states["python"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])


def load_weights(module: Any, directory: Path) -> None:
    """Load the safetensors weights of a checkpoint into `module` (exact copies of the saved values); a
    peft module gets its adapter and QA head from the checkpoint's adapter."""
    from safetensors.torch import load_file

    weights: dict[str, Any] = {}
    for file in sorted(directory.glob("*.safetensors")):
        weights.update(load_file(file))
    if not is_peft(module):
        outcome = module.load_state_dict(weights, strict=False)
        # Tied weights (a masked-LM decoder is the word embeddings) are saved once, under one name.
        shared: dict[int, list[str]] = {}
        for name, tensor in module.state_dict().items():
            shared.setdefault(tensor.data_ptr(), []).append(name)
        tied = {n for names in shared.values() if len(names) > 1 and set(names) & set(weights) for n in names}
        if outcome.unexpected_keys or set(outcome.missing_keys) - tied:
            raise InputError(f"{directory} does not hold this model's weights")
        return
    from peft import set_peft_model_state_dict

    loaded: Any = set_peft_model_state_dict(module, weights)
    trained = {name for name, p in module.named_parameters() if p.requires_grad}
    missing = trained & set(loaded.missing_keys)
    if loaded.unexpected_keys or missing:
        raise InputError(f"{directory} does not hold this LoRA model's adapter")


def run_settings(config: Any, task_settings: dict[str, Any], world: int) -> tuple[dict, dict]:
    """(the settings a resumed run must keep, the value of each for a checkpoint that lacks it).

    Args:
        config: the task's training configuration (a `LoopConfig` dataclass).
        task_settings: the task's own settings (the NER label set).
        world: the number of processes (recorded only when there are several).
    """
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in RESUMABLE_CHANGES}
    settings.update(task_settings)
    if world > 1:
        settings["processes"] = world
    defaults = {f.name: f.default for f in dataclasses.fields(config)} | {"processes": 1}
    return settings, defaults


def restore(
    checkpoint: Path,
    module: Any,
    optimizer: Any,
    scheduler: Any,
    settings: dict,
    defaults: dict,
    data_hash: str,
    rank: int = 0,
) -> dict:
    """Load a checkpoint into the module, optimizer, scheduler and RNGs; return the loop state.

    `settings` values are compared with the checkpoint's; a setting the checkpoint lacks (added to bertkit
    after it was written) is compared with its value in `defaults`."""
    import torch

    saved = torch.load(checkpoint / STATE_FILE, weights_only=True)
    for key, value in settings.items():
        was = saved["settings"].get(key, defaults.get(key))
        if was != value:
            raise InputError(f"cannot resume from {checkpoint}: {key} was {was!r}, now {value!r}")
    if saved["data"] != data_hash:
        raise InputError(f"cannot resume from {checkpoint}: the training data differ from that run's")
    load_weights(module, checkpoint)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    set_rng_states(saved.get("rng_by_rank", [saved["rng"]])[rank])
    return {k: saved[k] for k in ("epoch", "step_in_epoch", "global_step", "order", "history", "best")}


def copy_model_files(checkpoint: Path, out_dir: Path) -> None:
    """Copy a checkpoint's model and tokenizer files (not its trainer state) into `out_dir`, each written
    atomically (whole or absent)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for source in sorted(checkpoint.iterdir()):
        if source.is_file() and source.name != STATE_FILE:
            with source.open("rb") as f:
                write_file_atomically(
                    out_dir / source.name, lambda out: shutil.copyfileobj(f, out), binary=True
                )
