"""The whole chain through the `mmkeras` command, on four modalities:
files -> train -> evaluate -> export -> mmkeras-model-server -> predict."""

import json
import os

import grpc
import numpy as np
import pytest
import tensorflow as tf

from mmkeras.data import read_manifest
from mmkeras.remote import predict_raw
from mmkeras.training import load_task
from mmkeras.training.evaluation import predict_split
from serving.client import PredictionClient
from serving.process import ModelServerProcess
from tests.test_case import run_mmkeras
from tests.test_case import succeeded

pytestmark = pytest.mark.slow

MODALITIES = ("audio", "image", "text", "video")
TRAIN_FLAGS = (
    "--epochs=1",
    "--batch-size=16",
    "--hidden-dim=8",
    "--image-size=16",
    "--clip-seconds=0.5",
    "--num-frames=3",
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    succeeded(
        run_mmkeras(
            "make-demo-data",
            workdir / "data",
            "--examples=60",
            "--modalities",
            *MODALITIES,
        )
    )
    return workdir


@pytest.fixture(scope="module")
def trained(workdir):
    manifest = workdir / "data" / "manifest.jsonl"
    completed = succeeded(
        run_mmkeras(
            "train",
            f"--manifest={manifest}",
            f"--output-dir={workdir / 'training'}",
            *TRAIN_FLAGS,
        )
    )
    return manifest, workdir / "training", completed


@pytest.fixture(scope="module")
def served(trained, workdir):
    _, training_dir, _ = trained
    exported = succeeded(
        run_mmkeras(
            "export",
            f"--training-dir={training_dir}",
            f"--base-path={workdir / 'models'}",
            "--model-name=tiny",
            "--warmup-examples=3",
        )
    )
    (workdir / "export.txt").write_text(exported.stdout)
    with ModelServerProcess("tiny", workdir / "models" / "tiny") as server:
        yield server


def test_export_writes_warmup_and_prints_how_to_serve(served, workdir):
    from mmkeras.export.warmup import read_warmup_file

    output = (workdir / "export.txt").read_text()
    assert "Decode limits: " in output and "max_pixels=" in output
    docker = [line for line in output.splitlines() if "docker run" in line]
    assert len(docker) == 1 and "tensorflow/serving" in docker[0]
    assert "--model_config_file=/models/tiny/models.config" in docker[0]
    logs = read_warmup_file(str(workdir / "models" / "tiny" / "1"))
    assert len(logs) == 2  # serving_default and classify
    assert (workdir / "models" / "tiny" / "models.config").is_file()


def test_train_output_is_quiet_and_one_line_per_epoch(trained):
    _, training_dir, completed = trained
    output = completed.stdout + completed.stderr
    for noise in ("oneDNN", "cuda", "absl", "\x1b[", "\b"):
        assert noise not in output
    epoch_lines = [
        line for line in completed.stdout.splitlines() if " - loss: " in line
    ]
    assert len(epoch_lines) == 1 and "val_accuracy: " in epoch_lines[0]
    assert "Trained a classify task on audio, image, text, video." in output
    assert os.path.isfile(training_dir / "task.keras")
    config = json.loads((training_dir / "config.json").read_text())
    assert config["modalities"] == list(MODALITIES)


def test_the_saved_task_carries_its_class_names_and_config(trained):
    manifest, training_dir, _ = trained
    task = load_task(str(training_dir))
    assert task.class_names == read_manifest(str(manifest)).labels()
    assert task.preprocessor.modalities == MODALITIES
    assert task.metadata["train_config"]["hidden_dim"] == 8


def test_evaluate_locally_and_through_the_server_agree(trained, served):
    manifest, training_dir, _ = trained
    local = succeeded(
        run_mmkeras(
            "evaluate", f"--model={training_dir}", f"--manifest={manifest}"
        )
    )
    remote = succeeded(
        run_mmkeras(
            "evaluate",
            f"--model={training_dir}",
            f"--manifest={manifest}",
            f"--server={served.address}",
            "--model-name=tiny",
        )
    )
    assert "accuracy: " in local.stdout

    def metrics(output):
        pairs = [line.split(": ") for line in output.splitlines()]
        return {p[0].strip(): float(p[1]) for p in pairs if len(p) == 2}

    local_metrics, remote_metrics = (
        metrics(local.stdout),
        metrics(remote.stdout),
    )
    assert local_metrics.keys() == remote_metrics.keys()
    for name in ("examples", "accuracy", "unanswered"):
        assert local_metrics[name] == remote_metrics[name]
    # The session and eager TensorFlow may differ in the last printed
    # digit; in bfloat16 (the "auto" precision on CPUs with AMX) they
    # round differently, within 1e-2.
    tolerance = _tolerance(load_task(str(training_dir)), 2e-4)
    assert (
        abs(local_metrics["log_loss"] - remote_metrics["log_loss"])
        <= tolerance
    )


def _tolerance(task, float32_tolerance=1e-5):
    """How far a served output may be from the local one: bfloat16 keeps
    8 bits of mantissa, and the served graph's kernels round otherwise
    than eager Keras'."""
    if task.dtype_policy.compute_dtype == "bfloat16":
        return 1e-2
    return float32_tolerance


def test_served_predictions_equal_the_task_with_missing_modalities(
    trained, served
):
    manifest, training_dir, _ = trained
    task = load_task(str(training_dir))
    records = read_manifest(str(manifest)).split("test")
    local, _, answered = predict_split(task, records)
    with PredictionClient(served.address) as client:
        remote, _, _ = predict_split(
            task, records, predict=lambda raw: predict_raw(client, "tiny", raw)
        )
    assert answered.all()
    np.testing.assert_allclose(
        remote["probabilities"], local["probabilities"], atol=_tolerance(task)
    )
    weights = remote["modality_weights"]
    for column, modality in enumerate(MODALITIES):
        missing = [r.get(modality) is None for r in records]
        np.testing.assert_array_equal(weights[missing, column], 0.0)


def test_predict_command_prints_the_class_name(trained, served, workdir):
    manifest, _, _ = trained
    record = read_manifest(str(manifest)).records[0]
    given = [
        f"--{m}={record.get(m)}"
        for m in MODALITIES
        if record.get(m) is not None
    ]
    completed = succeeded(
        run_mmkeras(
            "predict", f"--server={served.address}", "--model=tiny", *given
        )
    )
    name, rest = completed.stdout.splitlines()[0].split(" (probability ")
    assert name in read_manifest(str(manifest)).labels()
    assert 0 < float(rest.rstrip(")")) <= 1
    assert completed.stdout.splitlines()[1].startswith("modality weights: ")


def test_classify_rpc_returns_class_names(trained, served):
    manifest, _, _ = trained
    labels = read_manifest(str(manifest)).labels()
    with PredictionClient(served.address) as client:
        results = client.classify(
            "tiny", [{"text": b"a red ring"}], signature_name="classify"
        )
    assert [label for label, _ in results[0]] == labels
    assert abs(sum(score for _, score in results[0]) - 1) < 1e-5


def test_a_request_with_every_modality_empty_is_invalid(served):
    empty = {m: [b""] for m in ("audio", "image", "text")}
    empty["video"] = [[]]
    with PredictionClient(served.address) as client:
        with pytest.raises(grpc.RpcError) as error:
            predict_raw(client, "tiny", empty)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "every input empty" in error.value.details()


def test_pack_then_train_from_the_pack(workdir):
    manifest = workdir / "data" / "manifest.jsonl"
    succeeded(
        run_mmkeras(
            "pack", f"--manifest={manifest}", f"--output={workdir / 'p'}"
        )
    )
    completed = succeeded(
        run_mmkeras(
            "train",
            f"--manifest={workdir / 'p'}",
            f"--output-dir={workdir / 'from_pack'}",
            "--modalities",
            "image",
            "text",
            *TRAIN_FLAGS,
        )
    )
    assert "Trained a classify task on image, text." in completed.stdout


def test_a_user_error_is_one_line_and_debug_shows_the_traceback(workdir):
    bad = workdir / "bad.jsonl"
    good = {"text": "a ring", "label": "ring", "split": "train"}
    bad.write_text(json.dumps(good) + '\n{"text": 5, "label": "x"}\n')
    completed = run_mmkeras("train", f"--manifest={bad}", "--output-dir=x")
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("mmkeras train: error: ")
    assert f"{bad} line 2" in lines[0] and "'text'" in lines[0]
    debug = run_mmkeras(
        "--debug", "train", f"--manifest={bad}", "--output-dir=x"
    )
    assert "Traceback" in debug.stderr


def test_skip_bad_records_lists_each_reason(workdir):
    manifest = workdir / "data" / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    # Beside the manifest, so that its relative paths still resolve.
    broken = workdir / "data" / "broken.jsonl"
    broken.write_text(
        "\n".join(
            lines[:20]
            + ['{"image": "images/none.png", "label": "ring"}', "not json"]
            + lines[20:]
        )
        + "\n"
    )
    # One modality, which the bad image record names: skipping is
    # decided while reading the manifest, whatever the model trains on.
    completed = run_mmkeras(
        "train",
        f"--manifest={broken}",
        f"--output-dir={workdir / 'skipping'}",
        "--skip-bad-records",
        "--modalities",
        "image",
        *TRAIN_FLAGS,
    )
    assert "Skipped" in completed.stdout, completed.stderr
    assert "line 21: " in completed.stdout and "line 22: " in completed.stdout


def test_the_exported_signature_reads_raw_strings(served, workdir):
    signature = tf.saved_model.load(
        str(workdir / "models" / "tiny" / "1")
    ).signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    assert {k: v.dtype for k, v in specs.items()} == dict.fromkeys(
        MODALITIES, tf.string
    )
