"""Serving a version's `model.tflite` with the LiteRT interpreter.

With --prefer_tflite_model, TensorFlow Serving runs `<version>/model.tflite`
instead of the SavedModel when the file exists. The servable built here
has the interface the request path uses for SavedModels (see
`session_servable.SessionSignature`): `signatures` maps each signature key
to an object with `input_specs`, `output_specs`, `feed_names`, `defaults`
and `run(inputs, output_aliases)` on numpy arrays, so inputs are checked
the same way, and `signature_defs` describes them for GetModelMetadata.

Where the signatures come from, first found first:

1. SignatureDefs stored in the model's metadata under
   "signature_defs_metadata" (what TensorFlow Serving reads, written by
   tools such as TFLite's signature_def_util): their tensor names ("x:0")
   are matched to the model's input and output tensors, by the full name
   or by the part before ":" (the older converters' names);
2. the model's own TFLite signatures (`from_saved_model` writes them),
   run by LiteRT's signature runners; TensorFlow Serving ignores these
   and serves such a model as in 3, so this is a difference, kept because
   the signatures' names are the SavedModel's;
3. none (older converters, `from_session`, `from_frozen_graph`): one
   `serving_default` predict signature over the model's input and output
   tensors, each named by its tensor name up to any ":", as in TensorFlow
   Serving.

Signatures of 1 and 3 feed and fetch the main subgraph's tensors by index,
resizing an input to the request's shape when it differs, as TensorFlow
Serving's TfLiteSession does. A model that cannot run a request's shapes
is INTERNAL, TensorFlow Serving's code for a failed resize or invoke.

An interpreter is not thread-safe and its signatures share its tensors,
so every call on one interpreter holds that interpreter's lock; with
several interpreters (--num_tflite_pools), each call takes a free one.
"""

import copy
import queue
import threading

import numpy as np
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import InterpreterWithCustomOps
from flatbuffers import flexbuffers
from google.protobuf import message
from tensorflow.core.protobuf import meta_graph_pb2

from serving.server import errors
from serving.server.custom_ops import tflite_op_registerers
from serving.server.session_servable import signature_defaults

TFLITE_FILENAME = "model.tflite"
PREDICT_METHOD = tf.saved_model.PREDICT_METHOD_NAME
DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
# The metadata entry TFLite's signature_def_util writes SignatureDefs to.
SIGNATURE_DEFS_METADATA = b"signature_defs_metadata"


class TfliteSignature:
    """One TFLite signature of a LiteRT model, run by its signature runner.

    Args:
        runner: ai_edge_litert SignatureRunner.
        lock: threading.Lock. Shared by all signatures of one interpreter.
    """

    def __init__(self, runner, lock):
        self._runner = runner
        self._lock = lock
        details = runner.get_input_details()
        self.input_specs = _tensor_specs(details)
        self.output_specs = _tensor_specs(runner.get_output_details())
        self.feed_names = {
            name: detail["name"] for name, detail in details.items()
        }
        self.defaults = {}

    def run(self, inputs, output_aliases):
        """Runs the model; returns the outputs in `output_aliases`.

        Raises:
            ServingError: INTERNAL if the model cannot run these inputs.
        """
        arrays = {name: np.asarray(value) for name, value in inputs.items()}
        with self._lock:
            try:
                outputs = self._runner(**arrays)
            except (RuntimeError, ValueError) as error:
                raise _invoke_failed(error) from error
            # Outputs may alias interpreter buffers that the next call
            # overwrites: copy them before releasing the lock.
            return {name: np.array(outputs[name]) for name in output_aliases}

    def __call__(self, **inputs):
        """Runs the model for every output; inputs by keyword."""
        return self.run(inputs, tuple(sorted(self.output_specs)))


class TfliteTensorSignature:
    """A signature over the main subgraph's tensors, fed and fetched by
    index.

    Args:
        model: _Tensors. The interpreter, its lock and tensor shapes.
        signature_def: SignatureDef whose TensorInfo names are the model's
            input and output tensor names.
    """

    def __init__(self, model, signature_def):
        self._model = model
        self._inputs = {
            alias: model.inputs[info.name]
            for alias, info in signature_def.inputs.items()
        }
        self._outputs = {
            alias: model.outputs[info.name]
            for alias, info in signature_def.outputs.items()
        }
        self.input_specs = _tensor_specs(self._inputs)
        self.output_specs = _tensor_specs(self._outputs)
        self.feed_names = {
            alias: info.name for alias, info in signature_def.inputs.items()
        }
        self.defaults = signature_defaults(signature_def)

    def run(self, inputs, output_aliases):
        """Runs the model; returns the outputs in `output_aliases`.

        Raises:
            ServingError: INTERNAL if the model cannot run these inputs.
        """
        feeds = {**self.defaults, **inputs}
        indices = {
            self._inputs[alias]["index"]: feeds[alias] for alias in feeds
        }
        fetches = {
            alias: self._outputs[alias]["index"] for alias in output_aliases
        }
        return self._model.run(indices, fetches)

    def __call__(self, **inputs):
        """Runs the model for every output; inputs by keyword."""
        arrays = {
            alias: np.asarray(
                value, self.input_specs[alias].dtype.as_numpy_dtype
            )
            for alias, value in inputs.items()
        }
        return self.run(arrays, tuple(sorted(self.output_specs)))


class _Tensors:
    """The main subgraph of an interpreter, run by tensor index.

    Args:
        interpreter: ai_edge_litert Interpreter, tensors allocated.
        lock: threading.Lock. Held for every call.
    """

    def __init__(self, interpreter, lock):
        self._interpreter = interpreter
        self._lock = lock
        self.inputs = _details_by_name(interpreter.get_input_details())
        self.outputs = _details_by_name(interpreter.get_output_details())
        # The shape each input is allocated for, to resize only on change.
        self._shapes = {
            detail["index"]: tuple(detail["shape"])
            for detail in self.inputs.values()
        }

    def run(self, feeds, fetches):
        """feeds: {input index: array}; fetches: {alias: output index}."""
        with self._lock:
            try:
                self._resize(feeds)
                for index, array in feeds.items():
                    self._interpreter.set_tensor(index, array)
                self._interpreter.invoke()
            except (RuntimeError, ValueError) as error:
                # The next call resizes and allocates again from scratch.
                self._shapes.clear()
                raise _invoke_failed(error) from error
            return {
                alias: self._interpreter.get_tensor(index)
                for alias, index in fetches.items()
            }

    def _resize(self, feeds):
        resized = [
            index
            for index, array in feeds.items()
            if self._shapes.get(index) != array.shape
        ]
        for index in resized:
            self._interpreter.resize_tensor_input(index, feeds[index].shape)
            self._shapes[index] = feeds[index].shape
        if resized:
            self._interpreter.allocate_tensors()


def load_tflite_model(path, num_interpreters=1):
    """Loads a `.tflite` file into `num_interpreters` interpreters.

    With more than one, each request takes a free interpreter (waiting for
    one if all are busy), so that requests run in parallel, as in
    TensorFlow Serving's pool of --num_tflite_pools interpreters.

    Returns:
        (signatures, signature_defs, interpreters): the callables by key,
        the SignatureDefs by key, and the list of interpreters they run on.

    Raises:
        ValueError: if the file does not load, or its metadata holds
            SignatureDefs that do not parse or name unknown tensors.
    """
    interpreters = [_interpreter(path) for _ in range(max(num_interpreters, 1))]
    with open(path, "rb") as model_file:
        metadata_signature_defs = _metadata_signature_defs(model_file.read())
    loaded = [
        _signatures(interpreter, metadata_signature_defs)
        for interpreter in interpreters
    ]
    signatures, signature_defs = loaded[0]
    if len(loaded) > 1:
        pool = queue.SimpleQueue()
        for index in range(len(loaded)):
            pool.put(index)
        signatures = {
            key: PooledSignature(pool, [each[key] for each, _ in loaded])
            for key in signatures
        }
    return signatures, signature_defs, interpreters


class PooledSignature:
    """One signature over a pool of interpreters; a call runs on one that
    is free.

    Args:
        pool: queue.SimpleQueue of the free interpreters' indices.
        signatures: list of the signature on each interpreter.
    """

    def __init__(self, pool, signatures):
        self._pool = pool
        self._signatures = signatures
        first = signatures[0]
        self.input_specs = first.input_specs
        self.output_specs = first.output_specs
        self.feed_names = first.feed_names
        self.defaults = first.defaults

    def run(self, inputs, output_aliases):
        """Runs the model on a free interpreter; see TfliteSignature.run."""
        index = self._pool.get()
        try:
            return self._signatures[index].run(inputs, output_aliases)
        finally:
            self._pool.put(index)

    def __call__(self, **inputs):
        index = self._pool.get()
        try:
            return self._signatures[index](**inputs)
        finally:
            self._pool.put(index)


def _interpreter(path):
    try:
        # The interpreter verifies the flatbuffer before it is read here.
        interpreter = InterpreterWithCustomOps(
            custom_op_registerers=tflite_op_registerers(), model_path=path
        )
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as error:
        raise ValueError(
            f"Cannot load TFLite model {path!r}: {error}"
        ) from error
    return interpreter


def _signatures(interpreter, metadata_signature_defs):
    """(signatures, signature_defs) of one interpreter."""
    lock = threading.Lock()
    if not metadata_signature_defs and interpreter.get_signature_list():
        signatures = _runner_signatures(interpreter, lock)
        signature_defs = {
            key: _signature_def(signature)
            for key, signature in signatures.items()
        }
        return signatures, signature_defs
    tensors = _Tensors(interpreter, lock)
    signature_defs = copy.deepcopy(metadata_signature_defs) or {
        DEFAULT_SIGNATURE: _tensors_signature_def(tensors)
    }
    for key, signature_def in signature_defs.items():
        _match_tensor_names(key, signature_def, tensors)
    signatures = {
        key: TfliteTensorSignature(tensors, signature_def)
        for key, signature_def in signature_defs.items()
    }
    return signatures, signature_defs


def _runner_signatures(interpreter, lock):
    return {
        key: TfliteSignature(interpreter.get_signature_runner(key), lock)
        for key in sorted(interpreter.get_signature_list())
    }


def _metadata_signature_defs(model_bytes):
    """The SignatureDefs in the model's metadata, by key ({} if none)."""
    model = schema.Model.GetRootAs(model_bytes, 0)
    for i in range(model.MetadataLength()):
        metadata = model.Metadata(i)
        if metadata.Name() == SIGNATURE_DEFS_METADATA:
            buffer = model.Buffers(metadata.Buffer())
            return _parse_signature_defs(bytes(buffer.DataAsNumpy()))
    return {}


def _parse_signature_defs(data):
    # A flexbuffer map: signature key -> serialized SignatureDef.
    try:
        entries = flexbuffers.GetRoot(data).AsMap
        serialized = {
            key.AsKey: bytes(value.AsStringBytes)
            for key, value in zip(entries.Keys, entries.Values, strict=True)
        }
    except (TypeError, ValueError, IndexError) as error:
        raise ValueError(
            f"Invalid SignatureDefs found in TfLite model: {error}"
        ) from error
    signature_defs = {}
    for key, data in serialized.items():
        signature_def = meta_graph_pb2.SignatureDef()
        try:
            signature_def.ParseFromString(data)
        except message.DecodeError as error:
            raise ValueError(
                "Invalid SignatureDefs found in TfLite model: Cannot parse "
                f"signature def {key!r} found in flatbuffer."
            ) from error
        signature_defs[key] = signature_def
    return signature_defs


def _match_tensor_names(key, signature_def, tensors):
    """Rewrites TensorInfo names to the model's tensor names, in place."""
    for kind, infos, known in (
        ("input", signature_def.inputs, tensors.inputs),
        ("output", signature_def.outputs, tensors.outputs),
    ):
        for alias, info in infos.items():
            name = info.name if info.name in known else _legacy_name(info.name)
            if name not in known:
                raise ValueError(
                    f"Signature {key!r} {kind} {alias} references an unknown "
                    f"tensor {info.name!r}; the model's {kind} tensors are "
                    f"{sorted(known)}."
                )
            info.name = name


def _tensors_signature_def(tensors):
    """TensorFlow Serving's generated signature for a model without any."""
    signature_def = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
    for infos, details in (
        (signature_def.inputs, tensors.inputs),
        (signature_def.outputs, tensors.outputs),
    ):
        # In name order, so that of two names alike up to ":", the last
        # wins, as in TensorFlow Serving's sorted map.
        for name in sorted(details):
            _fill_tensor_info(infos[_legacy_name(name)], name, details[name])
    return signature_def


def _legacy_name(tensor_name):
    # The TFLite converters used to drop TensorFlow's ":0" suffix.
    return tensor_name.split(":", 1)[0]


def _details_by_name(details):
    return {detail["name"]: detail for detail in details}


def _invoke_failed(error):
    return errors.internal(f"Failed to invoke TfLite interpreter: {error}")


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
    for infos, specs in (
        (signature_def.inputs, signature.input_specs),
        (signature_def.outputs, signature.output_specs),
    ):
        for name, spec in specs.items():
            info = infos[name]
            info.name = name
            info.dtype = spec.dtype.as_datatype_enum
            info.tensor_shape.CopyFrom(spec.shape.as_proto())
    return signature_def


def _fill_tensor_info(info, tensor_name, detail):
    info.name = tensor_name
    info.dtype = _dtype(detail["dtype"]).as_datatype_enum
    for size in detail["shape_signature"]:
        info.tensor_shape.dim.add(size=int(size))
