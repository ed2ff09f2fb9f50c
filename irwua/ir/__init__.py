"""The layer graph, irwua's intermediate representation: plain Python and numpy, no protobuf."""
