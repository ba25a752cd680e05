"""PredictionService.Regress: run a regress signature on tf.Examples.

The signature (method_name "tensorflow/serving/regress") takes serialized
tf.Examples under "inputs" and returns one DT_FLOAT tensor "outputs" of
shape [batch_size] or [batch_size, 1]: one `Regression` value per example.
Codes and messages are TensorFlow Serving's (regressor.cc).
"""

import tensorflow as tf
from tensorflow_serving.apis import regression_pb2

from serving.server import errors
from serving.server import example_inference
from serving.server import method_names
from serving.server.limits import DEFAULT_LIMITS

METHOD_NAME = tf.saved_model.REGRESS_METHOD_NAME
OUTPUTS = tf.saved_model.REGRESS_OUTPUTS


def regress(
    manager, request, limits=DEFAULT_LIMITS, runner=None, deadline=None
):
    """Answers a RegressionRequest.

    Args:
        manager: ModelManager. Where the requested servable is looked up.
        request: regression_pb2.RegressionRequest.
        limits: RequestLimits. Caps on the examples' size.
        runner: SignatureRunner | None. Runs (and maybe batches) the
            signature; None runs it on its own.
        deadline: float | None. `time.monotonic()` time after which the
            client no longer waits.

    Returns:
        regression_pb2.RegressionResponse.

    Raises:
        ServingError: INVALID_ARGUMENT for an unknown signature, one that
            is not a regress signature, or an empty input; NOT_FOUND for
            an unknown servable.
        tf.errors.OpError: if the model fails (e.g. an unparsable example).
    """
    return example_inference.answer(
        request,
        prepare,
        to_result,
        regression_pb2.RegressionResponse(),
        example_inference.make_context(manager, limits, runner, deadline),
    )


def prepare(signature_def):
    """Checks a regress SignatureDef; returns (input key, output keys)."""
    method_names.check(signature_def, METHOD_NAME, "regression")
    key = example_inference.input_key(signature_def, "regression")
    if len(signature_def.outputs) != 1:
        raise errors.invalid_argument("Expected one output Tensor.")
    if OUTPUTS not in signature_def.outputs:
        raise errors.invalid_argument(
            "No regression outputs found in SignatureDef: "
            f"{example_inference.debug(signature_def)}"
        )
    return key, [OUTPUTS]


def to_result(output_keys, outputs, num_examples, result):
    """Fills a RegressionResult from the signature's outputs."""
    (key,) = output_keys
    tensor = outputs[key]
    shape = tensor.shape
    if not (shape.rank == 1 or (shape.rank == 2 and shape[1] == 1)):
        raise errors.invalid_argument(
            "Expected output Tensor shape to be either [batch_size] or "
            "[batch_size, 1] but got "
            f"{example_inference.shape_string(tensor)}"
        )
    if shape[0] != num_examples:
        raise errors.invalid_argument(
            "Input batch size did not match output batch size: "
            f"{num_examples} vs. {shape[0]}"
        )
    if tensor.dtype != tf.float32:
        raise errors.invalid_argument(
            "Expected output Tensor of DT_FLOAT.  Got: "
            f"{example_inference.dtype_name(tensor.dtype)}"
        )
    for value in tensor.numpy().reshape(-1):
        result.regressions.add().value = value
