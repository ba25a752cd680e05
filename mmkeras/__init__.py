"""mmkeras: multimodal models in TensorFlow/Keras.

Subpackages, in import order: `mmkeras.layers`, `mmkeras.preprocessing`,
`mmkeras.encoders`, `mmkeras.models`, `mmkeras.data`, `mmkeras.training`,
`mmkeras.export`. They are not imported here: importing TensorFlow takes
seconds, and the `mmkeras` command imports only what a subcommand needs.
"""

__version__ = "0.1.0"
