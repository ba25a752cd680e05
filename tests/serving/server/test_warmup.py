"""Model warmup: assets.extra/tf_serving_warmup_requests replayed on load."""

import shutil

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from serving import tensors
from serving.server import errors
from serving.server import loader
from serving.server import warmup
from serving.server.config.model_config import single_model_config
from serving.server.manager import ModelManager
from serving.server.server_core import LoadOptions
from serving.server.server_core import ServerCore


class _CountingModel(tf.Module):
    """Counts the rows it has served, so warmup can be observed."""

    def __init__(self):
        super().__init__()
        self.rows = tf.Variable(0, dtype=tf.int64)

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    def serve(self, x):
        self.rows.assign_add(tf.shape(x, out_type=tf.int64)[0])
        return {"y": x * 2.0}

    @tf.function(input_signature=[])
    def rows_served(self):
        return {"rows": self.rows.read_value()}


@pytest.fixture(scope="module")
def counting_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("counting") / "model"
    model = _CountingModel()
    tf.saved_model.save(
        model,
        str(path),
        signatures={
            "serving_default": model.serve,
            "rows_served": model.rows_served,
        },
    )
    return path


@pytest.fixture
def version_path(tmp_path, counting_model):
    path = tmp_path / "counter" / "1"
    shutil.copytree(counting_model, path)
    (path / warmup.WARMUP_DIRECTORY).mkdir()
    return path


def _write_records(version_path, records):
    with tf.io.TFRecordWriter(warmup.warmup_file(str(version_path))) as writer:
        for record in records:
            writer.write(record)


def _predict_log(x, input_name="x"):
    log = prediction_log_pb2.PredictionLog()
    request = log.predict_log.request
    request.model_spec.name = "recorded-under-another-name"
    request.inputs[input_name].CopyFrom(tensors.to_tensor_proto(x))
    return log.SerializeToString()


def _load(version_path):
    return loader.load_servable("counter", str(version_path.parent), 1)


def _rows_served(servable):
    return int(servable.signatures["rows_served"]()["rows"])


def test_warmup_requests_run_before_the_version_is_served(version_path):
    _write_records(
        version_path,
        [_predict_log(np.ones((3, 2), np.float32))] * 2,
    )
    core = ServerCore(ModelManager(), LoadOptions(max_num_load_retries=0))

    core.reload_config(single_model_config("counter", str(version_path.parent)))

    [servable] = core.manager.versions("counter")
    assert _rows_served(servable) == 6


@pytest.mark.parametrize("iterations, rows", [(3, 18), (0, 6)])
def test_each_request_runs_num_request_iterations_times(
    version_path, iterations, rows
):
    _write_records(
        version_path,
        [_predict_log(np.ones((3, 2), np.float32))] * 2,
    )
    core = ServerCore(
        ModelManager(),
        LoadOptions(max_num_load_retries=0, warmup_iterations=iterations),
    )

    core.reload_config(single_model_config("counter", str(version_path.parent)))

    assert _rows_served(core.manager.versions("counter")[0]) == rows


def test_no_warmup_file_is_fine(version_path):
    servable = _load(version_path)

    assert warmup.run_warmup(servable) == 0
    assert _rows_served(servable) == 0


def test_warmup_is_skipped_when_disabled(version_path):
    _write_records(version_path, [_predict_log(np.ones((1, 2), np.float32))])
    core = ServerCore(
        ModelManager(),
        LoadOptions(max_num_load_retries=0, enable_model_warmup=False),
    )

    core.reload_config(single_model_config("counter", str(version_path.parent)))

    assert _rows_served(core.manager.versions("counter")[0]) == 0


def test_file_that_is_not_tfrecord_fails_the_load(version_path):
    path = warmup.warmup_file(str(version_path))
    with open(path, "wb") as garbage:
        garbage.write(b"\x00this is not a TFRecord file at all")

    with pytest.raises(errors.ServingError) as raised:
        warmup.run_warmup(_load(version_path))

    assert raised.value.code == grpc.StatusCode.DATA_LOSS
    assert "Please verify your warmup data is in TFRecord format" in (
        raised.value.message
    )


def test_unparsable_record_fails_the_load(version_path):
    _write_records(version_path, [b"\xff\xff malformed"])

    with pytest.raises(errors.ServingError, match="Failed to parse warmup"):
        warmup.run_warmup(_load(version_path))


def test_failing_warmup_request_fails_the_load_and_shows_in_status(
    version_path,
):
    _write_records(
        version_path, [_predict_log(np.ones((1, 2), np.float32), "wrong")]
    )
    core = ServerCore(ModelManager(), LoadOptions(max_num_load_retries=0))

    with pytest.raises(errors.ServingError):
        core.reload_config(
            single_model_config("counter", str(version_path.parent))
        )

    [status] = core.manager.version_statuses("counter")
    assert status.error_code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Signature input alias: x(feed name:" in (status.error_message)


def test_too_many_records_fail_the_load(version_path, monkeypatch):
    monkeypatch.setattr(warmup, "MAX_NUM_RECORDS", 2)
    _write_records(
        version_path, [_predict_log(np.ones((1, 2), np.float32))] * 3
    )

    with pytest.raises(errors.ServingError, match=r"exceeds the maximum \(2\)"):
        warmup.run_warmup(_load(version_path))


@pytest.fixture
def example_version_path(tmp_path, example_servable):
    # The scorer: classify/regress signatures over tf.Examples with x[2].
    path = tmp_path / "scorer" / "1"
    shutil.copytree(example_servable.path, path)
    (path / warmup.WARMUP_DIRECTORY).mkdir()
    return path


def _example_logs(example):
    classify_log = prediction_log_pb2.PredictionLog()
    request = classify_log.classify_log.request
    request.model_spec.signature_name = "classify"
    request.input.example_list.examples.add().CopyFrom(example)
    regress_log = prediction_log_pb2.PredictionLog()
    request = regress_log.regress_log.request
    request.model_spec.signature_name = "regress"
    request.input.example_list.examples.add().CopyFrom(example)
    multi_log = prediction_log_pb2.PredictionLog()
    request = multi_log.multi_inference_log.request
    for signature in ("classify", "regress"):
        task = request.tasks.add()
        task.model_spec.name = "recorded-under-another-name"
        task.model_spec.signature_name = signature
        task.method_name = f"tensorflow/serving/{signature}"
    request.input.example_list.examples.add().CopyFrom(example)
    return [classify_log, regress_log, multi_log]


def test_classify_regress_and_multi_inference_logs_are_replayed(
    example_version_path, make_example
):
    logs = _example_logs(make_example(x=[1.0, 2.0]))
    _write_records(
        example_version_path, [log.SerializeToString() for log in logs]
    )
    servable = loader.load_servable(
        "scorer", str(example_version_path.parent), 1
    )

    assert warmup.run_warmup(servable) == 3


@pytest.mark.parametrize("log_index", [0, 1, 2])
def test_a_failing_example_log_fails_the_load(
    example_version_path, make_example, log_index
):
    # x needs 2 floats: parsing this example fails inside the model, which
    # only happens if the logged request really runs.
    log = _example_logs(make_example(x=[1.0]))[log_index]
    _write_records(example_version_path, [log.SerializeToString()])
    servable = loader.load_servable(
        "scorer", str(example_version_path.parent), 1
    )

    with pytest.raises(tf.errors.InvalidArgumentError):
        warmup.run_warmup(servable)


def test_session_run_logs_are_unimplemented(version_path):
    log = prediction_log_pb2.PredictionLog()
    log.session_run_log.request.feed.add()
    _write_records(version_path, [log.SerializeToString()])

    with pytest.raises(errors.ServingError) as raised:
        warmup.run_warmup(_load(version_path))

    assert raised.value.code == grpc.StatusCode.UNIMPLEMENTED
    assert "Unsupported log_type for warmup: session_run_log" in (
        raised.value.message
    )
