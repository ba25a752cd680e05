"""PredictionClient's transport features against real gRPC servers.

Retries, deadlines, message-size limits, TLS and tokens are checked end
to end: `serve` starts a real PredictionService on a loopback port, with
interceptors that count calls or make the first few fail.
"""

import threading
from concurrent import futures

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.client import PredictionClient
from serving.client import TlsConfig
from serving.client import examples
from serving.server.auth import BearerTokenInterceptor
from serving.server.manager import ModelManager
from serving.server.prediction_service import PredictionService

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
TOY_INPUTS = {"text": ["a"], "x": np.ones((1, 2), np.float32)}


class _Flaky(grpc.ServerInterceptor):
    """Counts calls; fails the first `failures` with UNAVAILABLE, or blocks
    each one until `release` is set when `block` is True."""

    def __init__(self, failures=0, block=False):
        self.calls = 0
        self._failures = failures
        self._block = block
        self.release = threading.Event()
        self._lock = threading.Lock()

    def intercept_service(self, continuation, handler_call_details):
        with self._lock:
            self.calls += 1
            fail = self.calls <= self._failures
        if fail:
            return grpc.unary_unary_rpc_method_handler(self._unavailable)
        if self._block:
            self.release.wait(timeout=10)
        return continuation(handler_call_details)

    def _unavailable(self, request, context):
        context.abort(UNAVAILABLE, "warming up")


@pytest.fixture(scope="module")
def manager(latest_servable, rest_toy_servable, example_servable):
    manager = ModelManager()
    for servable in (latest_servable, rest_toy_servable, example_servable):
        manager.add(servable)
    return manager


@pytest.fixture
def serve(manager):
    """`serve(interceptors=(), credentials=None)` -> "127.0.0.1:port"."""
    servers = []

    def start(interceptors=(), credentials=None):
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4),
            interceptors=list(interceptors),
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(manager), server
        )
        address = "127.0.0.1:0"
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(grace=None)


def test_unavailable_is_retried_until_the_server_answers(serve):
    flaky = _Flaky(failures=2)
    address = serve([flaky])

    with PredictionClient(address, max_attempts=3, initial_backoff=0.01) as c:
        outputs = c.predict("toy", TOY_INPUTS)

    assert flaky.calls == 3
    np.testing.assert_allclose(outputs["y"], [[2.0, 2.0]])


def test_retries_are_bounded(serve):
    flaky = _Flaky(failures=10)
    address = serve([flaky])

    with PredictionClient(address, max_attempts=4, initial_backoff=0.01) as c:
        with pytest.raises(grpc.RpcError) as raised:
            c.predict("toy", TOY_INPUTS)

    assert raised.value.code() == UNAVAILABLE
    assert flaky.calls == 4


def test_other_errors_are_not_retried(serve):
    counter = _Flaky()
    address = serve([counter])

    with PredictionClient(address, max_attempts=5) as client:
        with pytest.raises(grpc.RpcError) as raised:
            client.predict("toy", TOY_INPUTS, signature_name="nope")

    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert counter.calls == 1


def test_max_attempts_one_disables_retries(serve):
    flaky = _Flaky(failures=1)
    address = serve([flaky])

    with PredictionClient(address, max_attempts=1) as client:
        with pytest.raises(grpc.RpcError):
            client.predict("toy", TOY_INPUTS)

    assert flaky.calls == 1


@pytest.mark.parametrize("max_attempts", [0, 6])
def test_max_attempts_is_checked(max_attempts):
    with pytest.raises(ValueError, match="max_attempts"):
        PredictionClient("127.0.0.1:1", max_attempts=max_attempts)


@pytest.mark.parametrize("per_call", [False, True])
def test_deadlines(serve, per_call):
    slow = _Flaky(block=True)
    address = serve([slow])
    client_timeout, call_timeout = (10.0, 0.2) if per_call else (0.2, None)

    with PredictionClient(address, timeout=client_timeout) as client:
        with pytest.raises(grpc.RpcError) as raised:
            client.predict("toy", TOY_INPUTS, timeout=call_timeout)
    slow.release.set()

    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_message_size_limit_on_send(serve):
    address = serve()
    big = {"text": ["a"] * 300, "x": np.ones((300, 2), np.float32)}

    with PredictionClient(address, max_message_bytes=1024) as client:
        with pytest.raises(grpc.RpcError) as raised:
            client.predict("toy", big)

    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_message_size_limit_on_receive(serve):
    address = serve()
    # `typed` echoes the string twice, so the answer is about twice the ask.
    inputs = {
        "doubles": np.array([1.0]),
        "counts": np.array([1], np.int64),
        "small": np.array([1], np.int8),
        "flags": [True],
        "data": [b"x" * 600],
    }

    with PredictionClient(address, max_message_bytes=1024) as client:
        with pytest.raises(grpc.RpcError) as raised:
            client.predict("rest_toy", inputs, signature_name="typed")

    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "message larger than max" in raised.value.details()


def _server_credentials(certs, require_client_auth=False):
    return grpc.ssl_server_credentials(
        [(certs["server_key"], certs["server_cert"])],
        root_certificates=certs["ca"],
        require_client_auth=require_client_auth,
    )


def test_tls(serve, tls_certs):
    address = serve(credentials=_server_credentials(tls_certs))
    tls = TlsConfig(root_certificates=tls_certs["ca"])

    with PredictionClient(address, tls=tls) as client:
        outputs = client.predict("toy", TOY_INPUTS)
    with PredictionClient(address, timeout=2, max_attempts=1) as plain:
        with pytest.raises(grpc.RpcError) as raised:
            plain.predict("toy", TOY_INPUTS)

    assert outputs["length"].tolist() == [1]
    assert raised.value.code() == UNAVAILABLE


def test_mutual_tls(serve, tls_certs):
    credentials = _server_credentials(tls_certs, require_client_auth=True)
    address = serve(credentials=credentials)
    with_cert = TlsConfig(
        root_certificates=tls_certs["ca"],
        certificate_chain=tls_certs["client_cert"],
        private_key=tls_certs["client_key"],
    )
    without_cert = TlsConfig(root_certificates=tls_certs["ca"])

    with PredictionClient(address, tls=with_cert) as client:
        outputs = client.predict("toy", TOY_INPUTS)
    with PredictionClient(address, tls=without_cert, max_attempts=1) as anon:
        with pytest.raises(grpc.RpcError) as raised:
            anon.predict("toy", TOY_INPUTS)

    assert outputs["length"].tolist() == [1]
    assert raised.value.code() == UNAVAILABLE


def test_bearer_token(serve):
    address = serve([BearerTokenInterceptor("s3cret")])

    with PredictionClient(address, token="s3cret") as client:
        outputs = client.predict("toy", TOY_INPUTS)
    with PredictionClient(address) as anonymous:
        with pytest.raises(grpc.RpcError) as raised:
            anonymous.predict("toy", TOY_INPUTS)

    assert outputs["length"].tolist() == [1]
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_classify(serve):
    with PredictionClient(serve()) as client:
        results = client.classify(
            "scorer", [{"x": [1.0, 2.0]}, {"x": [0.5, -1.0], "bias": 0.5}]
        )

    # scorer: classes ["neg", "pos"], scores x + bias.
    assert results == [
        [("neg", 1.0), ("pos", 2.0)],
        [("neg", 1.0), ("pos", -0.5)],
    ]


def test_regress_with_context(serve):
    with PredictionClient(serve()) as client:
        values = client.regress(
            "scorer",
            [{"x": [1.0, 2.0]}, {"x": np.array([3.0, 0.0])}],
            signature_name="regress",
            context={"bias": 1.0},
        )

    # 2 * x[0] + x[1] + bias.
    np.testing.assert_allclose(values, [5.0, 7.0])
    assert values.dtype == np.float32


def test_examples_pick_the_feature_kind_from_the_values():
    example = examples.to_example(
        {"image": b"\x00", "caption": "héllo", "ids": [1, 2], "x": 0.5}
    )
    feature = example.features.feature

    assert feature["image"].bytes_list.value == [b"\x00"]
    assert feature["caption"].bytes_list.value == ["héllo".encode()]
    assert feature["ids"].int64_list.value == [1, 2]
    assert feature["x"].float_list.value == [0.5]


def test_examples_reject_mixed_kinds():
    with pytest.raises(TypeError, match="mixes text"):
        examples.to_example({"x": ["a", 1]})
