"""irwua's analysis passes; importing this package registers them (one pass per module)."""

from irwua.passes import flops

__all__ = ["flops"]
