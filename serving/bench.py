"""The serving benchmark behind scripts/bench_serving.py.

Builds an MLP SavedModel (17.9M parameters, ~4 ms per batch-1 call on
a 2-core machine, so that the model, not the transport, dominates a
request, as in real serving), then measures:

1. batch-1 latency, in interleaved blocks of 50 calls: the signature
   called in-process as a Python user would (`tf.saved_model.load`, in a
   process of its own so that two TensorFlow runtimes never run in the
   client), the session callable the server runs (also in-process), and
   Predict through the server over gRPC (p50 overhead, p99/p50), with a
   GetModelStatus round trip as the cost of gRPC alone;
2. throughput at concurrency 1, 8 and 32, batching off vs on;
3. REST vs gRPC: batch-1 latency and throughput at concurrency 8.

The machine is shared and noisy, so every figure is compared with its
counterpart from the same run and reported as a ratio. Servers run one at
a time so they do not compete for the cores.
"""

import os
import socket
import tempfile

import grpc
import numpy as np
import requests
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving import tensors
from serving.client import PredictionClient
from serving.loadgen import InProcessBaseline
from serving.loadgen import interleaved_latency_percentiles
from serving.loadgen import throughput_with_futures
from serving.loadgen import throughput_with_threads
from serving.loadgen import timed_calls
from serving.process import ModelServerProcess

MODEL_NAME = "bench_mlp"
FEATURES = 256
HIDDEN = 4096
BATCHING_CONFIG = """\
max_batch_size { value: 32 }
batch_timeout_micros { value: 2000 }
num_batch_threads { value: 2 }
max_enqueued_batches { value: 100 }
"""


class _Mlp(tf.Module):
    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        shapes = [(FEATURES, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, 10)]
        self.kernels = [
            tf.Variable(rng.normal(0, 0.05, s).astype(np.float32))
            for s in shapes
        ]

    @tf.function(input_signature=[tf.TensorSpec([None, FEATURES], tf.float32)])
    def serve(self, x):
        for kernel in self.kernels[:-1]:
            x = tf.nn.relu(x @ kernel)
        return {"scores": tf.nn.softmax(x @ self.kernels[-1])}


def build_model(directory):
    base_path = os.path.join(directory, MODEL_NAME)
    model = _Mlp()
    tf.saved_model.save(
        model,
        os.path.join(base_path, "1"),
        signatures={"serving_default": model.serve},
    )
    return base_path


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def predict_request(example):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAME
    request.inputs["x"].CopyFrom(tensors.to_tensor_proto(example))
    return request


def measure_server(
    base_path, extra_flags, iterations, requests_count, example, baselines=None
):
    rest_port = free_port()
    flags = (f"--rest_api_port={rest_port}", *extra_flags)
    results = {}
    with ModelServerProcess(MODEL_NAME, base_path, extra_flags=flags) as server:
        with PredictionClient(server.address, timeout=60) as client:
            client.predict(MODEL_NAME, {"x": example})
        channel = grpc.insecure_channel(server.address)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_request(example)
        grpc_predict = lambda: stub.Predict(request, timeout=60)  # noqa: E731
        if baselines is not None:
            # Interleaved blocks: the machine's noise hits all alike.
            status = _status_call(channel)
            (
                results["local"],
                results["session"],
                results["grpc"],
                results["status"],
            ) = interleaved_latency_percentiles(
                [
                    baselines["function"].time,
                    baselines["session"].time,
                    lambda count: timed_calls(grpc_predict, count),
                    lambda count: timed_calls(status, count),
                ],
                iterations,
            )
        for concurrency in (1, 8, 32):
            rate, failures = throughput_with_futures(
                lambda: stub.Predict.future(request, timeout=60),
                concurrency,
                requests_count,
            )
            results[f"grpc_c{concurrency}"] = (rate, failures)
        url = f"http://127.0.0.1:{rest_port}/v1/models/{MODEL_NAME}:predict"
        body = {"inputs": {"x": example.tolist()}}
        session = requests.Session()
        rest_predict = lambda: session.post(  # noqa: E731
            url, json=body, timeout=60
        ).raise_for_status()
        results["grpc_vs_rest"], results["rest"] = (
            interleaved_latency_percentiles(
                [
                    lambda count: timed_calls(grpc_predict, count),
                    lambda count: timed_calls(rest_predict, count),
                ],
                iterations,
            )
        )
        results["rest_c8"] = throughput_with_threads(
            lambda: requests.post(
                url, json=body, timeout=60
            ).raise_for_status(),
            8,
            requests_count // 2,
        )
        channel.close()
    return results


def _status_call(channel):
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = MODEL_NAME
    return lambda: stub.GetModelStatus(request, timeout=60)


def report(plain, batched):
    local, session, grpc = plain["local"], plain["session"], plain["grpc"]
    print("\n== Batch-1 latency (ms), interleaved blocks of 50 calls")
    for label, result in (
        ("in-process signature (tf.saved_model.load)", local),
        ("in-process session callable (the server's)", session),
        ("server over gRPC (Predict)", grpc),
        ("gRPC round trip alone (GetModelStatus)", plain["status"]),
    ):
        print(f"{label:<44} p50 {result['p50']:.3f}  p99 {result['p99']:.3f}")
    print(
        f"p50 overhead vs the in-process signature: "
        f"{grpc['p50'] - local['p50']:.3f} ms (goal <= 1 ms)"
    )
    print(
        f"p50 overhead vs the server's own callable: "
        f"{grpc['p50'] - session['p50']:.3f} ms (transport, handling, "
        "a cold start after each wait)"
    )
    tail_ratio = grpc["p99"] / grpc["p50"]
    print(f"p99 / p50 through the server: {tail_ratio:.2f}x (goal <= 3x)")

    print("\n== Throughput over gRPC (requests/s, batch-1 requests)")
    print("concurrency  batching off  batching on   on/off")
    for c in (1, 8, 32):
        off, off_failed = plain[f"grpc_c{c}"]
        on, on_failed = batched[f"grpc_c{c}"]
        failed = off_failed + on_failed
        note = f"  ({failed} failed)" if failed else ""
        print(f"{c:>11}  {off:>12.0f}  {on:>11.0f}  {on / off:>6.2f}x{note}")
    print("goal: batching on/off >= 2x at concurrency 32")

    rest, paired_grpc = plain["rest"], plain["grpc_vs_rest"]
    rest_rate, rest_failed = plain["rest_c8"]
    grpc_rate = plain["grpc_c8"][0]
    print("\n== REST vs gRPC (batching off)")
    print(
        f"batch-1 p50, alternating blocks: REST {rest['p50']:.3f} ms, gRPC "
        f"{paired_grpc['p50']:.3f} ms -> REST/gRPC "
        f"{rest['p50'] / paired_grpc['p50']:.2f}x"
    )
    print(
        f"throughput at concurrency 8: REST {rest_rate:.0f}/s, gRPC "
        f"{grpc_rate:.0f}/s -> gRPC/REST {grpc_rate / rest_rate:.2f}x"
        + (f" ({rest_failed} REST failures)" if rest_failed else "")
    )


def run(iterations=500, requests_count=1500):
    """Builds the model, measures both servers and prints the report."""
    example = (
        np.random.default_rng(1).normal(size=(1, FEATURES)).astype(np.float32)
    )
    with tempfile.TemporaryDirectory() as directory:
        base_path = build_model(directory)
        batching_file = os.path.join(directory, "batching.config")
        with open(batching_file, "w") as f:
            f.write(BATCHING_CONFIG)
        parameters = FEATURES * HIDDEN + HIDDEN * HIDDEN + HIDDEN * 10
        print(
            f"MLP with {parameters / 1e6:.1f}M parameters; measuring "
            f"in-process, then two servers; {os.cpu_count()} cores"
        )
        baselines = {
            runtime: InProcessBaseline(
                os.path.join(base_path, "1"),
                {"x": example},
                "serving_default",
                runtime,
            )
            for runtime in InProcessBaseline.RUNTIMES
        }
        try:
            plain = measure_server(
                base_path, (), iterations, requests_count, example, baselines
            )
        finally:
            for baseline in baselines.values():
                baseline.close()
        batched = measure_server(
            base_path,
            (
                "--enable_batching",
                f"--batching_parameters_file={batching_file}",
            ),
            iterations,
            requests_count,
            example,
        )
    report(plain, batched)
