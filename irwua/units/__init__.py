"""Units (neurons, channels) across layers: which unit feeds which input feature, and the K best
paths through them."""
