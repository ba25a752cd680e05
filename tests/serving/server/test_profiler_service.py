"""TensorFlow's ProfilerService on the server's gRPC port, called by
TensorFlow's own client, `tf.profiler.experimental.client.trace`."""

import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf

from serving.client import PredictionClient
from serving.server import grpc_server
from serving.server import profiler_service
from serving.server.auth import BearerTokenInterceptor
from serving.server.manager import ModelManager

TRACE_MS = 300


@pytest.fixture(scope="module")
def profiled_address(latest_servable):
    manager = ModelManager()
    manager.add(latest_servable)
    options = grpc_server.GrpcServerOptions(
        host="127.0.0.1", enable_profiler=True
    )
    server, port = grpc_server.start_grpc_server(manager, 0, options)
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


def _trace_files(logdir):
    return sorted((logdir / "plugins" / "profile").glob("*/*.xplane.pb"))


def test_trace_from_tensorflows_client_captures_the_servers_work(
    profiled_address, model_name, tmp_path
):
    x = np.array([[1.0, 2.0]], np.float32)
    stop = threading.Event()

    def send_requests():
        with PredictionClient(profiled_address) as client:
            while not stop.is_set():
                client.predict(model_name, {"text": ["ab"], "x": x})

    sender = threading.Thread(target=send_requests)
    sender.start()
    try:
        tf.profiler.experimental.client.trace(
            f"grpc://{profiled_address}", str(tmp_path), TRACE_MS
        )
    finally:
        stop.set()
        sender.join()

    (trace,) = _trace_files(tmp_path)
    data = trace.read_bytes()
    # Named by the host the client called, ':' written as '_'.
    assert trace.name == profiled_address.replace(":", "_") + ".xplane.pb"
    assert not profiler_service.is_empty(data)
    # The session ran the toy graph's Mul (y = x * scale) meanwhile.
    assert b"Mul" in data


def test_emit_xspace_returns_the_trace_instead_of_writing_it(
    profiled_address, tmp_path
):
    request = profiler_service.ProfileRequest(
        repository_root=str(tmp_path), session_id="s", host_name="h"
    )
    request.opts.duration_ms = 50
    request.opts.host_tracer_level = 2
    request.emit_xspace = True

    # A trace holds every host thread's events: in a busy test process it
    # can pass gRPC's 4 MB default, as TensorFlow's profiler client allows.
    options = [("grpc.max_receive_message_length", 256 * 1024 * 1024)]
    with grpc.insecure_channel(profiled_address, options=options) as channel:
        profile = channel.unary_unary(
            "/tensorflow.ProfilerService/Profile",
            request_serializer=profiler_service.ProfileRequest.SerializeToString,
            response_deserializer=profiler_service.ProfileResponse.FromString,
        )
        response = profile(request, timeout=30)

    assert response.xspace
    assert response.empty_trace == profiler_service.is_empty(response.xspace)
    assert list(tmp_path.iterdir()) == []


def test_terminate_ends_a_long_profile_early(profiled_address, tmp_path):
    request = profiler_service.ProfileRequest(
        repository_root=str(tmp_path), session_id="long", host_name="h"
    )
    request.opts.duration_ms = 60_000
    with grpc.insecure_channel(profiled_address) as channel:
        profile = channel.unary_unary(
            "/tensorflow.ProfilerService/Profile",
            request_serializer=profiler_service.ProfileRequest.SerializeToString,
            response_deserializer=profiler_service.ProfileResponse.FromString,
        )
        terminate = channel.unary_unary(
            "/tensorflow.ProfilerService/Terminate",
            request_serializer=(
                profiler_service.TerminateRequest.SerializeToString
            ),
            response_deserializer=profiler_service.TerminateResponse.FromString,
        )
        pending = profile.future(request, timeout=30)
        # Until the profile has started, a Terminate has nothing to end.
        while not pending.done():
            terminate(
                profiler_service.TerminateRequest(session_id="long"), timeout=5
            )
            time.sleep(0.05)

        pending.result()

    assert (tmp_path / "long" / "h.xplane.pb").is_file()


def test_monitor_is_unimplemented_as_in_tensorflow(profiled_address):
    with grpc.insecure_channel(profiled_address) as channel:
        monitor = channel.unary_unary(
            "/tensorflow.ProfilerService/Monitor",
            request_serializer=profiler_service.MonitorRequest.SerializeToString,
            response_deserializer=profiler_service.MonitorResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as raised:
            monitor(profiler_service.MonitorRequest(), timeout=5)

    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert raised.value.details() == "unimplemented."


def test_profiler_is_off_unless_enabled(server_address):
    with grpc.insecure_channel(server_address) as channel:
        monitor = channel.unary_unary(
            "/tensorflow.ProfilerService/Monitor",
            request_serializer=profiler_service.MonitorRequest.SerializeToString,
            response_deserializer=profiler_service.MonitorResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as raised:
            monitor(profiler_service.MonitorRequest(), timeout=5)

    assert raised.value.details() == "Method not found!"


def test_bearer_token_guards_the_profiler_too(latest_servable):
    options = grpc_server.GrpcServerOptions(
        host="127.0.0.1",
        enable_profiler=True,
        interceptors=(BearerTokenInterceptor("s3cret"),),
    )
    server, port = grpc_server.start_grpc_server(ModelManager(), 0, options)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            terminate = channel.unary_unary(
                "/tensorflow.ProfilerService/Terminate",
                request_serializer=(
                    profiler_service.TerminateRequest.SerializeToString
                ),
                response_deserializer=(
                    profiler_service.TerminateResponse.FromString
                ),
            )
            with pytest.raises(grpc.RpcError) as raised:
                terminate(profiler_service.TerminateRequest(), timeout=5)
            terminate(
                profiler_service.TerminateRequest(),
                metadata=(("authorization", "Bearer s3cret"),),
                timeout=5,
            )
    finally:
        server.stop(grace=None)

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
