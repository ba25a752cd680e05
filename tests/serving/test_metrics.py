"""Metrics: recorded from real gRPC and REST calls, read from the page."""

from concurrent import futures

import grpc
import numpy as np
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.client import PredictionClient
from serving.server import metrics as metrics_module
from serving.server.batching.options import BatchingOptions
from serving.server.manager import ModelManager
from serving.server.metrics import Metrics
from serving.server.prediction_service import PredictionService
from serving.server.rest import RestServer

MONITORING_PATH = "/monitoring/prometheus/metrics"
INPUTS = {"text": ["a"], "x": np.ones((1, 2), np.float32)}


def _samples(page):
    """{(sample name, frozenset(labels)): value} from an exposition page."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }


def _labels(**labels):
    return frozenset(labels.items())


@pytest.fixture(scope="module")
def servers(latest_servable):
    """gRPC (with the interceptor and batching) and REST, one Metrics."""
    metrics = Metrics()
    manager = ModelManager()
    manager.add(latest_servable)
    service = PredictionService(
        manager,
        BatchingOptions(max_batch_size=4, num_batch_threads=1),
        on_batch=metrics.record_batch_size,
    )
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        interceptors=[metrics.grpc_interceptor()],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        service, grpc_server
    )
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    rest_server = RestServer(
        manager,
        0,
        host="127.0.0.1",
        monitoring_path=MONITORING_PATH,
        metrics=metrics,
        predictor=service.predictor.predict,
    )
    rest_url = f"http://127.0.0.1:{rest_server.start()}"
    yield f"127.0.0.1:{grpc_port}", rest_url
    rest_server.stop(0)
    grpc_server.stop(grace=None)
    service.close()


@pytest.fixture(scope="module")
def page(servers):
    """The metrics page after 2 OK + 1 NOT_FOUND gRPC Predicts, one gRPC
    GetModelMetadata, and 1 OK + 1 INVALID_ARGUMENT REST predicts."""
    grpc_address, rest_url = servers
    with PredictionClient(grpc_address) as client:
        client.predict("toy", INPUTS)
        client.predict("toy", INPUTS)
        with pytest.raises(grpc.RpcError):
            client.predict("missing", INPUTS)
        client.metadata("toy")
    predict_url = rest_url + "/v1/models/toy:predict"
    requests.post(
        predict_url, json={"instances": [{"text": "a", "x": [1, 2]}]}
    ).raise_for_status()
    assert requests.post(predict_url, data="{").status_code == 400
    response = requests.get(rest_url + MONITORING_PATH, timeout=10)
    assert response.status_code == 200
    return _samples(response.text)


def _request_labels(model, api, entrypoint, status, signature=""):
    return _labels(
        model_name=model,
        signature_name=signature,
        API=api,
        entrypoint=entrypoint,
        status=status,
    )


@pytest.mark.parametrize(
    "labels, count",
    [
        (_request_labels("toy", "Predict", "GRPC", "OK", "serving_default"), 2),
        (
            _request_labels(
                "missing", "Predict", "GRPC", "NOT_FOUND", "serving_default"
            ),
            1,
        ),
        (_request_labels("toy", "GetModelMetadata", "GRPC", "OK"), 1),
        (_request_labels("toy", "Predict", "REST", "OK", "serving_default"), 1),
        (
            _request_labels(
                "toy", "Predict", "REST", "INVALID_ARGUMENT", "serving_default"
            ),
            1,
        ),
    ],
)
def test_request_counts_by_status_code(page, labels, count):
    assert page[(metrics_module.REQUEST_COUNT, labels)] == count


def test_request_latency_histogram_per_series(page):
    labels = _request_labels("toy", "Predict", "GRPC", "OK", "serving_default")
    name = metrics_module.REQUEST_LATENCY

    assert page[(name + "_count", labels)] == 2
    assert page[(name + "_bucket", labels | {("le", "+Inf")})] == 2
    assert page[(name + "_sum", labels)] > 0


def test_batch_sizes_recorded_through_the_batcher_callback(page):
    labels = _labels(model_name="toy", signature_name="serving_default")
    name = metrics_module.BATCH_SIZE

    # Three Predicts ran (two gRPC, one REST), one row each.
    assert page[(name + "_count", labels)] == 3
    assert page[(name + "_sum", labels)] == 3
    assert page[(name + "_bucket", labels | {("le", "1.0")})] == 3


def test_latency_buckets_are_cumulative_in_microseconds():
    metrics = Metrics()
    metrics.record_request("m", "s", "grpc", grpc.StatusCode.OK, 50e-6)
    metrics.record_request("m", "s", "grpc", grpc.StatusCode.OK, 1.0)

    samples = _samples(metrics.render().decode())

    labels = _request_labels("m", "", "GRPC", "OK", "s")
    name = metrics_module.REQUEST_LATENCY + "_bucket"
    # Buckets are 10 * 1.8**i us: 10, 18, 32.4, 58.32, ...
    assert samples[(name, labels | {("le", "32.400000000000006")})] == 0
    assert samples[(name, labels | {("le", "58.32000000000001")})] == 1
    assert samples[(name, labels | {("le", "+Inf")})] == 2
    assert samples[
        (metrics_module.REQUEST_LATENCY + "_sum", labels)
    ] == pytest.approx(1_000_050)


def test_load_attempts_by_outcome():
    metrics = Metrics()
    metrics.record_load("toy", 2, "success")
    metrics.record_load("toy", 3, "fail")
    metrics.record_load("toy", 3, "fail")

    samples = _samples(metrics.render().decode())

    name = metrics_module.LOAD_ATTEMPT_COUNT
    assert (
        samples[
            (name, _labels(model_name="toy", version="2", status="success"))
        ]
        == 1
    )
    assert (
        samples[(name, _labels(model_name="toy", version="3", status="fail"))]
        == 2
    )


def test_names_match_tensorflow_serving(page):
    text = Metrics().render().decode()

    # No "_total" suffix: dashboards written for TF Serving keep working.
    assert ":tensorflow:serving:request_count_total" not in text
    assert any(name == ":tensorflow:serving:request_count" for name, _ in page)


def test_series_are_capped(monkeypatch):
    monkeypatch.setattr(metrics_module, "MAX_SERIES", 3)
    metrics = Metrics()
    for index in range(5):
        metrics.record_load(f"model-{index}", 1, "success")

    samples = _samples(metrics.render().decode())

    loads = {
        labels: value
        for (name, labels), value in samples.items()
        if name == metrics_module.LOAD_ATTEMPT_COUNT
    }
    assert len(loads) == 4
    overflow = _labels(
        model_name=metrics_module.OVERFLOW_MODEL_NAME, version="", status=""
    )
    assert loads[overflow] == 2


def test_registries_are_independent():
    first, second = Metrics(), Metrics()
    first.record_load("only-in-first", 1, "success")

    assert b"only-in-first" not in second.render()
