"""REST URL parsing, as TensorFlow Serving's path regexes do it."""

import grpc
import pytest
from tensorflow_serving.apis import model_pb2

from serving.server import errors
from serving.server.rest import routes


@pytest.mark.parametrize(
    "method, path, expected",
    [
        ("GET", "/v1/models/toy", routes.Route("status", "toy")),
        ("GET", "/v1/models/toy/versions/3", routes.Route("status", "toy", 3)),
        (
            "GET",
            "/v1/models/toy/labels/stable",
            routes.Route("status", "toy", label="stable"),
        ),
        ("GET", "/v1/models/toy/metadata", routes.Route("metadata", "toy")),
        (
            "GET",
            "/v1/models/toy/versions/2/metadata",
            routes.Route("metadata", "toy", 2),
        ),
        ("POST", "/v1/models/toy:predict", routes.Route("predict", "toy")),
        (
            "POST",
            "/v1/models/toy/versions/2:classify",
            routes.Route("classify", "toy", 2),
        ),
        (
            "POST",
            "/v1/models/toy/labels/canary:regress",
            routes.Route("regress", "toy", label="canary"),
        ),
        # Case-insensitive like TF Serving; names are percent-decoded.
        ("POST", "/V1/Models/toy:PREDICT", routes.Route("predict", "toy")),
        ("POST", "/v1/models/a%2Fb:predict", routes.Route("predict", "a/b")),
    ],
)
def test_parse(method, path, expected):
    assert routes.parse(method, path) == expected


@pytest.mark.parametrize(
    "method, path, message",
    [
        ("GET", "/v1/models", "Missing model name in request."),
        ("GET", "/v1/foo", "Malformed request: GET /v1/foo"),
        ("POST", "/v1/models/toy", "Malformed request: POST /v1/models/toy"),
        ("GET", "/v1/models/toy:predict", "Malformed request: GET"),
        ("PUT", "/v1/models/toy:predict", "Malformed request: PUT"),
        ("POST", "/v1/models/toy:train", "Malformed request: POST"),
        (
            "GET",
            "/v1/models/toy/versions/99999999999999999999",
            "Failed to convert version: 99999999999999999999 to numeric.",
        ),
    ],
)
def test_parse_rejects(method, path, message):
    with pytest.raises(errors.ServingError) as raised:
        routes.parse(method, path)

    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert message in raised.value.message


def test_route_fills_model_spec():
    model_spec = model_pb2.ModelSpec()
    routes.Route("predict", "toy", label="stable").fill(model_spec)

    assert model_spec.name == "toy"
    assert model_spec.version_label == "stable"
    assert not model_spec.HasField("version")


def test_is_api_path():
    assert routes.is_api_path("/v1/models/toy")
    assert routes.is_api_path("/V1/x")
    assert not routes.is_api_path("/monitoring/prometheus/metrics")
