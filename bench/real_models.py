"""Full-size transformers through the PyTorch front-end: counts against torch's, time and memory.

Each model is built from its published configuration with random weights (nothing downloads):
BERT-base, DistilBERT-base, GPT-2 (124 M), ViT-base/16 and a Llama of TinyLlama's shape cut to
4 layers. For each, in a fresh process: ``irwua.analyze(model, data, passes=["flops"])`` on
2 samples of 128 tokens (224 x 224 images), and the table shows

- parameters: irwua vs ``sum(p.numel() for p in model.parameters())`` (the target is equality),
- MACs per sample: irwua vs torch's FlopCounterMode on the eager model,
- the export and analysis wall time and the process's peak RSS (context: shared machine).

Usage: python bench/real_models.py [--quick]   (--quick: BERT-base and GPT-2 only)
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import machine_info

FAMILIES = ("bert-base", "distilbert-base", "gpt2", "vit-base", "llama-4-layers")
QUICK = ("bert-base", "gpt2")

_CHILD = r"""
import inspect, json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np, torch, transformers as T
from torch.utils.flop_counter import FlopCounterMode
import irwua

name = sys.argv[1]
eager = {"attn_implementation": "eager"}
ids = np.random.default_rng(0).integers(0, 1000, size=(2, 128), dtype=np.int64)
images = np.random.default_rng(0).standard_normal((2, 3, 224, 224), dtype=np.float32)
if name == "bert-base":
    model, data = T.BertModel(T.BertConfig(**eager)), {"input_ids": ids}
elif name == "distilbert-base":
    model, data = T.DistilBertModel(T.DistilBertConfig(**eager)), {"input_ids": ids}
elif name == "gpt2":
    model, data = T.GPT2LMHeadModel(T.GPT2Config(**eager)), {"input_ids": ids}
elif name == "vit-base":
    model, data = T.ViTModel(T.ViTConfig(**eager)), images
else:
    config = T.LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=4,
                           num_attention_heads=32, num_key_value_heads=4, vocab_size=32000, **eager)
    model, data = T.LlamaForCausalLM(config), {"input_ids": ids}
model.eval()
start = time.perf_counter()
analysis = irwua.analyze(model, data, passes=["flops"])
seconds = time.perf_counter() - start
inputs = {k: torch.from_numpy(v) for k, v in data.items()} if isinstance(data, dict) else None
options = {"use_cache": False} if "use_cache" in inspect.signature(model.forward).parameters else {}
with FlopCounterMode(display=False) as counter:
    model(**inputs, **options) if inputs is not None else model(torch.from_numpy(data))
print(json.dumps({
    "torch_params": sum(p.numel() for p in model.parameters()),
    "params": analysis["flops"].total.params,
    "macs": analysis["flops"].total.macs,
    "reference_macs": counter.get_total_flops() // 2 // 2,
    "seconds": seconds,
    "exporter": analysis.graph.metadata["exporter"],
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def measure_family(name: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, name], capture_output=True, text=True, timeout=1800
    )
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="accepted for run_all; unused")
    args = parser.parse_args()
    print("# Full-size transformers: irwua's counts vs torch's")
    print(machine_info())
    rows = []
    exact = True
    for name in QUICK if args.quick else FAMILIES:
        result = measure_family(name)
        exact &= result["params"] == result["torch_params"]
        exact &= result["macs"] == result["reference_macs"]
        rows.append(
            [
                name,
                f"{result['params']:,}",
                f"{result['torch_params']:,}",
                f"{result['macs']:,}",
                f"{result['reference_macs']:,}",
                result["exporter"],
                f"{result['seconds']:.1f} s",
                f"{result['peak_mib']:,.0f} MiB",
            ]
        )
    header = ["model", "params", "torch", "MACs", "FlopCounterMode", "exporter", "time", "peak"]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(f"{cell:>{width}}" for cell, width in zip(row, widths, strict=True)))
    print(f"\nparams and MACs equal the references: {'yes' if exact else 'NO'}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
