"""mmkeras: multimodal models in TensorFlow/Keras.

Subpackages, in import order: `layers`, `preprocessing`, `encoders`,
`models`, `data`, `training`, `export`.
"""

from mmkeras import data
from mmkeras import encoders
from mmkeras import export
from mmkeras import layers
from mmkeras import models
from mmkeras import preprocessing
from mmkeras import training

__version__ = "0.1.0"

__all__ = [
    "data",
    "encoders",
    "export",
    "layers",
    "models",
    "preprocessing",
    "training",
]
