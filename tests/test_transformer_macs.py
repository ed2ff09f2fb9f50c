"""MACs and parameters of a BERT-base-shaped encoder exported from PyTorch.

12 x nn.TransformerEncoderLayer(d_model=768, nhead=12, dim_feedforward=3072), batch 1, sequence
128: about 11.17 GMACs, of which the two attention matmuls (Q @ K^T and softmax @ V, both operands
activations) are 0.3 GMACs.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import pytest

import irwua

D_MODEL, HEADS, FF, LAYERS, SEQ = 768, 12, 3072, 12, 128
HEAD_DIM = D_MODEL // HEADS

QKV_MACS = 3 * SEQ * D_MODEL * D_MODEL
OUT_PROJ_MACS = SEQ * D_MODEL * D_MODEL
FF_MACS = 2 * SEQ * D_MODEL * FF
SCORES_MACS = HEADS * SEQ * SEQ * HEAD_DIM  # Q @ K^T
CONTEXT_MACS = HEADS * SEQ * SEQ * HEAD_DIM  # softmax(scores) @ V
REFERENCE_MACS = LAYERS * (QKV_MACS + OUT_PROJ_MACS + FF_MACS + SCORES_MACS + CONTEXT_MACS)
ATTENTION_MACS = LAYERS * (SCORES_MACS + CONTEXT_MACS)


@dataclass(frozen=True)
class Exported:
    path: Path
    torch_params: int
    exporter: str
    export_seconds: float
    analysis: dict[str, Any]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Exported:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    torch.set_num_threads(2)
    layer = torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, FF, dropout=0.1, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False).eval()
    # nn.TransformerEncoder deep-copies one layer, so all 12 start with identical weights, and
    # the LayerNorm weights (ones) and attention biases (zeros) repeat within a layer too. The
    # exporters store identical tensors once (the TorchScript one shares a single copy between
    # all 12 layers; the dynamo optimizer shares norm1/norm2 and drops the all-zero out_proj
    # bias), and irwua rightly counts a stored tensor once, so the totals would differ from
    # PyTorch's count for reasons that have nothing to do with irwua. Distinct random values
    # leave nothing to share.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.02)
    example = torch.randn(1, SEQ, D_MODEL)
    path = tmp_path_factory.mktemp("encoder") / "encoder.onnx"
    start = time.perf_counter()
    with warnings.catch_warnings():
        # torch's own deprecation noise (pytree LeafSpec, the TorchScript exporter).
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        exporter = _export(torch, model, example, path)
    export_seconds = time.perf_counter() - start
    analysis = irwua.analyze(str(path), passes=["flops"]).to_dict()
    return Exported(
        path=path,
        torch_params=sum(p.numel() for p in model.parameters()),
        exporter=exporter,
        export_seconds=export_seconds,
        analysis=analysis,
    )


def _export(torch, model, example, path: Path) -> str:
    """Export with the default exporter, or the TorchScript one if that fails; return which."""
    try:
        # The default exporter (torch.export + onnxscript): about 9 s here on 2 cores, and its
        # graph has static shapes, so irwua needs no onnxruntime run to resolve them.
        torch.onnx.export(model, (example,), path, dynamo=True, verbose=False)
        return "dynamo"
    except Exception:
        # The TorchScript exporter: about 6 s, but its dynamic Reshape targets make irwua run
        # the model once in onnxruntime to find shapes (about 5 s more).
        torch.onnx.export(model, (example,), path, dynamo=False)
        return "torchscript"


def test_total_macs_match_reference(encoder):
    print(f"\nexporter: {encoder.exporter}, export took {encoder.export_seconds:.1f} s")
    totals = encoder.analysis["totals"]
    print(f"irwua MACs {totals['macs']:,}, reference {REFERENCE_MACS:,}")
    assert REFERENCE_MACS == 11_173_625_856
    assert totals["macs"] == pytest.approx(REFERENCE_MACS, rel=0.02)
    assert encoder.analysis["flops"]["unsupported"] == {}
    assert encoder.analysis["flops"]["unresolved"] == {}


def _activation_matmuls(model: onnx.ModelProto) -> list[str]:
    """Names of the MatMul nodes whose two operands both depend on the model input."""
    graph = model.graph
    constant = {init.name for init in graph.initializer}
    for node in graph.node:  # topologically sorted
        if all(name in constant for name in node.input if name):
            constant.update(node.output)
    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and not any(name in constant for name in node.input)
    ]


def test_attention_matmuls_counted(encoder):
    names = _activation_matmuls(onnx.load(str(encoder.path), load_external_data=False))
    assert len(names) == 2 * LAYERS
    macs = {node["name"]: node["macs"] for node in encoder.analysis["flops"]["nodes"]}
    assert set(names) <= set(macs)
    attention = sum(macs[name] for name in names)
    print(f"\nattention matmuls: irwua {attention:,} MACs, reference {ATTENTION_MACS:,}")
    assert attention == pytest.approx(ATTENTION_MACS, rel=0.02)
    assert all(macs[name] == SCORES_MACS for name in names)


def test_params_match_torch(encoder):
    # Every parameter lands in a weighted layer: the Linear/in_proj weights (transposed by the
    # exporter, same size) in MatMul/Gemm layers with their bias Adds, and both LayerNorms'
    # weight and bias in LayerNormalization layers. With distinct weights (see the fixture)
    # nothing is shared or folded away, so the counts agree exactly; 0.1% is the brief's margin.
    layers = encoder.analysis["layers"]
    layer_params = sum(layer.get("params", 0) for layer in layers)
    print(f"\nparams: irwua layers {layer_params:,}, torch {encoder.torch_params:,}")
    assert layer_params == pytest.approx(encoder.torch_params, rel=1e-3)
    assert encoder.analysis["totals"]["params"] == pytest.approx(encoder.torch_params, rel=1e-3)
    norm_params = sum(
        layer["params"] for layer in layers if layer["op_type"] == "LayerNormalization"
    )
    assert norm_params == LAYERS * 2 * 2 * D_MODEL
