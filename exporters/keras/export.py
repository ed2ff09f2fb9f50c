"""The Keras / TensorFlow front-end: a model becomes ONNX named after its Keras layers.

tf2onnx's ``from_keras`` does not work with Keras 3, so the model's inference call
(``training=False``) is wrapped in a ``tf.function`` and converted with ``from_function``; a
SavedModel is converted through its ``serving_default`` signature. Inputs keep TensorFlow's layout
(channels last): tf2onnx transposes inside the graph, so the user's data fits as it is.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from irwua.errors import IrwuaError, root_reason
from irwua.exporters.keras.names import KerasNames, is_batchnorm
from irwua.exporters.loaded import LoadedModel
from irwua.exporters.quiet import quiet
from irwua.ingest.model_file import check_model_path
from irwua.ir.source import ModelSource

OPSET = 17


def load_tensorflow(model: Any, example: Any, trust_code: bool = False) -> LoadedModel:
    """Convert a Keras model, tf.Module, ``.keras`` file or SavedModel directory to ONNX."""
    with quiet():
        tf2onnx = _require_tf2onnx()
        path = Path(model) if isinstance(model, (str, os.PathLike)) else None
        if path is not None:
            model = _load_file(path, trust_code)
        function, specs, naming, params = _traced(model, example)
        try:
            with _as_written():
                proto, _ = tf2onnx.convert.from_function(
                    function, input_signature=specs, opset=OPSET
                )
        except Exception as exc:  # tf2onnx and TensorFlow raise many types
            raise IrwuaError(
                f"tf2onnx could not convert the model to ONNX ({root_reason(exc)}); check that "
                "the model runs in a tf.function, or convert it yourself and analyze the .onnx "
                "file."
            ) from exc
    _freeze_captured_tensors(proto, function.get_concrete_function(*specs))
    _name_batch_axis(proto)
    names, layer_notes = naming.name_nodes(proto.graph)
    notes = []
    zeros = _dropped_zero_values(model, proto.graph)
    if zeros:
        notes.append(
            f"tf2onnx drops additions of all-zero tensors, so the graph does not store the {zeros} "
            "parameters whose values are all zero (such as the biases of an untrained layer)."
        )
    if naming.by_value:
        layers = ", ".join(f"'{name}'" for name in sorted(naming.by_value))
        notes.append(
            f"The statistics that {layers} hold (a Normalization layer's mean and variance) are "
            "constants in the graph, which irwua counts as parameters; Keras counts adapted "
            "statistics as non-trainable weights (with a sample count the graph does not use) and "
            "statistics given to the layer's constructor not at all."
        )
    extra = _second_lstm_biases(proto.graph, names)
    if extra:
        listed = ", ".join(f"'{name}' {count:,}" for name, count in extra.items())
        notes.append(
            "ONNX's LSTM stores an input and a recurrent bias where Keras' LSTM has one, so irwua "
            f"counts more numbers than Keras for these layers ({listed}: the recurrent half, "
            "which tf2onnx fills with zeros)."
        )
    norms = [int(layer.count_params()) for layer in _batchnorm_layers(model)]
    if norms:
        notes.append(
            f"tf2onnx turns each of the {len(norms)} BatchNormalization layers into a per-channel "
            "scale and shift, the scale folded into the preceding convolution where it can, so "
            f"the graph stores at most half of the {sum(norms):,} numbers Keras counts for them "
            "(gamma, beta, moving mean and variance)."
        )
    return LoadedModel(
        source=ModelSource.of_file(proto, path),
        framework="tensorflow",
        layer_names=names,
        layer_notes=layer_notes,
        notes=tuple(notes),
        framework_params=params,
        exporter="tf2onnx",
    )


def _traced(model: Any, example: Any) -> tuple[Any, list[Any], KerasNames, int]:
    """The function to convert, its input signature, the names of its layers and the
    framework's parameter count (Keras' ``count_params()``, else the floating-point variables)."""
    if hasattr(model, "count_params") and hasattr(model, "weights"):
        function, specs = _keras_function(model, example)
        naming = KerasNames.for_keras(model, function.get_concrete_function(*specs))
        return function, specs, naming, int(model.count_params())
    if getattr(model, "signatures", None):
        function, specs = _signature_function(model)
        naming = KerasNames.for_variables(_variables(model))
    else:
        function, specs = _module_function(model, example)
        naming = KerasNames.for_module(model, function.get_concrete_function(*specs))
    params = sum(int(np.prod(v.shape)) for v in _variables(model) if v.dtype.is_floating)
    return function, specs, naming, params


def _variables(model: Any) -> tuple[Any, ...]:
    """The model's variables; a SavedModel restored without its Python class (a plain
    tf.Module) has them only through the variables its serving signature captures."""
    variables = getattr(model, "variables", None)
    if variables is None and getattr(model, "signatures", None):
        variables = model.signatures.get("serving_default").variables
    return tuple(variables or ())


def _dropped_zero_values(model: Any, graph: onnx.GraphProto) -> int:
    """Elements of the model's all-zero floating-point variables that the graph does not store
    (tf2onnx removes additions of zeros; a zero tensor it keeps, as a Loop's input, is matched
    by size). BatchNormalization variables are left to the BatchNorm note."""
    norms = {id(v) for layer in _batchnorm_layers(model) for v in layer.weights}
    variables = [v for v in _variables(model) if id(v) not in norms]
    values = (np.asarray(variable.numpy()) for variable in variables)
    missing = Counter(v.size for v in values if v.dtype.kind == "f" and v.size and not v.any())
    for tensor in graph.initializer:
        size = math.prod(tensor.dims)
        floats = tensor.data_type == onnx.TensorProto.FLOAT
        if missing[size] and floats and not onnx.numpy_helper.to_array(tensor).any():
            missing[size] -= 1
    return sum(size * count for size, count in missing.items())


def _second_lstm_biases(graph: onnx.GraphProto, names: Mapping[str, str]) -> dict[str, int]:
    """Per Keras layer, the size of the recurrent biases of its ONNX LSTM ops (Keras has none)."""
    sizes = {t.name: math.prod(t.dims) for t in graph.initializer}
    extra: dict[str, int] = {}
    for node in graph.node:
        if node.op_type == "LSTM" and len(node.input) > 3 and node.input[3] in sizes:
            layer = names.get(node.name, node.name)
            extra[layer] = extra.get(layer, 0) + sizes[node.input[3]] // 2
    return extra


def _batchnorm_layers(model: Any) -> list[Any]:
    """The BatchNormalization layers of a Keras model (none for other TensorFlow models)."""
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is None:
        return []
    layers = flatten(include_self=False, recursive=True)
    return [layer for layer in layers if is_batchnorm(layer)]


@contextmanager
def _as_written() -> Iterator[None]:
    """Convert the model's ops as they are, so that the layers and their names do not depend on
    the weights' values: without TensorFlow's constant folding (grappler's, which removes
    additions of all-zero tensors and pushes BatchNorm scales into convolutions, so an untrained
    model has other layers than the same model after one training step) and without tf2onnx's
    merging of identical constants (an untrained model's BatchNorms hold identical vectors:
    one layer would read another's tensor and take its name)."""
    from tensorflow.python.grappler import tf_optimizer
    from tf2onnx.optimizer import _optimizers as optimizers

    optimize = tf_optimizer.OptimizeGraph

    def without_folding(config: Any, *args: Any, **kwargs: Any) -> Any:
        chosen = config.graph_options.rewrite_options.optimizers
        kept = [name for name in chosen if name != "constfold"]
        del chosen[:]
        chosen.extend(kept)
        return optimize(config, *args, **kwargs)

    merge = optimizers.pop("merge_duplication", None)
    tf_optimizer.OptimizeGraph = without_folding
    try:
        yield
    finally:
        tf_optimizer.OptimizeGraph = optimize
        if merge is not None:
            optimizers["merge_duplication"] = merge


def _require_tf2onnx() -> Any:
    """tf2onnx (with TensorFlow), or an error that says how to install them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    try:
        import tf2onnx
    except ImportError as exc:
        raise IrwuaError(
            f"Analyzing a TensorFlow model needs tensorflow and tf2onnx ({root_reason(exc)}); "
            "install them with: pip install 'irwua[tensorflow]'."
        ) from exc
    return tf2onnx


def _load_file(path: Path, trust_code: bool) -> Any:
    import keras
    import tensorflow as tf

    check_model_path(path)
    if path.is_dir() and not trust_code:
        raise IrwuaError(
            f"'{path}' is a TensorFlow SavedModel, whose loading runs the TensorFlow ops it "
            "stores (they can read and write files); pass --trust-code (trust_code=True in "
            "Python) if you trust where it came from, or convert it to ONNX yourself."
        )
    try:
        if path.is_dir():
            return tf.saved_model.load(str(path))
        return keras.models.load_model(path, compile=False, safe_mode=not trust_code)
    except Exception as exc:  # Keras and TensorFlow raise many types for unreadable files
        hint = ""
        if "safe_mode" in str(exc):
            hint = " (it holds Python code such as a Lambda layer; --trust-code allows it)"
        raise IrwuaError(f"TensorFlow cannot load '{path}': {root_reason(exc)}{hint}.") from exc


def _keras_function(model: Any, example: Any) -> tuple[Any, list[Any]]:
    """The model's inference call as a tf.function and the input signature to trace it with."""
    import tensorflow as tf

    inputs = getattr(model, "inputs", None)
    if inputs:
        specs = [
            tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype, name=_input_name(tensor, i))
            for i, tensor in enumerate(inputs)
        ]
        keys = None
    elif example is not None:
        keys, arrays = _example_arrays(example)
        specs = [
            tf.TensorSpec((None, *array.shape[1:]), _spec_dtype(array), name=name)
            for name, array in arrays.items()
        ]
    else:
        raise IrwuaError(
            "This Keras model does not declare its inputs, so irwua needs sample input to trace "
            "it: pass data (an array, a list or a dict of arrays; --data on the command line)."
        )

    def call(*tensors: Any) -> Any:
        if keys is not None:
            return model(dict(zip(keys, tensors, strict=True)), training=False)
        return model(tensors[0] if len(tensors) == 1 else list(tensors), training=False)

    return tf.function(call), specs


def _signature_function(saved: Any) -> tuple[Any, list[Any]]:
    """A SavedModel's ``serving_default`` signature as a tf.function and its input signature."""
    import tensorflow as tf

    signature = saved.signatures.get("serving_default")
    if signature is None:
        raise IrwuaError(
            "This SavedModel has no 'serving_default' signature to convert; save it with "
            "tf.saved_model.save(..., signatures=...) or pass the Keras model itself."
        )
    _, by_name = signature.structured_input_signature
    names = list(by_name)
    specs = [tf.TensorSpec(by_name[n].shape, by_name[n].dtype, name=n) for n in names]
    return tf.function(lambda *xs: signature(**dict(zip(names, xs, strict=True)))), specs


def _module_function(module: Any, example: Any) -> tuple[Any, list[Any]]:
    """A tf.Module's ``__call__`` as a tf.function, with its own input signature or one made
    from the data."""
    import tensorflow as tf

    if not callable(module):
        raise IrwuaError(
            f"This {type(module).__name__} has no __call__ to convert; give it one, or pass "
            "the Keras model itself."
        )
    call = module.__call__
    specs = getattr(call, "input_signature", None)
    if specs is None and example is not None:
        _, arrays = _example_arrays(example)
        specs = [
            tf.TensorSpec((None, *a.shape[1:]), _spec_dtype(a), name=n) for n, a in arrays.items()
        ]
    if specs is None:
        raise IrwuaError(
            "This tf.Module's __call__ declares no input_signature, so irwua needs sample input "
            "to trace it: pass data (an array, a list or a dict of arrays)."
        )
    function = call if hasattr(call, "get_concrete_function") else tf.function(call)
    return function, list(specs)


def _example_arrays(example: Any) -> tuple[list[str] | None, dict[str, np.ndarray]]:
    """Input names (dict keys, or None for positional data) and the data's arrays by name."""
    if isinstance(example, dict):
        return list(map(str, example)), {str(k): np.asarray(v) for k, v in example.items()}
    if isinstance(example, (list, tuple)):
        return None, {f"input_{i}": np.asarray(v) for i, v in enumerate(example)}
    return None, {"input": np.asarray(example)}


def _spec_dtype(array: np.ndarray) -> Any:
    import tensorflow as tf

    if array.dtype.kind == "f":
        return tf.float32
    return tf.int64 if array.dtype.kind in "iu" else tf.as_dtype(array.dtype)


def _input_name(tensor: Any, index: int) -> str:
    name = getattr(tensor, "name", "") or f"input_{index}"
    return name.split(":")[0]


def _freeze_captured_tensors(proto: onnx.ModelProto, concrete: Any) -> None:
    """Make the tensors the traced function captured by value (a ``Normalization`` layer's mean
    and variance) constants: tf2onnx lists them among the graph's inputs, where they would
    have to be fed with every sample."""
    import tensorflow as tf

    values = {
        internal.name: external
        for external, internal in concrete.graph.captures
        if internal.dtype != tf.resource and hasattr(external, "numpy")
    }
    graph = proto.graph
    frozen = [vi for vi in graph.input if vi.name in values]
    for vi in frozen:
        graph.input.remove(vi)
        graph.initializer.append(onnx.numpy_helper.from_array(values[vi.name].numpy(), vi.name))


def _name_batch_axis(proto: onnx.ModelProto) -> None:
    """Rename tf2onnx's symbol for the batch axis (``unk__25``) to "batch", which irwua divides
    its per-sample counts by."""
    graph = proto.graph
    inputs = [vi for vi in graph.input if vi.type.tensor_type.shape.dim]
    if not inputs:
        return
    symbol = inputs[0].type.tensor_type.shape.dim[0].dim_param
    if not symbol:
        return
    for vi in (*graph.input, *graph.output, *graph.value_info):
        for dim in vi.type.tensor_type.shape.dim:
            if dim.dim_param == symbol:
                dim.dim_param = "batch"
