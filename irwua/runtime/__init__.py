"""Running models in onnxruntime: sessions on weightless copies, instrumented copies that reduce
activations in the graph, and fidelity of one model's outputs to another's."""
