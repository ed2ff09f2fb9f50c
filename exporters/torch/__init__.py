"""The PyTorch front-end: a module or saved file exported to ONNX, its layers named after the
module paths."""
