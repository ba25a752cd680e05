"""PredictionService.Predict: run one signature of one servable.

Semantics follow TensorFlow Serving's predict_util: an empty signature name
means `serving_default`; an unknown signature is FAILED_PRECONDITION; the
response's model_spec names the model, the version that actually ran and
the signature; `output_filter` selects (and orders) the outputs, and an
unknown or repeated alias in it is INVALID_ARGUMENT.
"""

import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from serving import tensors
from serving.server import errors
from serving.server import inputs
from serving.server import model_spec

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY


def predict(manager, request):
    """Answers a PredictRequest.

    Args:
        manager: ModelManager. Where the requested servable is looked up.
        request: predict_pb2.PredictRequest.

    Returns:
        predict_pb2.PredictResponse.

    Raises:
        ServingError: for a bad request (see the module docstring).
        tf.errors.OpError: if the model fails while running.
    """
    model_spec.require(request)
    servable = manager.resolve(request.model_spec)
    signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    signature = _find_signature(servable, signature_name)
    input_specs = signature.structured_input_signature[1]
    feeds = inputs.decode_inputs(signature_name, input_specs, request.inputs)
    output_names = _select_outputs(signature, request.output_filter)
    results = signature(**feeds)

    response = predict_pb2.PredictResponse()
    model_spec.fill(response.model_spec, servable, signature_name)
    for name in output_names:
        response.outputs[name].CopyFrom(
            tensors.to_tensor_proto(results[name].numpy())
        )
    return response


def _find_signature(servable, signature_name):
    signature = servable.signatures.get(signature_name)
    if signature is None:
        raise errors.ServingError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f'Serving signature key "{signature_name}" not found.',
        )
    return signature


def _select_outputs(signature, output_filter):
    available = sorted(signature.structured_outputs)
    if not output_filter:
        return available
    selected = []
    for alias in output_filter:
        if alias not in available:
            raise errors.invalid_argument(
                f"output tensor alias not found in signature: {alias} "
                f"Outputs expected to be in the set {{{','.join(available)}}}."
            )
        if alias in selected:
            raise errors.invalid_argument(
                f"duplicate output tensor alias: {alias}"
            )
        selected.append(alias)
    return selected
