"""PredictionService.Predict: run one signature of one servable.

Semantics follow TensorFlow Serving's predict_util: an empty signature name
means `serving_default`; an unknown signature is FAILED_PRECONDITION; the
response's model_spec names the model, the version that actually ran and
the signature; `output_filter` selects (and orders) the outputs, and an
unknown or repeated alias in it is INVALID_ARGUMENT. Inputs are validated
and size-capped before decoding (`inputs`, `validation`, `limits`).

Outputs are written as TensorFlow Serving writes them by default, in the
dtype's typed value field (`float_val`, ...); with `tensor_content=True`
(--enable_serialization_as_tensor_content) they are packed in
`tensor_content`, which is faster for big tensors.

`predict(manager, request)` answers one request on its own; a `Predictor`
also batches concurrent requests when given `BatchingOptions`.
"""

import dataclasses
from typing import Any

import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from serving import tensors
from serving.server import deadlines
from serving.server import errors
from serving.server import inputs
from serving.server import method_names
from serving.server import model_spec
from serving.server import validation
from serving.server.limits import DEFAULT_LIMITS
from serving.server.signature_runner import SignatureRunner

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY


@dataclasses.dataclass(frozen=True)
class Call:
    """A validated Predict request, ready to run.

    Args:
        servable: Servable. The version that answers.
        signature_name: str. The resolved signature key.
        signature: SessionSignature | TfliteSignature. What runs.
        feeds: dict[str, np.ndarray]. Decoded inputs (without the
            defaults of those left out: the signature adds them, so that
            they are not merged into batches).
        output_names: tuple[str, ...]. Outputs to return, in order.
    """

    servable: Any
    signature_name: str
    signature: Any
    feeds: dict
    output_names: tuple

    def run(self, runner=None, deadline=None):
        """Runs the call, through `runner` (which may batch it) if given;
        returns the selected outputs."""
        if runner is None:
            return self.signature.run(self.feeds, self.output_names)
        return runner.run(
            self.servable,
            self.signature_name,
            self.feeds,
            self.output_names,
            deadline,
        )


def predict(manager, request, limits=DEFAULT_LIMITS, tensor_content=False):
    """Answers a PredictRequest without batching.

    Args:
        manager: ModelManager. Where the requested servable is looked up.
        request: predict_pb2.PredictRequest.
        limits: RequestLimits. Size caps for the request's inputs.
        tensor_content: bool. Pack outputs in tensor_content.

    Returns:
        predict_pb2.PredictResponse.

    Raises:
        ServingError: for a bad request (see the module docstring).
        tf.errors.OpError: if the model fails while running.
    """
    call = prepare(manager, request, limits)
    return respond(call, call.run(), tensor_content)


def prepare(manager, request, limits=DEFAULT_LIMITS):
    """Resolves the servable and signature and decodes the inputs."""
    model_spec.require(request)
    validation.check_request_size(request, limits)
    servable = manager.resolve(request.model_spec)
    signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    signature = _find_signature(servable, signature_name)
    feeds = inputs.decode_inputs(
        signature_name, signature, request.inputs, limits
    )
    output_names = _select_outputs(signature, request.output_filter)
    return Call(servable, signature_name, signature, feeds, output_names)


def respond(call, outputs, tensor_content=False):
    """Builds the PredictResponse for a call's outputs."""
    response = predict_pb2.PredictResponse()
    model_spec.fill(response.model_spec, call.servable, call.signature_name)
    encode = (
        tensors.to_tensor_proto
        if tensor_content
        else tensors.to_typed_tensor_proto
    )
    for name in call.output_names:
        response.outputs[name].CopyFrom(encode(outputs[name]))
    return response


class Predictor:
    """Answers Predict requests, batching them if batching is configured.

    Shared by the gRPC and REST front ends so that their requests batch
    together; its `runner` runs Classify, Regress and MultiInference too,
    so that they share the batches.

    Args:
        manager: ModelManager. Where servables are looked up.
        batching_options: BatchingOptions | None. None: no batching.
        limits: RequestLimits | None. None: the defaults.
        on_batch: optional callable(model_name, signature_name, batch_size)
            called before each batched model call (see `Batcher`).
        tensor_content: bool. Pack outputs in tensor_content by default.

    Example:

    ```python
    predictor = Predictor(manager, BatchingOptions(max_batch_size=32))
    response = predictor.predict(request, deadline=time.monotonic() + 5)
    predictor.close()
    ```
    """

    def __init__(
        self,
        manager,
        batching_options=None,
        limits=None,
        on_batch=None,
        tensor_content=False,
    ):
        self._manager = manager
        self.limits = limits or DEFAULT_LIMITS
        self.runner = SignatureRunner(batching_options, on_batch)
        self._tensor_content = tensor_content

    def predict(self, request, deadline=None, tensor_content=None):
        """Answers a PredictRequest; see `predict` for errors.

        Args:
            request: predict_pb2.PredictRequest.
            deadline: float | None. `time.monotonic()` time after which the
                client no longer waits: DEADLINE_EXCEEDED, model not run.
            tensor_content: bool | None. Pack outputs in tensor_content;
                None: as the predictor was configured.
        """
        call = prepare(self._manager, request, self.limits)
        deadlines.check(deadline)
        if tensor_content is None:
            tensor_content = self._tensor_content
        return respond(call, call.run(self.runner, deadline), tensor_content)

    def num_enqueued_tasks(self):
        """Requests waiting for a batch thread (0 without batching)."""
        return self.runner.num_enqueued_tasks()

    def close(self):
        """Finishes queued batches and stops the batch threads."""
        self.runner.close()


def _find_signature(servable, signature_name):
    signature = servable.signatures.get(signature_name)
    if signature is None:
        raise errors.ServingError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f'Serving signature key "{signature_name}" not found.',
        )
    method_names.check_predict(servable.signature_defs[signature_name])
    return signature


def _select_outputs(signature, output_filter):
    available = sorted(signature.output_specs)
    if not output_filter:
        return tuple(available)
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
    return tuple(selected)
