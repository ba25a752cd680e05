"""Serving a version's `model.tflite` with the LiteRT interpreter.

With --prefer_tflite_model, TensorFlow Serving runs `<version>/model.tflite`
instead of the SavedModel when the file exists. The servable built here
has the interface the request path uses for SavedModels (see
`session_servable.SessionSignature`): `signatures` maps each signature key
to an object with `input_specs`, `output_specs` and `run(inputs,
output_aliases)` on numpy arrays, so inputs are checked the same way, and
`signature_defs` describes them for GetModelMetadata.

An interpreter is not thread-safe and its signature runners share its
tensors, so every call on one interpreter holds that interpreter's lock.
"""

import threading

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from tensorflow.core.protobuf import meta_graph_pb2

TFLITE_FILENAME = "model.tflite"
PREDICT_METHOD = "tensorflow/serving/predict"


class TfliteSignature:
    """One signature of a LiteRT model, run like a `SessionSignature`.

    Args:
        runner: ai_edge_litert SignatureRunner.
        lock: threading.Lock. Shared by all signatures of one interpreter.
    """

    def __init__(self, runner, lock):
        self._runner = runner
        self._lock = lock
        self.input_specs = _tensor_specs(runner.get_input_details())
        self.output_specs = _tensor_specs(runner.get_output_details())
        self.feed_names = {
            name: detail["name"]
            for name, detail in runner.get_input_details().items()
        }
        # A TFLite model has no default input values.
        self.defaults = {}

    def run(self, inputs, output_aliases):
        """Runs the model; returns the outputs in `output_aliases`."""
        arrays = {name: np.asarray(value) for name, value in inputs.items()}
        with self._lock:
            outputs = self._runner(**arrays)
            # Outputs may alias interpreter buffers that the next call
            # overwrites: copy them before releasing the lock.
            return {name: np.array(outputs[name]) for name in output_aliases}

    def __call__(self, **inputs):
        """Runs the model for every output; inputs by keyword."""
        return self.run(inputs, tuple(sorted(self.output_specs)))


def load_tflite_model(path):
    """Loads a `.tflite` file.

    Returns:
        (signatures, signature_defs, interpreter): the callables by key, the
        SignatureDefs by key, and the interpreter they run on.

    Raises:
        ValueError: if the file does not load or has no signature.
    """
    try:
        interpreter = Interpreter(model_path=path)
    except (RuntimeError, ValueError) as error:
        raise ValueError(
            f"Cannot load TFLite model {path!r}: {error}"
        ) from error
    keys = sorted(interpreter.get_signature_list())
    if not keys:
        raise ValueError(
            f"TFLite model {path!r} has no signatures. Convert it with "
            "tf.lite.TFLiteConverter.from_saved_model so that the "
            "SavedModel's signatures are kept."
        )
    lock = threading.Lock()
    signatures = {
        key: TfliteSignature(interpreter.get_signature_runner(key), lock)
        for key in keys
    }
    signature_defs = {
        key: _signature_def(signature) for key, signature in signatures.items()
    }
    return signatures, signature_defs, interpreter


def _tensor_specs(details):
    return {
        name: tf.TensorSpec(
            _shape(detail["shape_signature"]), _dtype(detail["dtype"]), name
        )
        for name, detail in details.items()
    }


def _shape(shape_signature):
    # LiteRT marks a dynamic dimension (e.g. the batch) with -1.
    return [None if size < 0 else int(size) for size in shape_signature]


def _dtype(numpy_type):
    # LiteRT reports string tensors as numpy bytes/object types.
    if numpy_type in (np.bytes_, np.object_, np.str_):
        return tf.string
    return tf.as_dtype(numpy_type)


def _signature_def(signature):
    signature_def = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
    _fill_tensor_infos(signature_def.inputs, signature.input_specs)
    _fill_tensor_infos(signature_def.outputs, signature.output_specs)
    return signature_def


def _fill_tensor_infos(tensor_infos, specs):
    for name, spec in specs.items():
        info = tensor_infos[name]
        info.name = name
        info.dtype = spec.dtype.as_datatype_enum
        info.tensor_shape.CopyFrom(spec.shape.as_proto())
