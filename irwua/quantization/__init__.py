"""Quantized copies of a model, made with onnxruntime's quantization tools."""
