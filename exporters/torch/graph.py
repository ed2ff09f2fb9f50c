"""Tidying what the PyTorch exporters produce, without changing what the model computes.

The exporters run unoptimized, because their optimizers fold BatchNorm into convolutions and merge
equal-valued initializers (two untouched LayerNorms would share one weight), which changes the
weights and parameter counts users compare against. Instead irwua only

- folds constant subgraphs (weight transposes, an LSTM's gate reordering) into initializers, and
- drops all-zero biases the exporter made up for layers that have none (a Conv with bias=False),
  so that every stored tensor is one the model has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

import numpy as np
import onnx
from onnx import numpy_helper

_MADE_UP_BIAS_OPS = ("Conv", "ConvTranspose", "Gemm")
_NO_LIMIT = 1 << 62


def tidy(
    proto: onnx.ModelProto, values: Mapping[str, Sequence[str]], owned: Set[str]
) -> onnx.ModelProto:
    """``proto`` with constants folded and made-up zero biases dropped.

    ``values`` are the stored tensors each constant value was computed from before folding;
    ``owned`` the names of the tensors that belong to the model (a bias computed from one of them
    is kept even when it is zero).
    """
    import onnx_ir as ir
    from onnx_ir.passes.common import RemoveUnusedNodesPass
    from onnxscript.optimizer import fold_constants

    model = ir.from_proto(proto)
    fold_constants(model, input_size_limit=_NO_LIMIT, output_size_limit=_NO_LIMIT)
    tidied = ir.to_proto(model)
    stored = {tensor.name: tensor for tensor in tidied.graph.initializer}
    for node in tidied.graph.node:
        if node.op_type in _MADE_UP_BIAS_OPS and len(node.input) == 3:
            bias = stored.get(node.input[2])
            made_up = owned.isdisjoint(values.get(node.input[2], ()))
            if bias is not None and made_up and not np.any(numpy_helper.to_array(bias)):
                del node.input[2]
    model = ir.from_proto(tidied)
    RemoveUnusedNodesPass()(model)
    return ir.to_proto(model)
