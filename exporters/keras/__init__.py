"""The Keras / TensorFlow front-end: a model or SavedModel converted by tf2onnx, its layers
named after the Keras layers."""
