"""mmkeras: multimodal models in TensorFlow/Keras."""

__version__ = "0.1.0"
