"""RestServer itself: auth, timeouts, body limits, TLS, shutdown, batching.

Each test starts its own RestServer on a loopback port 0 over the shared
`rest_manager`; `serve` stops them all afterwards.
"""

import ssl
import threading
import time

import pytest
import requests
from tensorflow_serving.apis import predict_pb2

from serving import tensors
from serving.server.batching.options import BatchingOptions
from serving.server.metrics import Metrics
from serving.server.predict import Predictor
from serving.server.rest import RestServer

PREDICT = "/v1/models/rest_toy:predict"
ONE_INSTANCE = '{"instances": [2.0]}'


@pytest.fixture
def serve(rest_manager):
    """`serve(**kwargs)` -> base URL of a started RestServer(**kwargs)."""
    servers = []

    def start(scheme="http", **kwargs):
        server = RestServer(rest_manager, port=0, host="127.0.0.1", **kwargs)
        servers.append(server)
        return f"{scheme}://127.0.0.1:{server.start()}"

    yield start
    for server in servers:
        server.stop(grace_seconds=0)


class _GatedPredictor:
    """Runs real predictions, each waiting until `release` is set."""

    def __init__(self, manager):
        self._predictor = Predictor(manager)
        self.release = threading.Event()
        self.started = threading.Event()
        self.deadlines = []

    def __call__(self, request, deadline):
        self.deadlines.append(deadline)
        self.started.set()
        self.release.wait(timeout=10)
        return self._predictor.predict(request, deadline)


def test_bearer_token_is_required_when_configured(serve):
    url = serve(auth_token="s3cret")

    missing = requests.post(url + PREDICT, data=ONE_INSTANCE, timeout=10)
    wrong = requests.post(
        url + PREDICT,
        data=ONE_INSTANCE,
        headers={"Authorization": "Bearer nope"},
        timeout=10,
    )
    right = requests.post(
        url + PREDICT,
        data=ONE_INSTANCE,
        headers={"Authorization": "Bearer s3cret"},
        timeout=10,
    )

    for rejected in (missing, wrong):
        assert rejected.status_code == 401
        assert "bearer token" in rejected.json()["error"]
        assert rejected.headers["WWW-Authenticate"].startswith("Bearer")
    assert (right.status_code, right.json()) == (200, {"predictions": [3.0]})


def test_metrics_page_needs_the_token_too(serve):
    url = serve(
        auth_token="s3cret", metrics=Metrics(), monitoring_path="/metrics"
    )

    anonymous = requests.get(url + "/metrics", timeout=10)
    authorized = requests.get(
        url + "/metrics",
        headers={"Authorization": "Bearer s3cret"},
        timeout=10,
    )

    assert anonymous.status_code == 401
    assert authorized.status_code == 200
    assert authorized.headers["Content-Type"].startswith("text/plain")


def test_no_metrics_page_without_metrics(serve):
    url = serve(monitoring_path="/metrics")

    response = requests.get(url + "/metrics", timeout=10)

    assert response.status_code == 404


def test_slow_calls_get_504_at_the_timeout(serve, rest_manager):
    predictor = _GatedPredictor(rest_manager)
    url = serve(timeout_ms=200, predictor=predictor)

    start = time.monotonic()
    response = requests.post(url + PREDICT, data=ONE_INSTANCE, timeout=10)
    elapsed = time.monotonic() - start
    predictor.release.set()

    assert response.status_code == 504
    assert "REST API timeout of 200 ms" in response.json()["error"]
    assert elapsed < 5
    # The predictor got the deadline, to skip work nobody waits for.
    assert predictor.deadlines[0] - start == pytest.approx(0.2, abs=0.15)


def test_requests_batch_through_a_shared_predictor(serve, rest_manager):
    metrics = Metrics()
    predictor = Predictor(
        rest_manager,
        BatchingOptions(max_batch_size=8, num_batch_threads=1),
        on_batch=metrics.record_batch_size,
    )
    url = serve(predictor=predictor.predict)
    try:
        response = requests.post(url + PREDICT, data=ONE_INSTANCE, timeout=10)
    finally:
        predictor.close()

    assert response.json() == {"predictions": [3.0]}
    assert b'processed_batch_size_count{model_name="rest_toy"' in (
        metrics.render()
    )


def test_oversized_bodies_get_413(serve):
    url = serve(max_body_bytes=100)

    response = requests.post(
        url + PREDICT, data='{"instances": [' + "1," * 100 + "1]}", timeout=10
    )

    assert response.status_code == 413
    assert "exceeds the limit of 100 bytes" in response.json()["error"]


def test_https_with_a_server_certificate(serve, tls_certs, tmp_path):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    (tmp_path / "cert.pem").write_bytes(tls_certs["server_cert"])
    (tmp_path / "key.pem").write_bytes(tls_certs["server_key"])
    (tmp_path / "ca.pem").write_bytes(tls_certs["ca"])
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    url = serve(scheme="https", ssl_context=context)

    response = requests.post(
        url + PREDICT, data=ONE_INSTANCE, verify=tmp_path / "ca.pem", timeout=10
    )

    assert response.json() == {"predictions": [3.0]}


def test_stop_lets_in_flight_calls_finish(rest_manager):
    predictor = _GatedPredictor(rest_manager)
    server = RestServer(rest_manager, 0, host="127.0.0.1", predictor=predictor)
    url = f"http://127.0.0.1:{server.start()}"
    responses = []
    caller = threading.Thread(
        target=lambda: responses.append(
            requests.post(url + PREDICT, data=ONE_INSTANCE, timeout=10)
        )
    )
    caller.start()
    assert predictor.started.wait(timeout=10)

    stopper = threading.Thread(target=server.stop, args=(10,))
    stopper.start()
    predictor.release.set()
    stopper.join(timeout=15)
    caller.join(timeout=15)

    assert responses[0].json() == {"predictions": [3.0]}
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/v1/models/toy", timeout=2)


def test_a_started_server_cannot_start_again(serve, rest_manager):
    server = RestServer(rest_manager, 0, host="127.0.0.1")
    server.start()
    try:
        with pytest.raises(RuntimeError, match="already"):
            server.start()
    finally:
        server.stop(0)


def test_predictor_gets_request_protos(rest_manager):
    # The REST layer hands the predictor the same PredictRequest a gRPC
    # client would send.
    seen = []

    def predictor(request, deadline):
        seen.append(request)
        return Predictor(rest_manager).predict(request, deadline)

    server = RestServer(rest_manager, 0, host="127.0.0.1", predictor=predictor)
    url = f"http://127.0.0.1:{server.start()}"
    try:
        requests.post(
            url + "/v1/models/rest_toy/versions/1:predict",
            data=ONE_INSTANCE,
            timeout=10,
        )
    finally:
        server.stop(0)

    (request,) = seen
    assert isinstance(request, predict_pb2.PredictRequest)
    assert request.model_spec.name == "rest_toy"
    assert request.model_spec.version.value == 1
    assert tensors.to_ndarray(request.inputs["x"]).tolist() == [2.0]


CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}


def _cors_headers(response):
    return {name: response.headers.get(name) for name in CORS}


def test_cors_headers_on_every_api_answer_when_enabled(serve):
    url = serve(cors=True)

    ok = requests.post(url + PREDICT, data=ONE_INSTANCE, timeout=10)
    missing = requests.get(url + "/v1/models/nope", timeout=10)

    assert ok.status_code == 200
    assert ok.json() == {"predictions": [3.0]}
    assert _cors_headers(ok) == CORS
    assert missing.status_code == 404
    assert _cors_headers(missing) == CORS


def test_no_cors_headers_by_default(serve):
    response = requests.post(serve() + PREDICT, data=ONE_INSTANCE, timeout=10)

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_preflight_needs_an_http_origin_and_no_token(serve):
    url = serve(cors=True, auth_token="s3cret")

    preflight = requests.options(
        url + PREDICT, headers={"Origin": "https://app.example"}, timeout=10
    )
    no_origin = requests.options(url + PREDICT, timeout=10)

    assert preflight.status_code == 200
    assert preflight.content == b""
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight.headers["Access-Control-Allow-Headers"] == (
        "Content-Type, Authorization"
    )
    assert no_origin.status_code == 400
    assert no_origin.json() == {
        "error": "Origin header is missing in CORS preflight"
    }
