"""Long-document QA throughput: bertkit (fp32, bf16, int8) against the transformers 4.57 pipeline, in one run.

    .venv/bin/python bench/qa_inference.py [--docs 200] [--model DIR] [--out bench/out/qa_inference.json]

Documents of 100-3,000 words are built from squad-v1.1-dev: a question's own paragraph buried at a random
place among other paragraphs, gold answers shifted accordingly. Every engine answers the same documents
with the same model directory and settings (top_k=1, max_answer_len=15, max_length=384, stride=128);
bertkit's answers are also decoded with scoring="pipeline" from the same logits (the pipeline's ranking
across windows) for the parity figures. Each
bertkit configuration runs in its own process so its peak RSS is its own. The JSON holds docs/s, windows/s,
achieved GFLOP/s, ratios to the reference, top-1 agreement with it and EM/F1 against the gold answers.

The machine is described in the same run: its CPU (model name, the flags that matter for matrix units,
torch's kernels), the dtype `auto` chose on it and why, and its own GEMM peak in fp32, bf16 and int8 (a
timed 2048x2048 matmul, the best of several), so each engine's GFLOP/s is also given as a share of the
peak of its dtype. Figures from different CPU kinds are not comparable; figures from a machine whose
cores are shared with other work are disturbed (ratios within one run less so).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BENCH = Path(__file__).resolve().parent
DATA = Path(os.environ.get("BERTKIT_DATA", BENCH.parent.parent / "shared" / "data"))
SETTINGS = dict(top_k=1, max_answer_len=15, max_length=384, stride=128)


def build_documents(n: int, seed: int) -> list[dict]:
    """n long documents, each one squad-v1.1-dev question with its paragraph buried among others."""
    from bertkit.training.qa_data import buried
    from bertkit.training.qa_loading import load_qa_file

    long = buried(load_qa_file(DATA / "squad-v1.1-dev.json"), words=(100, 3000), limit=n, seed=seed)
    return [
        {"id": e.id, "question": e.question, "context": e.context, "gold": [a.text for a in e.answers]}
        for e in long.examples
    ]


def flops_per_window(config, length: int) -> float:
    """Forward FLOPs of a BERT encoder on one window (matmuls only)."""
    h, inter = config.hidden_size, config.intermediate_size
    per_layer = 2 * length * (4 * h * h + 2 * h * inter) + 4 * length * length * h
    return config.num_hidden_layers * per_layer


# CPU flags that say which matrix units the machine has (reported as found).
MATRIX_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def cpu_report() -> dict:
    """The CPU kind, its matrix-unit flags, torch's kernels and quantized engine, and what `auto` chose."""
    import torch

    from bertkit.runtime import cpu_flags, resolve_dtype, torch_cpu_capability

    name = ""
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        name = next((line.partition(":")[2].strip() for line in f if line.startswith("model name")), "")
    flags = cpu_flags()
    dtype, reason = resolve_dtype("auto")
    return {
        "model_name": name,
        "cores": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "flags_found": [f for f in MATRIX_FLAGS if f in flags],
        "torch_cpu_capability": torch_cpu_capability(),
        "quantized_engine": torch.backends.quantized.engine,
        "dtype_auto": {"dtype": dtype, "reason": reason},
    }


def gemm_peaks(n: int = 2048, seconds: float = 1.0) -> dict[str, float | None]:
    """GFLOP/s of this machine's best n x n matmul in fp32, bf16 and int8 (the fastest of the runs made in
    `seconds` per dtype, after a warm-up: the best run is the least disturbed by other work; a dtype the CPU
    runs so slowly that one product would take longer is measured at a smaller size).

    int8 is the raw int8 x int8 -> int32 kernel (`torch._int_mm`); `int8_dynamic_linear` is what the int8
    engine's layers run: a dynamically quantized linear layer, activations quantized on the fly.
    """
    import torch

    from bertkit.quantize import quantize_linears

    def best(op, make) -> float:
        """op(*make(size)) at size n, or smaller where a 256² product says n would take over `seconds`
        (bf16 on a CPU without bf16 units runs ~0.3 GFLOP/s: one 2048² product would take a minute)."""
        size, tic = n, time.perf_counter()
        op(*make(256))
        estimate = (time.perf_counter() - tic) * (n / 256) ** 3
        while size > 256 and estimate > seconds:
            size, estimate = size // 2, estimate / 8
        args = make(size)
        op(*args)
        fastest, start = float("inf"), time.perf_counter()
        while time.perf_counter() - start < seconds:
            tic = time.perf_counter()
            op(*args)
            fastest = min(fastest, time.perf_counter() - tic)
        return round(2 * size**3 / fastest / 1e9, 1)

    def floats(dtype):
        return lambda size: (torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype))

    def int8s(size: int):
        return tuple(torch.randint(-127, 128, (size, size), dtype=torch.int8) for _ in range(2))

    def quantized(size: int):
        holder = torch.nn.Module()  # named as an encoder layer's linear is (`quantize.ENCODER_LAYER`)
        holder.layer = torch.nn.ModuleList([torch.nn.Sequential(torch.nn.Linear(size, size, bias=False))])
        return quantize_linears(holder).layer[0], torch.randn(size, size)

    with torch.inference_mode():
        peaks: dict[str, float | None] = {
            "fp32": best(torch.matmul, floats(torch.float32)),
            "bf16": best(torch.matmul, floats(torch.bfloat16)),
        }
        try:
            peaks["int8"] = best(torch._int_mm, int8s)
        except (RuntimeError, AttributeError):  # no CPU int8 matmul in this torch
            peaks["int8"] = None
        peaks["int8_dynamic_linear"] = best(lambda linear, x: linear(x), quantized)
    return peaks


def best_peaks(*measured: dict[str, float | None]) -> dict:
    """The GEMM peak of each dtype: the best of measurements taken before and after the engines ran."""
    names = measured[0]
    best = {k: max((m[k] for m in measured if m[k] is not None), default=None) for k in names}
    return {"n": 2048, "gflops_per_s": best, "measurements": list(measured)}


def worker(args) -> None:
    """One bertkit configuration in its own process: answer all documents, report time and peak RSS."""
    from dataclasses import replace

    from bertkit import QAOptions, QuestionAnswerer
    from bertkit.tasks.qa import decode_with_options

    docs = json.loads(Path(args.input).read_text(encoding="utf-8"))
    qa = QuestionAnswerer(args.model, dtype=args.worker)
    options = QAOptions(**SETTINGS)
    qa("Warm-up?", docs[0]["context"][:2000], options)
    qa.runtime.stats.update(windows=0, tokens=0, padded_tokens=0, batches=0)
    # Answer in chunks of 64 documents, as qa.stream does; the pipeline's cross-window ranking is decoded
    # from the same logits (untimed: decoding is cheap) for the parity figures.
    answers, pipeline_ranked, seconds = {}, {}, 0.0
    for i in range(0, len(docs), 64):
        chunk = docs[i : i + 64]
        contexts = [d["context"] for d in chunk]
        tic = time.perf_counter()
        windows, s, e = qa.logits([d["question"] for d in chunk], contexts, options)
        decoded = decode_with_options(s, e, windows, contexts, options)
        seconds += time.perf_counter() - tic
        answers.update({d["id"]: a for d, a in zip(chunk, decoded, strict=True)})
        decoded = decode_with_options(s, e, windows, contexts, replace(options, scoring="pipeline"))
        pipeline_ranked.update({d["id"]: a for d, a in zip(chunk, decoded, strict=True)})
    config = qa.model.module.config
    result = {
        "dtype": qa.runtime.dtype,
        "seconds": seconds,
        "answers": {k: [a.to_dict() for a in v] for k, v in answers.items()},
        "answers_pipeline_scoring": {k: [a.to_dict() for a in v] for k, v in pipeline_ranked.items()},
        "stats": qa.runtime.stats,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": __import__("torch").get_num_threads(),
        "config": {"hidden": config.hidden_size, "layers": config.num_hidden_layers},
    }
    Path(args.output).write_text(json.dumps(result), encoding="utf-8")


def model_dir(path: str | None, out: Path) -> Path:
    """The model directory both engines load: the given one, or the embedded default exported once."""
    if path:
        return Path(path)
    from bertkit.default_models import shipped
    from bertkit.deltas import sha256
    from bertkit.loading import export_model, load

    folder = shipped("qa")
    tag = sha256(folder / "delta.safetensors")[:12] if folder else "untrained"
    target = out / f"default-qa-{tag}"
    if not (target / "model.safetensors").exists():
        export_model(load(None, "qa"), target)
    return target


def score(docs, answers) -> dict:
    from bertkit.training.metrics import evaluate_predictions

    golds = {d["id"]: d["gold"] for d in docs}
    preds = {d["id"]: (answers[d["id"]][0]["answer"] if answers[d["id"]] else "") for d in docs}
    result = evaluate_predictions(golds, preds, "squad")
    return {"exact_match": round(result["exact_match"], 2), "f1": round(result["f1"], 2)}


def agreement(ours: dict, ref: dict) -> dict:
    """Top-1 agreement with the reference, and how many differences its summed scores explain.

    The pipeline adds up the scores of answers with equal text (the same span found by two overlapping
    windows); bertkit keeps the best window's score. So where the reference's top-1 score is higher than
    bertkit's, it is a sum, since no single window's probability of any span exceeds bertkit's top-1.
    """
    same = close = explained = 0
    for key, ref_answers in ref.items():
        a, r = ours[key][0], ref_answers[0]
        if (a["start"], a["end"]) == (r["start"], r["end"]):
            same += 1
            close += abs(a["score"] - r["score"]) < 1e-3
            explained += abs(a["score"] - r["score"]) >= 1e-3 and r["score"] > a["score"]
        else:
            explained += r["score"] > a["score"] + 1e-6
    n = len(ref)
    return {
        "top1_same_span": round(same / n, 4),
        "same_span_score_within_1e-3": round(close / max(same, 1), 4),
        "differences": n - close,
        "differences_explained_by_summed_scores": explained,
        "n": n,
    }


def run_reference_engine(model: Path, docs: list[dict], out_dir: Path) -> dict:
    """The transformers 4.57 pipeline on the documents (its own virtualenv, batch_size=1 as users run it)."""
    sys.path.insert(0, str(BENCH))
    from reference import run_reference

    examples = [{k: d[k] for k in ("id", "question", "context")} for d in docs]
    ref = run_reference(
        model,
        examples,
        top_k=1,
        max_answer_len=SETTINGS["max_answer_len"],
        doc_stride=SETTINGS["stride"],
        max_seq_len=SETTINGS["max_length"],
        handle_impossible_answer=False,
        align_to_words=False,
        batch_size=1,
    )
    (out_dir / "qa_inference_reference.json").write_text(json.dumps(ref), encoding="utf-8")
    return {"seconds": ref["seconds"], "answers": ref["answers"], "peak_rss_mb": ref["peak_rss_mb"],
            "windows": ref["n_windows"], "version": ref["transformers_version"]}  # fmt: skip


def run_bertkit_engine(dtype: str, model: Path, docs_file: Path, out_dir: Path) -> dict:
    """bertkit in `dtype` on the documents, in its own process (`worker`)."""
    result_file = out_dir / f"qa_inference_{dtype}.json"
    cmd = [sys.executable, __file__, "--worker", dtype, "--input", str(docs_file), "--model", str(model),
           "--output", str(result_file)]  # fmt: skip
    subprocess.run(cmd, check=True)
    result = json.loads(result_file.read_text(encoding="utf-8"))
    return {**result, "windows": result["stats"]["windows"]}


def engine_entry(
    run: dict, docs: list[dict], windows: int, flops: float, peaks: dict, base: dict | None
) -> dict:
    """One engine's figures: speed, its share of the GEMM peak of its dtype, memory, EM/F1, parity."""
    gflops = flops / run["seconds"] / 1e9
    peaks_of = peaks["gflops_per_s"]  # the reference runs in fp32; int8 layers also run fp32 attention
    peak = peaks_of[run.get("dtype", "fp32")] or peaks_of["int8_dynamic_linear"]
    entry = {
        "dtype": run.get("dtype", "fp32"),
        "seconds": round(run["seconds"], 2),
        "docs_per_s": round(len(docs) / run["seconds"], 3),
        "windows_per_s": round(windows / run["seconds"], 2),
        "gflops_per_s": round(gflops, 1),
        "share_of_gemm_peak": round(gflops / peak, 3) if peak else None,
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
        **score(docs, run["answers"]),
    }
    if "stats" in run:
        entry["padding_overhead"] = round(
            run["stats"]["padded_tokens"] / max(run["stats"]["tokens"], 1) - 1, 4
        )
    if "answers_pipeline_scoring" in run:
        entry["with_pipeline_scoring"] = score(docs, run["answers_pipeline_scoring"])
    if base is not None:
        entry["speedup_vs_reference"] = round(base["seconds"] / run["seconds"], 2)
        entry["agreement_with_reference"] = agreement(run["answers"], base["answers"])
        entry["agreement_with_reference_pipeline_scoring"] = agreement(
            run["answers_pipeline_scoring"], base["answers"]
        )
    return entry


def against_fp32(runs: dict, engines: dict) -> dict:
    """For bf16 and int8: top-1 agreement with fp32 bertkit and the F1 change (the bar for `auto`: <= 0.5)."""
    return {
        f"{dtype}_vs_fp32": {
            "top1_same_span": agreement(runs[dtype]["answers"], runs["fp32"]["answers"])["top1_same_span"],
            "f1_change": round(engines[dtype]["f1"] - engines["fp32"]["f1"], 2),
            "speedup": round(runs["fp32"]["seconds"] / runs[dtype]["seconds"], 2),
        }
        for dtype in ("bf16", "int8")
        if dtype in runs and "fp32" in runs
    }


def window_lengths(model: Path, docs: list[dict]) -> list[int]:
    """The token count of every window of every document (the same windows for every engine)."""
    from bertkit import load_tokenizer, qa_windows

    tokenizer = load_tokenizer(str(model))
    lengths = []
    for d in docs:
        w = qa_windows(tokenizer, [d["question"]], [d["context"]], SETTINGS["max_length"], SETTINGS["stride"])
        lengths += [len(x) for x in w.input_ids]
    return lengths


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--model", help="QA model directory (default: the embedded default, saved to bench/out)"
    )
    parser.add_argument("--out", default=str(BENCH / "out" / "qa_inference.json"))
    parser.add_argument("--engines", default="reference,fp32,bf16,int8")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.worker:
        return worker(args)

    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model = model_dir(args.model, out_path.parent)
    docs = build_documents(args.docs, args.seed)
    docs_file = out_path.parent / "qa_inference_docs.json"
    docs_file.write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    words = [len(d["context"].split()) for d in docs]
    print(f"{len(docs)} documents, {min(words)}-{max(words)} words, model {model}", file=sys.stderr)
    cpu, peaks_before = cpu_report(), gemm_peaks()
    print(f"cpu: {json.dumps(cpu)}\ngemm peaks: {json.dumps(peaks_before)}", file=sys.stderr)

    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model)
    runs: dict[str, dict] = {}
    for engine in args.engines.split(","):
        print(f"running {engine} ...", file=sys.stderr, flush=True)
        if engine == "reference":
            runs[engine] = run_reference_engine(model, docs, out_path.parent)
        else:
            runs[engine] = run_bertkit_engine(engine, model, docs_file, out_path.parent)

    peaks = best_peaks(peaks_before, gemm_peaks())
    lengths = window_lengths(model, docs)
    total_flops = sum(flops_per_window(config, n) for n in lengths)
    report: dict = {
        "benchmark": "qa_inference",
        "documents": len(docs),
        "words": {"min": min(words), "max": max(words), "mean": round(sum(words) / len(words))},
        "windows": len(lengths),
        "settings": SETTINGS,
        "model": {"dir": str(model), "layers": config.num_hidden_layers, "hidden": config.hidden_size},
        "cpu": cpu,
        "gemm_peak": peaks,
        "engines": {},
    }
    base = runs.get("reference")
    for engine, run in runs.items():
        reference = base if engine != "reference" else None
        report["engines"][engine] = engine_entry(run, docs, len(lengths), total_flops, peaks, reference)
    report.update(against_fp32(runs, report["engines"]))
    auto = cpu["dtype_auto"]["dtype"]
    if auto in report["engines"]:
        report["auto"] = {
            "dtype": auto,
            **{k: report["engines"][auto].get(k) for k in ("speedup_vs_reference", "f1")},
        }
    out_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
