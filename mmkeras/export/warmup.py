"""Warmup requests written with a SavedModel, as TF Serving replays them.

TensorFlow Serving (and `mmkeras-model-server`) reads
`<version>/assets.extra/tf_serving_warmup_requests`, a TFRecord file of
`PredictionLog` protos, and runs each request before the version serves,
so the first client does not pay for tracing and kernel selection. One
record per signature is written here, from real raw inputs (a few
training records): a `PredictLog` whose inputs are the raw values by
name, or, for a signature shaped for TF Serving's Classify API (one
DT_STRING input "inputs" returning "classes" and/or "scores"), a
`ClassifyLog` whose `tf.Example`s hold one bytes feature per raw value.
"""

import os

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

WARMUP_DIRECTORY = "assets.extra"
WARMUP_FILENAME = "tf_serving_warmup_requests"
CLASSIFY_INPUT = tf.saved_model.CLASSIFY_INPUTS
CLASSIFY_OUTPUTS = (
    tf.saved_model.CLASSIFY_OUTPUT_CLASSES,
    tf.saved_model.CLASSIFY_OUTPUT_SCORES,
)


def warmup_file(version_dir):
    """Where a version keeps its warmup requests."""
    return os.path.join(version_dir, WARMUP_DIRECTORY, WARMUP_FILENAME)


def signature_defs(version_dir):
    """dict of signature name to SignatureDef, as a server reads them.

    TensorFlow's own entries (`__saved_model_init_op`) are left out.
    """
    saved_model = saved_model_pb2.SavedModel()
    path = os.path.join(version_dir, "saved_model.pb")
    with open(path, "rb") as file:
        saved_model.ParseFromString(file.read())
    definitions = saved_model.meta_graphs[0].signature_def
    return {
        name: definition
        for name, definition in definitions.items()
        if not name.startswith("__")
    }


def is_classify_signature(signature_def):
    """Whether a signature has the shape TF Serving's Classify API runs."""
    return set(signature_def.inputs) == {CLASSIFY_INPUT} and bool(
        set(signature_def.outputs) & set(CLASSIFY_OUTPUTS)
    )


def warmup_logs(definitions, examples, model_name, scalars=None):
    """One PredictionLog per signature, each asking for every example.

    Args:
        definitions: dict of signature name to SignatureDef.
        examples: dict of raw input name to a list of raw values, one per
            example (bytes or str; a list of them for an input with a
            variable axis, such as a clip's frames).
        model_name: str. Recorded in each request's ModelSpec (servers
            replay warmup against the version they load, whatever name).
        scalars: dict or None. The value of each scalar (rank-0) input,
            such as a search signature's `k`; one per request.

    Returns:
        list of `prediction_log_pb2.PredictionLog`, in signature order.

    Raises:
        ValueError: `examples` is empty, ragged across inputs, or lacks an
            input that a signature needs.
    """
    count = _count(examples)
    logs = []
    for name in sorted(definitions):
        definition = definitions[name]
        log = prediction_log_pb2.PredictionLog()
        if is_classify_signature(definition):
            request = log.classify_log.request
            request.input.example_list.examples.extend(
                _tf_example(examples, i) for i in range(count)
            )
        else:
            request = log.predict_log.request
            for key, info in sorted(definition.inputs.items()):
                if _is_scalar(info) and key in (scalars or {}):
                    request.inputs[key].CopyFrom(
                        tf.make_tensor_proto(
                            scalars[key], dtype=tf.dtypes.as_dtype(info.dtype)
                        )
                    )
                    continue
                if key not in examples:
                    raise ValueError(
                        f"Signature {name!r} takes input {key!r}, but the "
                        f"warmup examples give only {sorted(examples)}."
                    )
                request.inputs[key].CopyFrom(
                    tf.make_tensor_proto(
                        raw_array(examples[key]),
                        dtype=tf.dtypes.as_dtype(info.dtype),
                    )
                )
        request.model_spec.name = model_name
        request.model_spec.signature_name = name
        logs.append(log)
    return logs


def write_warmup_file(version_dir, logs):
    """Writes `logs` as the version's TFRecord warmup file; returns it."""
    path = warmup_file(version_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read_warmup_file(version_dir):
    """The version's warmup requests, parsed back as PredictionLogs."""
    logs = []
    for record in tf.data.TFRecordDataset(warmup_file(version_dir)):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    return logs


def request_inputs(log):
    """The raw inputs of a PredictionLog's request, as a signature takes
    them: `(signature_name, {input name: tensor})`."""
    kind = log.WhichOneof("log_type")
    request = getattr(log, kind).request
    if kind == "classify_log":
        serialized = [
            example.SerializeToString()
            for example in request.input.example_list.examples
        ]
        inputs = {CLASSIFY_INPUT: tf.constant(serialized, tf.string)}
    else:
        inputs = {
            key: tf.make_ndarray(proto) for key, proto in request.inputs.items()
        }
    return request.model_spec.signature_name, inputs


def _is_scalar(info):
    shape = info.tensor_shape
    return not shape.unknown_rank and not shape.dim


def _count(examples):
    counts = {len(values) for values in examples.values()}
    if not examples or counts == {0}:
        raise ValueError("Warmup needs at least one example.")
    if len(counts) != 1:
        raise ValueError(
            "Every warmup input needs one value per example, received "
            f"{ {key: len(values) for key, values in examples.items()} }."
        )
    return counts.pop()


def _as_bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def raw_array(values):
    """One input's raw values (bytes or str per example, or a list of
    them, e.g. a clip's frames) as a request array: `(batch,)`, or
    `(batch, width)` with shorter lists padded with b"" (width >= 1)."""
    if not any(isinstance(v, (list, tuple, np.ndarray)) for v in values):
        return np.array([_as_bytes(v) for v in values], dtype=object)
    width = max([len(v) for v in values] + [1])
    return np.array(
        [[_as_bytes(x) for x in v] + [b""] * (width - len(v)) for v in values],
        dtype=object,
    ).reshape(len(values), width)


def _tf_example(examples, index):
    example = tf.train.Example()
    for key, values in sorted(examples.items()):
        value = values[index]
        listed = value if isinstance(value, (list, tuple)) else [value]
        example.features.feature[key].bytes_list.value.extend(
            _as_bytes(v) for v in listed
        )
    return example
