"""From an ONNX file to the layer graph: reading the model, folding its constants, recognising
its layers and working out every tensor's shape."""
