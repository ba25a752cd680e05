"""The server command line, run as a real subprocess."""

import logging
import os
import re
import signal
import socket
import subprocess
import sys
from concurrent import futures

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.client import PredictionClient
from serving.client import RestClient
from serving.process import ModelServerProcess
from serving.server import flags
from serving.server import grpc_server
from serving.server import main
from serving.server import settings
from serving.server.batching import BatchingOptions

pytestmark = pytest.mark.slow


def _run_server(*argv):
    return subprocess.run(
        [sys.executable, "-m", "serving.server.main", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_unknown_flag_exits_with_code_2():
    result = _run_server("--model_base_path=/m", "--bogus=1")

    assert result.returncode == 2
    assert "unrecognized arguments: --bogus=1" in result.stderr


def test_base_path_without_versions_exits_with_code_1_naming_it(tmp_path):
    # Only an unfinished export: nothing to serve yet. (A missing base path
    # is covered through ModelServerProcess in tests/serving/test_process.py.)
    (tmp_path / ".tmp-1").mkdir()

    result = _run_server("--port=0", f"--model_base_path={tmp_path}")

    assert result.returncode == 1
    assert f"found under base path '{tmp_path}'" in result.stderr


class _GatedModel(tf.Module):
    """Marks a file when a request starts, then holds it until a gate file
    exists: a request that is provably in flight, with no sleeps."""

    @tf.function(
        input_signature=[
            tf.TensorSpec([], tf.string),
            tf.TensorSpec([], tf.string),
        ]
    )
    def serve(self, started_path, gate_path):
        started = tf.io.write_file(started_path, "started")
        with tf.control_dependencies([started]):
            polls = tf.while_loop(
                lambda i: tf.size(tf.io.matching_files(gate_path)) == 0,
                lambda i: i + 1,
                [tf.constant(0)],
            )
        return {"polls": polls[0]}


@pytest.fixture(scope="module")
def gated_base_path(tmp_path_factory):
    base_path = tmp_path_factory.mktemp("gated") / "gated"
    model = _GatedModel()
    tf.saved_model.save(
        model, str(base_path / "1"), signatures={"serving_default": model.serve}
    )
    return base_path


def test_sigterm_lets_in_flight_requests_finish_then_exits_0(
    gated_base_path, tmp_path, wait_until
):
    # Under load: two requests provably running when SIGTERM arrives (each
    # spins on one of TensorFlow's inter-op threads, as many as cores).
    starts = [tmp_path / f"started-{i}" for i in range(2)]
    gate = tmp_path / "gate"
    server = ModelServerProcess(
        "gated",
        gated_base_path,
        extra_flags=["--file_system_poll_wait_seconds=0"],
    )
    with server, futures.ThreadPoolExecutor(len(starts)) as pool:
        client = PredictionClient(server.address, timeout=60)
        in_flight = [
            pool.submit(
                client.predict,
                "gated",
                {"started_path": str(started), "gate_path": str(gate)},
            )
            for started in starts
        ]
        wait_until(lambda: all(p.exists() for p in starts), timeout=30)
        server.process.send_signal(signal.SIGTERM)
        wait_until(lambda: "shutting down" in server.output_tail)
        gate.write_text("open")
        outputs = [request.result(timeout=30) for request in in_flight]
        exit_code = server.process.wait(timeout=30)
        client.close()

    assert all(output["polls"] >= 0 for output in outputs)
    assert exit_code == 0
    assert "Server stopped" in server.output_tail


def test_sigterm_while_loading_exits_0(tmp_path, wait_until):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "saved_model.pb").write_bytes(b"corrupt")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serving.server.main",
            "--port=0",
            f"--model_base_path={tmp_path}",
            "--max_num_load_retries=5",
            "--load_retry_interval_micros=60000000",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    output = []
    try:
        for line in process.stderr:
            output.append(line)
            if "retry 1 of 5" in line:
                process.send_signal(signal.SIGTERM)
                break
        output.extend(process.stderr)
        exit_code = process.wait(timeout=30)
    finally:
        process.kill()

    assert exit_code == 0, "".join(output)
    assert "Stopped while loading models" in "".join(output)


def test_bad_config_file_exits_1_naming_file_and_position(tmp_path):
    config_file = tmp_path / "models.config"
    config_file.write_text("model_config_list {\n  config { nme: 'x' }\n}\n")

    result = _run_server(f"--model_config_file={config_file}")

    assert result.returncode == 1
    # TF Serving's phrases, which operators' scripts look for.
    assert (
        "Error parsing text-format tensorflow.serving.ModelServerConfig: "
        '2:12: Message type "tensorflow.serving.ModelConfig" has no field '
        'named "nme".'
    ) in result.stderr
    assert f"Invalid protobuf file: '{config_file}'" in result.stderr


def test_config_file_models_health_socket_and_polling(
    make_base_path, add_toy_version, tmp_path, wait_until
):
    alpha = make_base_path(1, name="alpha")
    beta = make_base_path(2, name="beta")
    config_file = tmp_path / "models.config"
    config_file.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{name}" base_path: "{path}" '
            'model_platform: "tensorflow" }\n'
            for name, path in (("alpha", alpha), ("beta", beta))
        )
        + "}\n"
    )
    socket_path = tmp_path / "s.sock"
    server = ModelServerProcess(
        "alpha",
        None,
        extra_flags=[
            f"--model_config_file={config_file}",
            "--file_system_poll_wait_seconds=0.2",
            "--enable_grpc_healthcheck_service",
            f"--grpc_socket_path={socket_path}",
        ],
    )
    with server:
        with PredictionClient(f"unix:{socket_path}") as client:
            assert client.status("beta")[0]["state"] == "AVAILABLE"
            add_toy_version(alpha, 3)
            wait_until(
                lambda: (
                    _states(client, "alpha") == [(3, "AVAILABLE"), (1, "END")]
                )
            )
        with grpc.insecure_channel(server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )

    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert server.process.returncode == 0


def _states(client, model_name):
    return [(s["version"], s["state"]) for s in client.status(model_name)]


def _free_port():
    # --rest_api_port=0 disables REST (as in TF Serving): pick a free port.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_rest_batching_and_metrics_are_wired_together(
    tmp_path, model_base_path, wait_until
):
    (tmp_path / "monitoring.config").write_text(
        'prometheus_config { enable: true path: "/metrics" }\n'
    )
    (tmp_path / "batching.config").write_text(
        "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 1000 }\n"
    )
    rest_port = _free_port()
    flags = (
        f"--rest_api_port={rest_port}",
        "--enable_batching",
        f"--batching_parameters_file={tmp_path / 'batching.config'}",
        f"--monitoring_config_file={tmp_path / 'monitoring.config'}",
    )
    x = np.array([[1.0, 2.0]], np.float32)
    with ModelServerProcess(
        "toy", model_base_path, extra_flags=flags
    ) as server:
        wait_until(lambda: "HTTP/REST API" in server.output_tail, timeout=30)
        rest = RestClient(f"http://127.0.0.1:{rest_port}")
        rest_y = rest.predict("toy", {"text": ["ab"], "x": x})["y"]
        with PredictionClient(server.address) as client:
            grpc_y = client.predict("toy", {"text": ["ab"], "x": x})["y"]
        page = requests.get(rest.base_url + "/metrics", timeout=10).text
    np.testing.assert_allclose(rest_y, [[2.0, 4.0]])  # version 2: y = 2 x
    np.testing.assert_allclose(grpc_y, [[2.0, 4.0]])
    for entrypoint in ("GRPC", "REST"):
        assert re.search(
            r':tensorflow:serving:request_count\{API="Predict",'
            rf'entrypoint="{entrypoint}",model_name="toy",'
            r'signature_name="serving_default",status="OK"\} 1\.0',
            page,
        )
    # Both requests went through the one shared batcher.
    assert re.search(
        r"processed_batch_size_count\{model_name=\"toy\","
        r"signature_name=\"serving_default\"\} 2\.0",
        page,
    )
    assert 'load_attempt_count{model_name="toy",status="success"' in page


def test_method_name_check_flag_reaches_the_server(
    example_servable, make_example
):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "scorer"
    request.model_spec.signature_name = "predict_scores"
    request.input.example_list.examples.add().CopyFrom(
        make_example(x=[1.0, 2.0])
    )
    base_path = os.path.dirname(example_servable.path)
    flags = (
        "--enable_signature_method_name_check",
        # Accepted alongside, as a TF Serving flag line would have it.
        "--tensorflow_session_parallelism=1",
        "--saved_model_tags=serve",
        "--num_request_iterations_for_warmup=2",
    )

    with ModelServerProcess("scorer", base_path, extra_flags=flags) as server:
        with grpc.insecure_channel(server.address) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            with pytest.raises(grpc.RpcError) as raised:
                stub.Classify(request, timeout=30)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Was: tensorflow/serving/predict" in raised.value.details()


@pytest.mark.parametrize(
    "argv, max_batch_size, threads",
    [
        ([], None, grpc_server.DEFAULT_MAX_WORKERS),
        ([], 100, 200),
        ([], 1000, main.MAX_BATCHING_WORKERS),
        (["--grpc_max_threads=3"], 200, 3),
    ],
)
def test_grpc_threads_follow_the_flag_or_make_room_for_batches(
    argv, max_batch_size, threads
):
    server_flags = flags.parse_flags(["--model_base_path=/m", *argv])
    batching = (
        None if max_batch_size is None else BatchingOptions(max_batch_size)
    )

    assert main._grpc_threads(server_flags, batching) == threads


def test_version_prints_tf_servings_two_lines(capsys):
    assert main.main(["--version"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("TensorFlow ModelServer: ")
    assert lines[0].endswith("(mmkeras-model-server)")
    assert lines[1] == f"TensorFlow Library: {tf.__version__}"


def test_each_setting_that_changes_nothing_gets_one_log_line(tmp_path, caplog):
    server_flags = flags.parse_flags(
        [
            f"--model_base_path={tmp_path}",
            "--num_unload_threads=4",
            "--xla_cpu_compilation_enabled",
            "--mixed_precision=float16",
            "--per_process_gpu_memory_fraction=0.5",
        ]
    )

    with caplog.at_level(logging.INFO, "serving.server"):
        main._log_notices(server_flags, settings.read_settings(server_flags))

    assert [record.getMessage() for record in caplog.records] == [
        "--num_unload_threads is accepted, but unloading a version only "
        "drops its references here, which needs no thread pool.",
        "--xla_cpu_compilation_enabled is accepted, but XLA JIT compilation "
        "stays available: functions with jit_compile run whatever the value.",
        "float16 auto mixed precision is not supported. Valid option: bfloat16",
        "per_process_gpu_memory_fraction=0.5 is accepted, but no GPU is "
        "visible, so it has no effect.",
    ]


def test_load_options_come_from_the_bundle_config(tmp_path):
    server_flags = flags.parse_flags(
        [
            f"--model_base_path={tmp_path}",
            "--tensorflow_intra_op_parallelism=2",
            "--saved_model_tags=serve,extra",
            "--enable_model_warmup=false",
            "--num_load_threads=3",
            "--num_tflite_pools=5",
            "--enable_batching",
            "--enable_per_model_batching_parameters",
            "--mixed_precision=bfloat16",
        ]
    )
    bundle = settings.read_settings(server_flags).bundle_config

    options = main._load_options(server_flags, bundle)

    session = options.session_options
    assert (session.intra_op_parallelism, session.tags) == (
        2,
        ("serve", "extra"),
    )
    assert session.mixed_precision == "bfloat16"
    assert session.config_proto().intra_op_parallelism_threads == 2
    assert options.enable_model_warmup is False
    assert options.num_load_threads == 3
    assert options.num_tflite_interpreters == 5
    assert options.per_model_batching is True


def test_alts_outside_google_cloud_fails_to_start_saying_why(model_base_path):
    result = _run_server(
        "--port=0",
        "--model_name=toy",
        f"--model_base_path={model_base_path}",
        "--use_alts_credentials",
    )

    assert result.returncode == 1
    assert main.ALTS_HINT in result.stderr


@pytest.mark.parametrize(
    "argv, enabled", [([], True), (["--enable_profiler=false"], False)]
)
def test_profiler_is_served_unless_turned_off(tmp_path, argv, enabled):
    server_flags = flags.parse_flags([f"--model_base_path={tmp_path}", *argv])
    server_settings = settings.read_settings(server_flags)

    options = main._grpc_options(server_flags, server_settings, None, None)

    assert options.enable_profiler is enabled
