"""What Classify, Regress and MultiInference share: tf.Example inputs.

These APIs run SignatureDefs that take one DT_STRING tensor of serialized
tf.Examples under the key "inputs". As in TensorFlow Serving, an `Input`
is either an `example_list` or an `example_list_with_context`, where the
context's serialized bytes are prepended to each example's: parsing the
concatenation merges the two, and a feature in both takes the example's
value. Messages and codes follow TensorFlow Serving's classifier.cc,
regressor.cc and util.cc.
"""

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2

from serving.server import errors
from serving.server import model_spec
from serving.server import validation
from serving.server.limits import STRING_ELEMENT_OVERHEAD
from serving.server.signature_runner import SignatureRunner

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
INPUTS_KEY = "inputs"


@dataclasses.dataclass(frozen=True)
class Context:
    """Where a Classify, Regress or MultiInference request is answered.

    Args:
        manager: ModelManager. Where servables are looked up.
        limits: RequestLimits. Caps on the examples' size.
        runner: SignatureRunner. Runs (and maybe batches) the signature.
        deadline: float | None. `time.monotonic()` time after which the
            client no longer waits.
    """

    manager: Any
    limits: Any
    runner: Any
    deadline: float | None = None


UNBATCHED = SignatureRunner()


def make_context(manager, limits, runner=None, deadline=None):
    """A Context; without a runner, signatures run unbatched."""
    return Context(manager, limits, runner or UNBATCHED, deadline)


def answer(request, prepare, to_result, response, context):
    """Runs one Classify or Regress request; returns the filled response.

    Args:
        request: a ClassificationRequest or RegressionRequest.
        prepare: callable(SignatureDef) -> (input key, output keys); raises
            for a signature of the wrong kind.
        to_result: callable(output keys, outputs, num examples, result).
        response: the empty response proto to fill.
        context: Context. Where servables are found and how they run.
    """
    servable = resolve(context.manager, request, context.limits)
    name = signature_name(request.model_spec)
    key, output_keys = prepare(find_signature_def(servable, name))
    serialized = serialize_examples(request.input, context.limits)
    outputs = run(servable, name, key, serialized, context)
    model_spec.fill(response.model_spec, servable, name)
    to_result(output_keys, outputs, len(serialized), response.result)
    return response


def resolve(manager, request, limits):
    """Checks the request's size and finds the servable it asks for."""
    model_spec.require(request)
    validation.check_request_size(request, limits)
    return manager.resolve(request.model_spec)


def signature_name(spec):
    return spec.signature_name or DEFAULT_SIGNATURE


def find_signature_def(servable, name):
    """The servable's SignatureDef called `name` (INVALID_ARGUMENT if none)."""
    signature_def = servable.signature_defs.get(name)
    if signature_def is None:
        raise errors.invalid_argument(
            f"No signature was found with the name: {name}"
        )
    return signature_def


def input_key(signature_def, kind):
    """Checks the signature has exactly the one "inputs" tensor."""
    if len(signature_def.inputs) != 1:
        raise errors.invalid_argument("Expected one input Tensor.")
    if INPUTS_KEY not in signature_def.inputs:
        raise errors.invalid_argument(
            f"No {kind} inputs found in SignatureDef: {debug(signature_def)}"
        )
    return INPUTS_KEY


def serialize_examples(input_proto, limits):
    """The serialized tf.Examples an `Input` stands for, context merged.

    Raises:
        ServingError: INVALID_ARGUMENT for an empty input,
            RESOURCE_EXHAUSTED if the examples (with the context copied
            into each) exceed the limits.
    """
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list_with_context":
        examples = input_proto.example_list_with_context.examples
        context = input_proto.example_list_with_context.context
        prefix = context.SerializeToString()
    else:
        examples = input_proto.example_list.examples
        prefix = b""
    if not examples:
        raise errors.invalid_argument("Input is empty.")
    _check_size(examples, len(prefix), limits)
    return [prefix + example.SerializeToString() for example in examples]


def run(servable, name, key, serialized, context):
    """Calls signature `name` with the serialized examples under `key`,
    through the context's runner (which may batch it)."""
    signature = servable.signatures.get(name)
    if signature is None:
        raise errors.failed_precondition(
            f'Serving signature key "{name}" not found.'
        )
    feeds = {key: np.array(serialized, dtype=object)}
    output_names = tuple(sorted(signature.output_specs))
    outputs = context.runner.run(
        servable, name, feeds, output_names, context.deadline
    )
    return {alias: tf.constant(value) for alias, value in outputs.items()}


def dtype_name(dtype):
    """A tf.DType as TensorFlow Serving names it in messages ("DT_FLOAT")."""
    return types_pb2.DataType.Name(dtype.as_datatype_enum)


def shape_string(tensor):
    # TensorShape::DebugString's format, as TF Serving prints it.
    return "[" + ",".join(str(size) for size in tensor.shape) + "]"


def debug(signature_def):
    return text_format.MessageToString(signature_def, as_one_line=True)


def _check_size(examples, prefix_bytes, limits):
    if len(examples) > limits.max_string_elements:
        raise errors.resource_exhausted(
            f"Input has {len(examples)} examples, more than the server's "
            f"limit of {limits.max_string_elements} (max_string_elements)."
        )
    per_example = prefix_bytes + STRING_ELEMENT_OVERHEAD
    total = sum(example.ByteSize() for example in examples)
    validation.check_decoded_bytes(total + per_example * len(examples), limits)
