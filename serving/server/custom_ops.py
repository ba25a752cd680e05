"""Registers the custom op libraries that served models may use.

The official TensorFlow Serving binary links in the TF Text ops so that
SavedModels with in-graph tokenizers load; importing tensorflow_text does
the same for this process. Loading a SavedModel that needs an op nobody
registered fails with "Op type not registered", so this runs first.

A TFLite model's tokenizer runs TF Text's TFLite kernels, custom ops that
each LiteRT interpreter registers through `tflite_op_registerers()`.
TensorFlow Serving's TFLite runtime registers only the builtins and
ParseExample, so it cannot load such a model; this server can.
"""

import importlib
import logging

logger = logging.getLogger(__name__)

OP_LIBRARIES = ("tensorflow_text",)


def register_custom_ops():
    """Imports each op library that is installed; returns the ones loaded."""
    loaded = []
    for module_name in OP_LIBRARIES:
        try:
            importlib.import_module(module_name)
        except ImportError as error:
            logger.warning(
                "Custom ops from %s unavailable: %s", module_name, error
            )
            continue
        loaded.append(module_name)
    return loaded


def tflite_op_registerers():
    """Functions that add TF Text's TFLite kernels to an op resolver.

    For LiteRT's `InterpreterWithCustomOps(custom_op_registerers=...)`;
    empty when tensorflow_text is not installed.
    """
    try:
        from tensorflow_text import tflite_registrar
    except ImportError as error:
        logger.warning("TF Text's TFLite ops unavailable: %s", error)
        return []
    return list(tflite_registrar.SELECT_TFTEXT_OPS)
