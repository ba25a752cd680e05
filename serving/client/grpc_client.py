"""A small client for TensorFlow Serving's gRPC API.

Works against this package's model server and the official
`tensorflow_model_server` alike, since both speak the same protos.
gRPC failures are not translated: they propagate as `grpc.RpcError`, whose
`code()` and `details()` carry the server's status (e.g. NOT_FOUND,
"Servable not found for request: Latest(toy)"). Calls that fail with
UNAVAILABLE are retried with backoff (see `channel`); every call has a
deadline, the client's `timeout` unless the call passes its own.

Inputs are encoded by `serving.tensors.to_tensor_proto`: numpy arrays keep
their dtype and shape; Python scalars become rank-0 tensors and (nested)
lists keep their nesting as shape, with `tf.constant`'s dtypes (float ->
float32, int -> int32, str/bytes -> string). A single `bytes` value is
therefore a scalar string, not a batch of one: pass `[image_bytes]` for a
signature input of shape `[None]`.
"""

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc
from tensorflow_serving.apis import regression_pb2

from serving import tensors
from serving.client import channel
from serving.client import examples as examples_lib

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
SIGNATURE_DEF_FIELD = "signature_def"
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_MESSAGE_BYTES = channel.MAX_MESSAGE_BYTES


class PredictionClient:
    """Calls Predict, Classify, Regress, GetModelMetadata and GetModelStatus.

    Args:
        address: str. "host:port" of the server's gRPC endpoint.
        timeout: float. Default deadline in seconds for each call
            (retries included); each method also takes its own `timeout`.
        max_message_bytes: int. Largest message sent or received; a bigger
            one fails with RESOURCE_EXHAUSTED.
        max_attempts: int. Tries per call (1..5, gRPC's cap) while it
            fails with UNAVAILABLE; 1 disables retries.
        initial_backoff: float. Seconds before the first retry, doubled
            for each next one (up to `max_backoff`) and randomised.
        max_backoff: float. Longest wait between two tries.
        tls: TlsConfig | None. Use TLS (and mutual TLS with a client
            certificate); None connects in plain text.
        token: str | None. Sent as `authorization: Bearer <token>` metadata
            with every call.

    Example:

    ```python
    with PredictionClient("127.0.0.1:8500") as client:
        outputs = client.predict(
            "toy",
            {"text": ["a cat"], "x": np.ones((1, 2), np.float32)},
        )
        print(outputs["y"])
    ```
    """

    def __init__(
        self,
        address,
        timeout=DEFAULT_TIMEOUT_SECONDS,
        max_message_bytes=MAX_MESSAGE_BYTES,
        max_attempts=channel.DEFAULT_MAX_ATTEMPTS,
        initial_backoff=channel.DEFAULT_INITIAL_BACKOFF_SECONDS,
        max_backoff=channel.DEFAULT_MAX_BACKOFF_SECONDS,
        tls=None,
        token=None,
    ):
        self.address = address
        self.timeout = timeout
        self._metadata = (
            (("authorization", f"Bearer {token}"),) if token else None
        )
        self._channel = channel.create_channel(
            address,
            max_message_bytes,
            max_attempts,
            initial_backoff,
            max_backoff,
            tls,
        )
        self._predictions = prediction_service_pb2_grpc.PredictionServiceStub(
            self._channel
        )
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def predict(
        self,
        model_name,
        inputs,
        signature_name=DEFAULT_SIGNATURE,
        version=None,
        output_filter=None,
        timeout=None,
    ):
        """Runs a signature of a model.

        Args:
            model_name: str. The served model's name.
            inputs: dict[str, np.ndarray | bytes | str | list | scalar]. One
                value per signature input (see the module docstring).
            signature_name: str. The signature to run.
            version: int | None. A specific version; None means the latest.
            output_filter: Iterable[str] | None. Only these outputs.
            timeout: float | None. This call's deadline; None: the client's.

        Returns:
            dict[str, np.ndarray]; string outputs are object arrays of bytes.
        """
        request = predict_pb2.PredictRequest()
        _fill_model_spec(request.model_spec, model_name, version)
        request.model_spec.signature_name = signature_name
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tensors.to_tensor_proto(value))
        request.output_filter.extend(output_filter or ())
        response = self._call(self._predictions.Predict, request, timeout)
        return {
            name: tensors.to_ndarray(proto)
            for name, proto in response.outputs.items()
        }

    def classify(
        self,
        model_name,
        examples,
        signature_name=DEFAULT_SIGNATURE,
        version=None,
        context=None,
        timeout=None,
    ):
        """Classifies tf.Examples with a classify signature.

        Args:
            model_name: str. The served model's name.
            examples: list of dict | tf.train.Example. See `examples`.
            signature_name: str. The classify signature to run.
            version: int | None. A specific version; None means the latest.
            context: dict | tf.train.Example | None. Features every example
                shares.
            timeout: float | None. This call's deadline; None: the client's.

        Returns:
            list (one per example) of lists of (label: str, score: float).
        """
        request = classification_pb2.ClassificationRequest()
        self._fill_example_request(
            request, model_name, examples, signature_name, version, context
        )
        response = self._call(self._predictions.Classify, request, timeout)
        return [
            [(label.label, label.score) for label in result.classes]
            for result in response.result.classifications
        ]

    def regress(
        self,
        model_name,
        examples,
        signature_name=DEFAULT_SIGNATURE,
        version=None,
        context=None,
        timeout=None,
    ):
        """Runs a regress signature on tf.Examples (args as `classify`).

        Returns:
            np.ndarray of float32, one value per example.
        """
        request = regression_pb2.RegressionRequest()
        self._fill_example_request(
            request, model_name, examples, signature_name, version, context
        )
        response = self._call(self._predictions.Regress, request, timeout)
        return np.array(
            [regression.value for regression in response.result.regressions],
            dtype=np.float32,
        )

    def metadata(self, model_name, version=None, timeout=None):
        """Describes the model's signatures.

        Returns:
            dict mapping signature name to {"inputs": {name: (dtype, shape)},
            "outputs": {...}}, where dtype is a TensorFlow dtype name
            ("float32", "string") and shape a tuple with -1 for unknown
            dimensions, or None for an unknown rank. As with TensorFlow
            Serving, internal entries such as "__saved_model_init_op" are
            included.
        """
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        _fill_model_spec(request.model_spec, model_name, version)
        request.metadata_field.append(SIGNATURE_DEF_FIELD)
        response = self._call(
            self._predictions.GetModelMetadata, request, timeout
        )
        signature_def_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_def_map)
        return {
            name: {
                "inputs": _describe_tensors(signature_def.inputs),
                "outputs": _describe_tensors(signature_def.outputs),
            }
            for name, signature_def in signature_def_map.signature_def.items()
        }

    def status(self, model_name, version=None, timeout=None):
        """Reports the state of the model's versions.

        Returns:
            list of dict(version=int, state=str, error_code=int,
            error_message=str), e.g. state "AVAILABLE" and error_code 0.
        """
        request = get_model_status_pb2.GetModelStatusRequest()
        _fill_model_spec(request.model_spec, model_name, version)
        response = self._call(self._models.GetModelStatus, request, timeout)
        state_name = get_model_status_pb2.ModelVersionStatus.State.Name
        return [
            dict(
                version=version_status.version,
                state=state_name(version_status.state),
                error_code=version_status.status.error_code,
                error_message=version_status.status.error_message,
            )
            for version_status in response.model_version_status
        ]

    def _call(self, method, request, timeout):
        return method(
            request,
            timeout=self.timeout if timeout is None else timeout,
            metadata=self._metadata,
        )

    def _fill_example_request(
        self, request, model_name, examples, signature_name, version, context
    ):
        _fill_model_spec(request.model_spec, model_name, version)
        request.model_spec.signature_name = signature_name
        request.input.CopyFrom(examples_lib.to_input(examples, context))

    def close(self):
        """Closes the channel; the client cannot be used afterwards."""
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _fill_model_spec(model_spec, model_name, version):
    model_spec.name = model_name
    if version is not None:
        model_spec.version.value = int(version)


def _describe_tensors(tensor_infos):
    return {
        name: (tensors.dtype_name(info.dtype), _shape_tuple(info.tensor_shape))
        for name, info in tensor_infos.items()
    }


def _shape_tuple(shape_proto):
    if shape_proto.unknown_rank:
        return None
    return tuple(dim.size for dim in shape_proto.dim)
