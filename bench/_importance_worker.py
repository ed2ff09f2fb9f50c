"""Helper for importance_resnet18.py (not a benchmark: run_all.py skips names starting with "_").

Each mode is one whole-process command the benchmark times:

    python bench/_importance_worker.py prepare     CACHE_DIR       # model, ONNX, state_dict, data
    python bench/_importance_worker.py plain-ort   MODEL DATA      # onnxruntime inference only
    python bench/_importance_worker.py irwua       MODEL DATA [N]  # analyze(passes=["metrics"])
    python bench/_importance_worker.py torch-hooks STATE DATA      # hooks collecting inputs

Each mode imports only what it needs (torch only in ``prepare`` and ``torch-hooks``) and prints
one line: ``<samples> <layers> <sum of all importances>`` (plain-ort: ``<samples> 0 0``), so the
benchmark can check that irwua and the hook approach computed the same thing.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

SEED = 0
BATCH = 64
THREADS = 2
CHANNELS, SIZE = 3, 64
CLASSES = 1000
SAMPLES = (4096, 40960)
CHUNK = 1024  # samples generated at a time (12 MiB at 3x64x64)


# --- the model (torch imported lazily, so the ORT/irwua modes never load it) -------------------


def build_resnet18():
    """ResNet-18 as in He et al. 2016 (ImageNet stem, 1000 classes): 11,689,512 parameters."""
    import torch
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class ResNet18(nn.Module):
        def __init__(self, classes: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(CHANNELS, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            widths = (64, 128, 256, 512)
            cin = 64
            for index, width in enumerate(widths, start=1):
                stride = 1 if index == 1 else 2
                layer = nn.Sequential(BasicBlock(cin, width, stride), BasicBlock(width, width, 1))
                setattr(self, f"layer{index}", layer)
                cin = width
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    torch.manual_seed(SEED)
    return ResNet18(CLASSES).eval()


def prepare(cache: Path) -> None:
    """Export the model and write the synthetic data sets into ``cache`` (skipped when present)."""
    import numpy as np
    import torch

    meta = {
        "seed": SEED,
        "input": [CHANNELS, SIZE, SIZE],
        "classes": CLASSES,
        "samples": list(SAMPLES),
        "torch": torch.__version__,
    }
    meta_path = cache / "meta.json"
    if meta_path.exists() and json.loads(meta_path.read_text()) == meta:
        return
    cache.mkdir(parents=True, exist_ok=True)
    model = build_resnet18()
    torch.save(model.state_dict(), cache / "resnet18.pt")
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # the legacy exporter's notice
    torch.onnx.export(
        model,
        (torch.zeros(1, CHANNELS, SIZE, SIZE),),
        str(cache / "resnet18.onnx"),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=True,
    )
    for samples in SAMPLES:
        rng = np.random.default_rng(SEED + samples)
        path = cache / f"data_{samples}.npy"
        out = np.lib.format.open_memmap(
            path, mode="w+", dtype=np.float32, shape=(samples, CHANNELS, SIZE, SIZE)
        )
        for start in range(0, samples, CHUNK):
            stop = min(start + CHUNK, samples)
            out[start:stop] = rng.standard_normal(
                (stop - start, CHANNELS, SIZE, SIZE), dtype=np.float32
            )
        out.flush()
        del out
    meta_path.write_text(json.dumps(meta))


# --- the timed commands -----------------------------------------------------------------------


def plain_ort(model: str, data_path: str) -> None:
    """onnxruntime inference over the data in batches of BATCH; outputs discarded. Default
    session options, as irwua's sessions: every graph optimization, one intra-op thread per
    physical core (2 here)."""
    import numpy as np
    import onnxruntime as ort

    data = np.load(data_path, mmap_mode="r")
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for start in range(0, len(data), BATCH):
        session.run(None, {name: data[start : start + BATCH]})
    print(len(data), 0, 0)


def run_irwua(model: str, data_path: str, limit: str | None = None) -> None:
    """Capture + importance + metrics through irwua's Python API (on the first ``limit`` samples:
    a slice of the memory map, not a copy)."""
    import numpy as np

    import irwua

    data = np.load(data_path, mmap_mode="r")
    if limit is not None:
        data = data[: int(limit)]
    analysis = irwua.analyze(
        model,
        data=data,
        passes=["metrics"],
        options=irwua.Options(batch_size=BATCH),
    )
    layers = analysis["importance"].layers
    total = sum(float(li.weight.sum(dtype=np.float64)) for li in layers.values())
    print(analysis["activations"].samples, len(layers), repr(total))


def torch_hooks(state: str, data_path: str) -> None:
    """The predecessors' way: hooks keep every Conv2d/Linear input, then numpy reduces them."""
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(THREADS)
    model = build_resnet18()
    model.load_state_dict(torch.load(state, weights_only=True))
    model.eval()
    collected: dict[str, list[np.ndarray]] = {}
    modules: dict[str, nn.Module] = {}

    def hook(name: str):
        def store(module, inp, out):
            collected[name].append(inp[0].detach().numpy())

        return store

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            collected[name] = []
            modules[name] = module
            module.register_forward_hook(hook(name))

    data = np.load(data_path, mmap_mode="r")
    with torch.no_grad():
        for start in range(0, len(data), BATCH):
            model(torch.from_numpy(np.array(data[start : start + BATCH])))

    total = 0.0
    for name, module in modules.items():
        x = np.concatenate(collected.pop(name))
        axes = tuple(a for a in range(x.ndim) if a != 1)
        mean_abs = np.abs(x).mean(axis=axes)
        del x
        weight = np.abs(module.weight.detach().numpy())
        shape = (1, -1) + (1,) * (weight.ndim - 2)
        importance = weight * mean_abs.reshape(shape)
        total += float(importance.sum(dtype=np.float64))
    print(len(data), len(modules), repr(total))


def main(argv: list[str]) -> int:
    mode, *args = argv
    if mode == "prepare":
        prepare(Path(args[0]))
    elif mode == "plain-ort":
        plain_ort(*args)
    elif mode == "irwua":
        run_irwua(*args)
    elif mode == "torch-hooks":
        torch_hooks(*args)
    else:
        raise SystemExit(f"unknown mode: {mode}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
