"""irwua's analysis passes; importing this package registers them (one pass per module)."""

from irwua.passes import activations, flops, importance, metrics

__all__ = ["activations", "flops", "importance", "metrics"]
