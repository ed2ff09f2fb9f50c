"""irwua's analysis passes, one pass per module.

A module registers its pass when imported; ``irwua.pipeline`` imports a module only when its pass
is asked for, so that running the FLOPs pass alone stays fast.
"""

BUILTIN = {
    "flops": "irwua.passes.flops",
    "activations": "irwua.passes.activations",
    "importance": "irwua.passes.importance",
    "metrics": "irwua.passes.metrics",
    "pruning": "irwua.passes.pruning",
    "recommendations": "irwua.passes.recommendations",
    "pathways": "irwua.passes.pathways",
}
"""Built-in pass name -> the module that registers it."""
