"""A small client for TensorFlow Serving's gRPC API.

Works against this package's model server and the official
`tensorflow_model_server` alike, since both speak the same protos.
gRPC failures are not translated: they propagate as `grpc.RpcError`, whose
`code()` and `details()` carry the server's status (e.g. NOT_FOUND,
"Servable not found for request: Latest(toy)").

Inputs are encoded by `serving.tensors.to_tensor_proto`: numpy arrays keep
their dtype and shape; Python scalars become rank-0 tensors and (nested)
lists keep their nesting as shape, with `tf.constant`'s dtypes (float ->
float32, int -> int32, str/bytes -> string). A single `bytes` value is
therefore a scalar string, not a batch of one: pass `[image_bytes]` for a
signature input of shape `[None]`.
"""

import grpc
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving import tensors

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
SIGNATURE_DEF_FIELD = "signature_def"
DEFAULT_TIMEOUT_SECONDS = 10.0
# Match the server: inputs and outputs (images, batches) exceed gRPC's 4 MiB.
MAX_MESSAGE_BYTES = 2**31 - 1


class PredictionClient:
    """Calls Predict, GetModelMetadata and GetModelStatus on a model server.

    Args:
        address: str. "host:port" of the server's gRPC endpoint.
        timeout: float. Deadline in seconds for each call.

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

    def __init__(self, address, timeout=DEFAULT_TIMEOUT_SECONDS):
        self.address = address
        self.timeout = timeout
        self._channel = grpc.insecure_channel(
            address,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
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
    ):
        """Runs a signature of a model.

        Args:
            model_name: str. The served model's name.
            inputs: dict[str, np.ndarray | bytes | str | list | scalar]. One
                value per signature input (see the module docstring).
            signature_name: str. The signature to run.
            version: int | None. A specific version; None means the latest.
            output_filter: Iterable[str] | None. Only these outputs.

        Returns:
            dict[str, np.ndarray]; string outputs are object arrays of bytes.
        """
        request = predict_pb2.PredictRequest()
        _fill_model_spec(request.model_spec, model_name, version)
        request.model_spec.signature_name = signature_name
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tensors.to_tensor_proto(value))
        request.output_filter.extend(output_filter or ())
        response = self._predictions.Predict(request, timeout=self.timeout)
        return {
            name: tensors.to_ndarray(proto)
            for name, proto in response.outputs.items()
        }

    def metadata(self, model_name, version=None):
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
        response = self._predictions.GetModelMetadata(
            request, timeout=self.timeout
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

    def status(self, model_name, version=None):
        """Reports the state of the model's versions.

        Returns:
            list of dict(version=int, state=str, error_code=int,
            error_message=str), e.g. state "AVAILABLE" and error_code 0.
        """
        request = get_model_status_pb2.GetModelStatusRequest()
        _fill_model_spec(request.model_spec, model_name, version)
        response = self._models.GetModelStatus(request, timeout=self.timeout)
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
