"""Front-ends that turn framework models (torch, Keras/TensorFlow) into ONNX for irwua."""
