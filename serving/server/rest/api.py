"""TensorFlow Serving's REST API over the server's request functions.

`RestApi.handle` turns (method, path, body) into a `Reply` without any
HTTP library: it parses the URL and the JSON body into the same request
protos the gRPC services take, calls the same transport-free functions
(the shared Predictor, classify, regress, get_model_metadata,
get_model_status), and encodes the answer as
TensorFlow Serving's JSON. Every failure becomes `{"error": message}` with
the HTTP status TensorFlow Serving maps its status code to, so no request
can take the server down.
"""

import dataclasses
import logging

import grpc
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from serving import tensors
from serving.server import classify
from serving.server import deadlines
from serving.server import errors
from serving.server import metadata
from serving.server import predict
from serving.server import regress
from serving.server import status
from serving.server.limits import DEFAULT_LIMITS
from serving.server.rest import json_examples
from serving.server.rest import json_inputs
from serving.server.rest import json_outputs
from serving.server.rest import routes
from serving.server.rest.http_status import error_body
from serving.server.rest.http_status import http_status

logger = logging.getLogger(__name__)

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
# The RPC each URL verb stands for, as metrics label it.
API_NAMES = {
    "status": "GetModelStatus",
    "metadata": "GetModelMetadata",
    "predict": "Predict",
    "classify": "Classify",
    "regress": "Regress",
}


@dataclasses.dataclass
class Reply:
    """An HTTP answer and the labels metrics record for it.

    Args:
        status: int. The HTTP status.
        body: bytes. The JSON body.
        code: grpc.StatusCode. The canonical code the status comes from.
        model_name: str. From the URL ("" if it did not parse).
        signature_name: str. From the body ("" for the default or none).
        api: str. The RPC the URL stands for, e.g. "Predict".
    """

    status: int = 200
    body: bytes = b""
    code: grpc.StatusCode = grpc.StatusCode.OK
    model_name: str = ""
    signature_name: str = ""
    api: str = ""

    def fail(self, code, message):
        self.code = code
        self.status = http_status(code)
        self.body = error_body(message)
        return self


class RestApi:
    """Answers REST calls for the servables of a ModelManager.

    Args:
        manager: ModelManager. Where servables are looked up.
        predictor: callable(request, deadline) -> PredictResponse | None.
            Runs predictions, e.g. `Predictor.predict`, so that REST and
            gRPC requests batch together; by default
            `predict.predict(manager, request, limits)`.
        limits: RequestLimits | None. Size caps for classify and regress
            (and the default predictor); None: the defaults.
        runner: SignatureRunner | None. Runs classify and regress
            signatures, e.g. the gRPC service's `predictor.runner`, so that
            they batch with gRPC calls; None runs them on their own.

    Example:

    ```python
    api = RestApi(manager)
    reply = api.handle("POST", "/v1/models/toy:predict", b'{"inputs": [1]}')
    reply.status, reply.body  # 200, b'{"outputs":[...]}'
    ```
    """

    def __init__(self, manager, predictor=None, limits=None, runner=None):
        self._manager = manager
        self._limits = limits or DEFAULT_LIMITS
        self._runner = runner
        self._predictor = predictor or self._predict_unbatched
        self._verbs = {
            "status": self._status,
            "metadata": self._metadata,
            "predict": self._predict,
            "classify": self._classify,
            "regress": self._regress,
        }

    def handle(self, http_method, path, body, deadline=None):
        """Answers one call; never raises.

        Args:
            http_method: str. "GET" or "POST".
            path: str. The percent-encoded URL path, without the query.
            body: bytes. The request body (ignored for GET).
            deadline: float | None. `time.monotonic()` time after which the
                caller no longer waits; predictions not yet run are skipped.

        Returns:
            Reply.
        """
        reply = Reply()
        try:
            route = routes.parse(http_method, path)
            _label(reply, route)
            reply.body = self._verbs[route.verb](route, body, reply, deadline)
            return reply
        except errors.ServingError as error:
            logger.info("Rejected REST call: %s: %s", error.code.name, error)
            return reply.fail(error.code, error.message)
        except tf.errors.OpError as error:
            code = errors.status_code_for_tf_error(error)
            logger.warning("Model failed: %s: %s", code.name, error.message)
            return reply.fail(code, error.message)
        except RecursionError:
            return reply.fail(
                grpc.StatusCode.INVALID_ARGUMENT,
                "JSON value is nested too deeply.",
            )
        except Exception as error:  # the server must keep serving
            logger.exception("Unexpected error while answering a REST call")
            return reply.fail(
                grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}"
            )

    def describe(self, http_method, path):
        """A Reply labelled with what the URL asks for, for answers the
        server gives without calling the API (401, 413, 504)."""
        reply = Reply()
        try:
            _label(reply, routes.parse(http_method, path))
        except errors.ServingError:
            pass  # a malformed URL leaves the labels empty
        return reply

    def _predict(self, route, body, reply, deadline):
        document = json_inputs.parse_body(body)
        request = predict_pb2.PredictRequest()
        route.fill(request.model_spec)
        request.model_spec.signature_name = json_inputs.signature_name(document)
        reply.signature_name = request.model_spec.signature_name
        input_dtypes, defaults = self._inputs(request.model_spec)
        layout, arrays = json_inputs.decode_inputs(
            document, input_dtypes, defaults
        )
        for name, array in arrays.items():
            request.inputs[name].CopyFrom(tensors.to_tensor_proto(array))
        response = self._predictor(request, deadline)
        outputs = {
            name: tensors.to_ndarray(proto)
            for name, proto in response.outputs.items()
        }
        return json_outputs.encode_outputs(outputs, layout)

    def _predict_unbatched(self, request, deadline):
        deadlines.check(deadline)
        # Packed outputs decode fastest into JSON.
        return predict.predict(
            self._manager, request, self._limits, tensor_content=True
        )

    def _classify(self, route, body, reply, deadline):
        request = classification_pb2.ClassificationRequest()
        self._fill_example_request(request, route, body, reply)
        deadlines.check(deadline)
        response = classify.classify(
            self._manager, request, self._limits, self._runner, deadline
        )
        return json_examples.encode_classification(response.result)

    def _regress(self, route, body, reply, deadline):
        request = regression_pb2.RegressionRequest()
        self._fill_example_request(request, route, body, reply)
        deadlines.check(deadline)
        response = regress.regress(
            self._manager, request, self._limits, self._runner, deadline
        )
        return json_examples.encode_regression(response.result)

    def _fill_example_request(self, request, route, body, reply):
        document = json_inputs.parse_body(body)
        route.fill(request.model_spec)
        request.model_spec.signature_name = json_inputs.signature_name(document)
        reply.signature_name = request.model_spec.signature_name
        request.input.CopyFrom(json_examples.decode_input(document, route.verb))

    def _inputs(self, model_spec):
        """(dtype by input name, names of inputs with a default value).

        The signature's declared dtypes decide how JSON numbers convert,
        so `1` feeds a float input; one manager lookup and a dict get.
        """
        servable = self._manager.resolve(model_spec)
        name = model_spec.signature_name or DEFAULT_SIGNATURE
        signature_def = servable.signature_defs.get(name)
        if signature_def is None:
            raise errors.invalid_argument(
                f'Serving signature name: "{name}" not found in signature def'
            )
        if not signature_def.inputs:
            raise errors.invalid_argument(
                f"Failed to get input map for signature: {name}"
            )
        dtypes = {
            alias: tf.as_dtype(info.dtype)
            for alias, info in sorted(signature_def.inputs.items())
        }
        return dtypes, frozenset(signature_def.defaults) & set(dtypes)

    def _status(self, route, body, reply, deadline):
        request = get_model_status_pb2.GetModelStatusRequest()
        route.fill(request.model_spec)
        response = status.get_model_status(self._manager, request)
        return json_outputs.dumps(_to_dict(response))

    def _metadata(self, route, body, reply, deadline):
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        route.fill(request.model_spec)
        request.metadata_field.append(metadata.SIGNATURE_DEF_FIELD)
        response = metadata.get_model_metadata(self._manager, request)
        signature_def_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[metadata.SIGNATURE_DEF_FIELD].Unpack(
            signature_def_map
        )
        # TensorFlow Serving writes the unpacked map under "signature_def",
        # so its own "signature_def" field appears a second time inside.
        return json_outputs.dumps(
            {
                "model_spec": _to_dict(response.model_spec),
                "metadata": {
                    metadata.SIGNATURE_DEF_FIELD: _to_dict(signature_def_map)
                },
            }
        )


def _label(reply, route):
    reply.model_name = route.model_name
    reply.api = API_NAMES[route.verb]


def _to_dict(message):
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
