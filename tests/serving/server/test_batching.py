"""Server-side batching over real gRPC, against a model that counts calls.

Batches are made deterministic without timing: either the batch fills up
(max_batch_size reached, with a long timeout), or the single batch thread
is held inside the `on_batch` callback (`_Gate`) while the test queues
requests, waiting on the server's own queue length.
"""

import shutil
import threading
import time
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import predict_pb2

from serving import tensors
from serving.server import errors
from serving.server import loader
from serving.server import predict
from serving.server.batching import BatchingOptions
from serving.server.batching import merge
from serving.server.manager import ModelManager

MODEL = "counter"
LONG_TIMEOUT_MICROS = 60_000_000
WAIT_SECONDS = 30


class _CountingModel(tf.Module):
    def __init__(self):
        super().__init__()
        self.calls = tf.Variable(0, dtype=tf.int64)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def serve(self, x):
        self.calls.assign_add(1)
        return {"y": x * 2.0 + 1.0, "row_max": tf.reduce_max(x, axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def classify(self, inputs):
        self.calls.assign_add(1)
        return {"scores": _parse_x(inputs) * 2.0}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def regress(self, inputs):
        self.calls.assign_add(1)
        return {"outputs": tf.reduce_sum(_parse_x(inputs), axis=1)}

    @tf.function(input_signature=[])
    def read_calls(self):
        return {"calls": self.calls.read_value()}


def _parse_x(serialized):
    features = {"x": tf.io.FixedLenFeature([2], tf.float32)}
    return tf.io.parse_example(serialized, features)["x"]


class _Gate:
    """on_batch callback: records batch sizes, holds the first batch."""

    def __init__(self):
        self.sizes = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, model_name, signature_name, batch_size):
        self.sizes.append(batch_size)
        self.entered.set()
        self.release.wait(WAIT_SECONDS)


@pytest.fixture(scope="module")
def servable(tmp_path_factory):
    path = tmp_path_factory.mktemp("batching") / MODEL
    model = _CountingModel()
    tf.saved_model.save(
        model,
        str(path / "1"),
        signatures={
            "serving_default": model.serve,
            "classify": model.classify,
            "regress": model.regress,
            "calls": model.read_calls,
        },
    )
    return loader.load_servable(MODEL, str(path), 1)


@pytest.fixture
def manager(servable):
    manager = ModelManager()
    manager.add(servable)
    return manager


@pytest.fixture
def pool():
    with futures.ThreadPoolExecutor(max_workers=12) as pool:
        yield pool


def _request(x, **kwargs):
    request = predict_pb2.PredictRequest(**kwargs)
    request.model_spec.name = MODEL
    request.inputs["x"].CopyFrom(tensors.to_tensor_proto(x))
    return request


def _outputs(response):
    return {k: tensors.to_ndarray(v) for k, v in response.outputs.items()}


def _unbatched(manager, x):
    return _outputs(predict.predict(manager, _request(x)))


def _calls(servable):
    return int(servable.signatures["calls"]()["calls"])


def _wait_until(condition):
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "server never reached the state"
        time.sleep(0.005)


def _hold_batch_thread(stub, gate, pool, x):
    """Sends a request and waits until the batch thread is held with it."""
    plug = pool.submit(stub.Predict, _request(x), timeout=WAIT_SECONDS)
    assert gate.entered.wait(WAIT_SECONDS)
    return plug


def _submit_all(stub, pool, xs):
    return [
        pool.submit(stub.Predict, _request(x), timeout=WAIT_SECONDS) for x in xs
    ]


def test_concurrent_requests_run_as_one_batch_with_exact_answers(
    start_prediction_server, manager, servable, pool
):
    sizes = []
    options = BatchingOptions(
        max_batch_size=4,
        batch_timeout_micros=LONG_TIMEOUT_MICROS,
        num_batch_threads=1,
    )
    stub, _ = start_prediction_server(
        manager,
        batching_options=options,
        on_batch=lambda *labels: sizes.append(labels),
    )
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(rows, 3)).astype(np.float32) for rows in (1, 2, 1)]
    calls_before = _calls(servable)

    responses = [f.result() for f in _submit_all(stub, pool, xs)]

    assert sizes == [(MODEL, "serving_default", 4)]
    assert _calls(servable) - calls_before == 1
    for x, response in zip(xs, responses, strict=True):
        expected = _unbatched(manager, x)
        for name, value in _outputs(response).items():
            np.testing.assert_array_equal(value, expected[name])
        assert response.model_spec.signature_name == "serving_default"


def test_batch_is_padded_to_the_next_allowed_size_and_sliced_back(
    start_prediction_server, manager, servable, pool
):
    gate = _Gate()
    options = BatchingOptions(
        max_batch_size=4, allowed_batch_sizes=[2, 4], num_batch_threads=1
    )
    stub, service = start_prediction_server(
        manager, batching_options=options, on_batch=gate
    )
    plug = _hold_batch_thread(stub, gate, pool, np.ones((1, 2), np.float32))
    xs = [np.full((1, 2), i, np.float32) for i in range(3)]
    pending = _submit_all(stub, pool, xs)
    _wait_until(lambda: service.predictor.num_enqueued_tasks() == 3)
    calls_before = _calls(servable)

    gate.release.set()

    responses = [f.result() for f in pending]
    plug.result()
    assert gate.sizes == [2, 4]
    assert _calls(servable) - calls_before == 2  # the plug, then the batch
    for x, response in zip(xs, responses, strict=True):
        np.testing.assert_array_equal(_outputs(response)["y"], x * 2 + 1)


@pytest.mark.parametrize(
    "pad, expected_sizes", [(True, [1, 2]), (False, [1, 1, 1])]
)
def test_variable_length_inputs_share_a_batch_only_when_padded(
    start_prediction_server, manager, pool, pad, expected_sizes
):
    gate = _Gate()
    options = BatchingOptions(
        max_batch_size=4, num_batch_threads=1, pad_variable_length_inputs=pad
    )
    stub, service = start_prediction_server(
        manager, batching_options=options, on_batch=gate
    )
    plug = _hold_batch_thread(stub, gate, pool, np.ones((1, 5), np.float32))
    xs = [
        np.array([[3.0, -1.0]], np.float32),
        np.array([[-2.0, 7.0, 0.5]], np.float32),
    ]
    pending = _submit_all(stub, pool, xs)
    _wait_until(lambda: service.predictor.num_enqueued_tasks() == 2)

    gate.release.set()

    responses = [f.result() for f in pending]
    plug.result()
    assert gate.sizes == expected_sizes
    for x, response in zip(xs, responses, strict=True):
        outputs = _outputs(response)
        np.testing.assert_array_equal(outputs["row_max"], x.max(axis=1))
        # Like TF Serving, outputs keep the padded length; the real columns
        # are the unbatched answer.
        np.testing.assert_array_equal(outputs["y"][:, : x.shape[1]], x * 2 + 1)


def test_full_queue_is_unavailable(
    start_prediction_server, manager, pool, expect_rpc_error
):
    gate = _Gate()
    options = BatchingOptions(
        max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1
    )
    stub, service = start_prediction_server(
        manager, batching_options=options, on_batch=gate
    )
    x = np.ones((1, 2), np.float32)
    plug = _hold_batch_thread(stub, gate, pool, x)
    (queued,) = _submit_all(stub, pool, [x])
    _wait_until(lambda: service.predictor.num_enqueued_tasks() == 1)

    with expect_rpc_error(
        grpc.StatusCode.UNAVAILABLE,
        "The batch scheduling queue to which this task was submitted is full",
    ):
        stub.Predict(_request(x), timeout=WAIT_SECONDS)

    gate.release.set()
    plug.result()
    np.testing.assert_array_equal(_outputs(queued.result())["y"], x * 2 + 1)


def test_request_larger_than_max_batch_size_is_invalid_argument(
    start_prediction_server, manager, expect_rpc_error
):
    stub, _ = start_prediction_server(
        manager, batching_options=BatchingOptions(max_batch_size=2)
    )

    with expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        "Task size 3 is larger than maximum input batch size 2",
    ):
        stub.Predict(_request(np.ones((3, 2), np.float32)), timeout=30)


def test_timeout_flushes_a_partial_batch(start_prediction_server, manager):
    sizes = []
    options = BatchingOptions(max_batch_size=8, batch_timeout_micros=20_000)
    stub, _ = start_prediction_server(
        manager,
        batching_options=options,
        on_batch=lambda *labels: sizes.append(labels[-1]),
    )
    x = np.array([[1.0, 2.0]], np.float32)

    response = stub.Predict(_request(x), timeout=WAIT_SECONDS)

    assert sizes == [1]
    np.testing.assert_array_equal(_outputs(response)["y"], x * 2 + 1)


def test_request_without_a_deadline_is_batched(
    start_prediction_server, manager
):
    # gRPC reports "no deadline" as an enormous time remaining; waiting on
    # it once overflowed time_t and turned every such request INTERNAL.
    options = BatchingOptions(max_batch_size=8, batch_timeout_micros=1000)
    stub, _ = start_prediction_server(manager, batching_options=options)
    x = np.array([[1.0, 2.0]], np.float32)

    response = stub.Predict(_request(x))  # no timeout

    np.testing.assert_array_equal(_outputs(response)["y"], x * 2 + 1)


def test_request_whose_deadline_passes_in_the_queue_never_runs(
    start_prediction_server, manager, pool, expect_rpc_error
):
    gate = _Gate()
    options = BatchingOptions(max_batch_size=4, num_batch_threads=1)
    stub, service = start_prediction_server(
        manager, batching_options=options, on_batch=gate
    )
    x = np.ones((1, 2), np.float32)
    plug = _hold_batch_thread(stub, gate, pool, x)

    with expect_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED):
        stub.Predict(_request(x), timeout=0.3)
    _wait_until(lambda: service.predictor.num_enqueued_tasks() == 0)

    gate.release.set()
    plug.result()
    assert gate.sizes == [1]


def test_unbatchable_signatures_run_directly(
    start_prediction_server, latest_servable, model_name
):
    manager = ModelManager()
    manager.add(latest_servable)
    stub, _ = start_prediction_server(
        manager, batching_options=BatchingOptions(max_batch_size=2)
    )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = "decode_image"
    png = tf.io.encode_png(tf.zeros([3, 4, 1], tf.uint8)).numpy()
    request.inputs["image_bytes"].CopyFrom(tensors.to_tensor_proto(png))

    response = stub.Predict(request, timeout=WAIT_SECONDS)

    np.testing.assert_array_equal(_outputs(response)["shape"], [3, 4, 1])


def _example(x):
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "x": tf.train.Feature(float_list=tf.train.FloatList(value=x))
            }
        )
    )


def _classify_request(x):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = "classify"
    request.input.example_list.examples.append(_example(x))
    return request


def _multi_inference_request(x):
    request = inference_pb2.MultiInferenceRequest()
    for signature_name, method_name in (
        ("classify", tf.saved_model.CLASSIFY_METHOD_NAME),
        ("regress", tf.saved_model.REGRESS_METHOD_NAME),
    ):
        task = request.tasks.add()
        task.model_spec.name = MODEL
        task.model_spec.signature_name = signature_name
        task.method_name = method_name
    request.input.example_list.examples.append(_example(x))
    return request


def _scores(result):
    return [[c.score for c in item.classes] for item in result.classifications]


def test_classify_batches_with_predict_on_the_same_signature(
    start_prediction_server, manager, servable, pool
):
    # TF Serving batches every Session::Run of the same feeds and fetches,
    # whichever API asked for it.
    labels = []
    options = BatchingOptions(
        max_batch_size=3,
        batch_timeout_micros=LONG_TIMEOUT_MICROS,
        num_batch_threads=1,
    )
    stub, _ = start_prediction_server(
        manager,
        batching_options=options,
        on_batch=lambda *names: labels.append(names),
    )
    predict_request = predict_pb2.PredictRequest()
    predict_request.model_spec.name = MODEL
    predict_request.model_spec.signature_name = "classify"
    predict_request.inputs["inputs"].CopyFrom(
        tensors.to_tensor_proto(
            np.array([_example([5.0, 6.0]).SerializeToString()], object)
        )
    )
    calls_before = _calls(servable)

    first = pool.submit(stub.Classify, _classify_request([1.0, 2.0]))
    second = pool.submit(stub.Predict, predict_request)
    third = pool.submit(stub.Classify, _classify_request([3.0, -4.0]))

    assert _scores(first.result(WAIT_SECONDS).result) == [[2.0, 4.0]]
    np.testing.assert_array_equal(
        _outputs(second.result(WAIT_SECONDS))["scores"], [[10.0, 12.0]]
    )
    assert _scores(third.result(WAIT_SECONDS).result) == [[6.0, -8.0]]
    assert labels == [(MODEL, "classify", 3)]
    assert _calls(servable) - calls_before == 1


def test_multi_inference_tasks_batch_per_signature(
    start_prediction_server, manager, servable, pool
):
    labels = []
    options = BatchingOptions(
        max_batch_size=2,
        batch_timeout_micros=LONG_TIMEOUT_MICROS,
        num_batch_threads=1,
    )
    stub, _ = start_prediction_server(
        manager,
        batching_options=options,
        on_batch=lambda *names: labels.append(names),
    )
    calls_before = _calls(servable)

    pending = [
        pool.submit(stub.MultiInference, _multi_inference_request(x))
        for x in ([1.0, 2.0], [3.0, 5.0])
    ]

    for x, future in zip(([1.0, 2.0], [3.0, 5.0]), pending, strict=True):
        classification, regression = future.result(WAIT_SECONDS).results
        assert _scores(classification.classification_result) == [
            [2 * v for v in x]
        ]
        assert [r.value for r in regression.regression_result.regressions] == [
            sum(x)
        ]
    assert labels == [(MODEL, "classify", 2), (MODEL, "regress", 2)]
    assert _calls(servable) - calls_before == 2


def test_large_batch_splitting_fills_the_open_batch_and_joins_rows(
    start_prediction_server, manager, servable, pool, expect_rpc_error
):
    gate = _Gate()
    options = BatchingOptions(
        max_batch_size=4,
        batch_timeout_micros=LONG_TIMEOUT_MICROS,
        num_batch_threads=1,
        enable_large_batch_splitting=True,
        max_execution_batch_size=2,
    )
    stub, service = start_prediction_server(
        manager, batching_options=options, on_batch=gate
    )
    plug = _hold_batch_thread(stub, gate, pool, np.ones((2, 2), np.float32))
    rng = np.random.default_rng(1)
    three_rows, one_row = (
        rng.normal(size=(rows, 2)).astype(np.float32) for rows in (3, 1)
    )
    (split,) = _submit_all(stub, pool, [three_rows])
    _wait_until(lambda: service.predictor.num_enqueued_tasks() == 2)
    (filler,) = _submit_all(stub, pool, [one_row])
    _wait_until(lambda: service.predictor.num_enqueued_tasks() == 3)
    calls_before = _calls(servable)

    gate.release.set()

    answers = [_outputs(future.result()) for future in (split, filler)]
    plug.result()
    # The plug, rows 0-1 of the split request, its row 2 with the filler.
    assert gate.sizes == [2, 2, 2]
    assert _calls(servable) - calls_before == 3
    for x, outputs in zip((three_rows, one_row), answers, strict=True):
        expected = _unbatched(manager, x)
        np.testing.assert_array_equal(outputs["y"], expected["y"])
        np.testing.assert_array_equal(outputs["row_max"], expected["row_max"])
    with expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        "Task size 5 is larger than maximum input batch size 4",
    ):
        stub.Predict(_request(np.ones((5, 2), np.float32)), timeout=30)


def test_request_the_graph_rejects_runs_alone_and_fails_alone(
    start_prediction_server, manager, pool, expect_rpc_error
):
    gate = _Gate()
    options = BatchingOptions(max_batch_size=4, num_batch_threads=1)
    stub, service = start_prediction_server(
        manager, batching_options=options, on_batch=gate
    )
    plug = _hold_batch_thread(stub, gate, pool, np.ones((1, 2), np.float32))
    good = np.array([[1.0, 2.0]], np.float32)
    (queued,) = _submit_all(stub, pool, [good])
    _wait_until(lambda: service.predictor.num_enqueued_tasks() == 1)

    # A vector, where the signature records (None, None): not merged, so
    # its failure in reduce_max(axis=1) is its own.
    with expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "reduction"):
        stub.Predict(_request(np.ones(3, np.float32)), timeout=WAIT_SECONDS)

    gate.release.set()
    plug.result()
    np.testing.assert_array_equal(_outputs(queued.result())["y"], good * 2 + 1)


def test_options_default_to_tf_serving_values():
    options = BatchingOptions()

    assert options.max_batch_size == 1000
    assert options.batch_timeout_micros == 0
    assert options.max_enqueued_batches == 10
    assert options.num_batch_threads >= 1
    assert options.allowed_batch_sizes == ()
    assert options.pad_variable_length_inputs is False
    assert options.enable_large_batch_splitting is False
    assert options.batch_size_limit == 1000


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_batch_size": 8, "allowed_batch_sizes": (2, 4)}, "must equal"),
        ({"max_batch_size": 4, "allowed_batch_sizes": (4, 2, 4)}, "increasing"),
        ({"max_batch_size": 0}, "max_batch_size must be at least 1"),
        ({"batch_timeout_micros": -1}, "batch_timeout_micros"),
        (
            {"max_batch_size": 4, "max_execution_batch_size": 5},
            "max_execution_batch_size must be between 1 and max_batch_size",
        ),
    ],
)
def test_invalid_options_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchingOptions(**kwargs)


def test_padded_size_is_the_next_allowed_size():
    options = BatchingOptions(max_batch_size=8, allowed_batch_sizes=(2, 8))

    assert [options.padded_size(n) for n in (1, 2, 3, 8)] == [2, 2, 8, 8]
    assert BatchingOptions(max_batch_size=8).padded_size(3) == 3


def test_output_without_the_batch_dimension_is_internal():
    outputs = {"total": np.float32(3.0), "y": np.zeros((3, 1), np.float32)}

    with pytest.raises(errors.ServingError) as raised:
        merge.split(outputs, [1, 2], batch_size=3)

    assert raised.value.code == grpc.StatusCode.INTERNAL
    assert "Batched output tensor total" in raised.value.message


def test_variable_length_padding_repeats_each_request_first_element():
    merged = merge.merge(
        [{"t": np.array([[b"a"]], object)}, {"t": np.array([[b"b", b"c"]])}],
        batch_size=3,
        pad_variable_length_inputs=True,
    )

    assert merged["t"].tolist() == [[b"a", b"a"], [b"b", b"c"], [b"a", b"a"]]


@pytest.fixture
def per_model_manager(servable, tmp_path):
    """Two copies of the counter, loaded with per-model batching: "own"
    ships a batching_params.pbtxt (batches of 2, run once full), "none"
    ships none."""
    manager = ModelManager()
    own = (
        "max_batch_size { value: 2 }\n"
        f"batch_timeout_micros {{ value: {LONG_TIMEOUT_MICROS} }}\n"
    )
    for name, parameters in (("own", own), ("none", None)):
        version = tmp_path / name / "1"
        shutil.copytree(servable.path, version)
        if parameters:
            (version / loader.BATCHING_PARAMS_FILENAME).write_text(parameters)
        manager.add(
            loader.load_servable(
                name, str(version.parent), 1, per_model_batching=True
            )
        )
    return manager


def _named_request(name, x):
    request = _request(x)
    request.model_spec.name = name
    return request


def test_per_model_batching_uses_the_models_own_parameters(
    start_prediction_server, per_model_manager, pool
):
    labels = []
    # The server's own options would run every request on its own.
    options = BatchingOptions(max_batch_size=8, num_batch_threads=1)
    stub, _ = start_prediction_server(
        per_model_manager,
        batching_options=options,
        on_batch=lambda *names: labels.append(names),
    )
    xs = [np.full((1, 2), i, np.float32) for i in (1, 2)]

    own = [
        pool.submit(stub.Predict, _named_request("own", x), timeout=30)
        for x in xs
    ]
    unbatched = stub.Predict(_named_request("none", xs[0]), timeout=30)

    for x, future in zip(xs, own, strict=True):
        np.testing.assert_array_equal(_outputs(future.result())["y"], x * 2 + 1)
    np.testing.assert_array_equal(_outputs(unbatched)["y"], xs[0] * 2 + 1)
    assert labels == [("own", "serving_default", 2)]


def test_bad_per_model_batching_file_fails_the_load(servable, tmp_path):
    version = tmp_path / "bad" / "1"
    shutil.copytree(servable.path, version)
    (version / loader.BATCHING_PARAMS_FILENAME).write_text("max_batch: 2\n")

    with pytest.raises(ValueError, match="Error parsing text-format"):
        loader.load_servable(
            "bad", str(version.parent), 1, per_model_batching=True
        )
