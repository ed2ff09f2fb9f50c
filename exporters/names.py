"""Naming ONNX nodes after the framework layers that own the tensors they read.

A node is named after the owner of its largest learned tensor (a torch module path, a Keras layer
name); a node with no owned tensor is named after the layer whose scope it was exported in. A
tensor shared by several layers (tied embeddings: ``transformer.wte`` and ``lm_head``) has several
owners, and each node that reads it is named after the owner it was exported in. When a
node also reads a normalization layer's tensors, or was exported in a normalization layer's scope,
the exporter folded that BatchNorm into it, and the node gets a note saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

import onnx

Owners = Callable[[str], Sequence[str]]


def name_nodes(
    nodes: Iterable[tuple[str, onnx.NodeProto]],
    sources: Mapping[str, Sequence[str]],
    sizes: Mapping[str, int],
    tensor_owners: Owners,
    scope_owner: Callable[[onnx.NodeProto], str | None],
    norms: Collection[str],
) -> tuple[dict[str, str], dict[str, str]]:
    """``(layer_names, layer_notes)``: node name -> framework name, and -> a fold note.

    ``nodes`` pairs each node with the name irwua gives it (``irwua.ingest.build.named_nodes``),
    by which the results and ``sources`` are keyed. ``sources`` lists the stored tensors each
    node reads (in input order), ``sizes`` their element counts, ``tensor_owners`` names the
    layers owning a tensor (the first is its home, the others share it), ``scope_owner`` the
    layer a node was exported in, and ``norms`` are the names of the framework's BatchNorm
    layers.
    """
    names: dict[str, str] = {}
    notes: dict[str, str] = {}
    for name, node in nodes:
        tensors = sorted(sources.get(name, ()), key=lambda t: -sizes.get(t, 0))
        scope = scope_owner(node)
        owners = list(dict.fromkeys(_owner(tensor_owners(t), scope) for t in tensors))
        owners = [owner for owner in owners if owner]
        primary = owners[0] if owners else scope
        if primary is None:
            continue
        names[name] = primary
        folded = dict.fromkeys(o for o in (*owners[1:], scope) if o in norms and o != primary)
        if folded:
            notes[name] = "; ".join(f"BatchNorm '{o}' folded into this layer" for o in folded)
    return names, notes


def _owner(owners: Sequence[str], scope: str | None) -> str | None:
    """The owner a node reading a tensor uses: the one it was exported in, else the first."""
    if scope in owners:
        return scope
    return owners[0] if owners else None
