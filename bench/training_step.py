"""One QA training step, eager against `torch.compile`, and where the eager step's time goes.

    .venv/bin/python bench/training_step.py [--steps 20] [--batch 16] [--profile]
                                            [--out bench/out/training_step.json]

A randomly initialised model of the default's shape (MiniLM-L6: 6 layers, hidden 384, 12 heads, a QA head;
attention dropout 0 as the default QA recipe trains it, hidden dropout 0.1; the word embeddings frozen as
the default QA recipe keeps its English rows; `bertkit train qa` trains them unless told not to) takes
AdamW steps on random batches whose lengths cycle through 224-384 tokens (the lengths bertkit's
length-grouped, padded-to-longest batches have). Each mode runs in its own process on
the same batches, in fp32 (`--dtype bf16` runs the step under bf16 autocast, as `fit` does where the CPU
has bf16 units). The first half of the steps is warm-up (the compiler's work lands there); tokens/s is over
the second half; `first_half_seconds` shows what compiling costs. `--profile` adds torch's profile of
three 384-token eager steps (the top operators by self time). The JSON carries the CPU report of
bench/qa_inference.py: figures from different CPU kinds are not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
LENGTHS = (384, 320, 256, 384, 352, 288, 384, 224, 384, 320)


def build(dtype: str):
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=32000,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        attention_probs_dropout_prob=0.0,
    )
    model = BertForQuestionAnswering(config).train()
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-5)

    def step(module, length: int, batch: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(1000, 30000, (batch, length), generator=g)
        starts = torch.randint(0, length, (batch,), generator=g)
        ends = torch.randint(0, length, (batch,), generator=g)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            out = module(
                input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids)
            )
        f = torch.nn.functional
        loss = (
            f.cross_entropy(out.start_logits.float(), starts) + f.cross_entropy(out.end_logits.float(), ends)
        ) / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return model, step


def run_mode(mode: str, steps: int, batch: int, dtype: str) -> dict:
    """Time `steps` steps in this process (`mode`: eager | compile)."""
    import torch

    model, step = build(dtype)
    module = torch.compile(model) if mode == "compile" else model
    lengths = [LENGTHS[i % len(LENGTHS)] for i in range(steps)]
    seconds = []
    for i, length in enumerate(lengths):
        tic = time.perf_counter()
        step(module, length, batch, seed=i)
        seconds.append(time.perf_counter() - tic)
        print(f"{mode} step {i} length {length}: {seconds[-1]:.2f} s", file=sys.stderr)
    half = steps // 2
    tokens = sum(batch * n for n in lengths[half:])
    return {
        "mode": mode,
        "first_half_seconds": round(sum(seconds[:half]), 2),
        "second_half_seconds": round(sum(seconds[half:]), 2),
        "tokens_per_second": round(tokens / sum(seconds[half:]), 1),
    }


def profile(batch: int, dtype: str) -> list[dict]:
    """The top operators by self CPU time over three 384-token eager steps."""
    import torch

    model, step = build(dtype)
    step(model, 384, batch, seed=0)
    with torch.profiler.profile() as prof:
        for seed in range(3):
            step(model, 384, batch, seed=seed + 1)
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows)
    return [
        {"op": e.key, "share": round(e.self_cpu_time_total / total, 4), "calls": e.count} for e in rows[:15]
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--out", type=Path, default=BENCH / "out" / "training_step.json")
    p.add_argument("--worker", choices=("eager", "compile", "profile"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.steps < 2 or args.batch < 1:
        p.error("--steps must be at least 2 (half of them warm-up) and --batch at least 1")
    if args.worker:
        result = (
            profile(args.batch, args.dtype)
            if args.worker == "profile"
            else run_mode(args.worker, args.steps, args.batch, args.dtype)
        )
        print(json.dumps(result))
        return
    sys.path.insert(0, str(BENCH))
    from qa_inference import cpu_report

    modes = ["eager", "compile", *(["profile"] if args.profile else [])]
    results = {}
    for mode in modes:
        command = [sys.executable, __file__, "--worker", mode, "--steps", str(args.steps)]
        command += ["--batch", str(args.batch), "--dtype", args.dtype]
        out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, env=os.environ).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
    report = {
        "cpu": cpu_report(),
        "dtype": args.dtype,
        "batch": args.batch,
        "steps": args.steps,
        **results,
        "compile_vs_eager": round(
            results["compile"]["tokens_per_second"] / results["eager"]["tokens_per_second"], 3
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
