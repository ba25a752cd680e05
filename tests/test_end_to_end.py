"""The whole chain on a tiny dataset: files -> fit -> export -> gRPC."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.data import read_manifest
from mmkeras.data import synthetic
from mmkeras.export import export_classifier
from mmkeras.remote import predict_records
from mmkeras.training import TrainConfig
from mmkeras.training import load_training_outputs
from mmkeras.training import train
from serving.client import PredictionClient
from serving.process import ModelServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served_model(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    manifest_path = synthetic.write_dataset(workdir / "data", num_examples=90)
    result = train(
        TrainConfig(
            manifest=manifest_path,
            output_dir=str(workdir / "training"),
            epochs=2,
            batch_size=16,
            hidden_dim=16,
            verbose=0,
        )
    )
    export_path = export_classifier(
        result.classifier, result.preprocessor, str(workdir / "models"), "tiny"
    )
    test_records = read_manifest(manifest_path).split("test")
    with ModelServerProcess("tiny", workdir / "models" / "tiny") as server:
        yield server, export_path, test_records, result


def test_grpc_predictions_equal_the_exported_signature(served_model):
    server, export_path, records, _ = served_model
    with PredictionClient(server.address) as client:
        served = predict_records(client, "tiny", records, batch_size=7)
    signature = tf.saved_model.load(export_path).signatures["serving_default"]
    local = signature(
        image=tf.constant([open(r["image"], "rb").read() for r in records]),
        text=tf.constant([r["text"] for r in records]),
    )
    assert served["probabilities"].shape == (len(records), 6)
    for key in ("probabilities", "modality_weights"):
        np.testing.assert_allclose(served[key], local[key], atol=1e-5)
    np.testing.assert_array_equal(served["class_ids"], local["class_ids"])
    np.testing.assert_allclose(served["modality_weights"].sum(1), 1, atol=1e-5)


def test_training_outputs_reload_with_the_same_answers(served_model):
    _, _, records, result = served_model
    classifier, preprocessor, class_names = load_training_outputs(
        result.output_dir
    )
    assert class_names == sorted(synthetic.LABELS)
    features = preprocessor(
        {
            "image": tf.constant(
                [open(r["image"], "rb").read() for r in records]
            ),
            "text": tf.constant([r["text"] for r in records]),
        }
    )
    np.testing.assert_allclose(
        classifier(features), result.classifier(features), atol=1e-5
    )


def _mmkeras(*args):
    """Runs the `mmkeras` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "mmkeras.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )


def test_mmkeras_predict_command(served_model):
    server, _, records, _ = served_model
    completed = _mmkeras(
        "predict",
        f"--server={server.address}",
        "--model=tiny",
        f"--image={records[0]['image']}",
        f"--text={records[0]['text']}",
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("class_id: ")
    probabilities = [float(p) for p in lines[1].split(":")[1].split()]
    assert len(probabilities) == 6
    assert abs(sum(probabilities) - 1) < 1e-3
    assert lines[2].startswith("modality_weights (sorted modality order): ")


def test_mmkeras_predict_reports_an_unknown_model(served_model):
    server, _, records, _ = served_model
    completed = _mmkeras(
        "predict",
        f"--server={server.address}",
        "--model=nope",
        f"--image={records[0]['image']}",
        "--text=x",
    )
    assert completed.returncode == 1
    assert "NOT_FOUND" in completed.stderr


def test_mmkeras_status_command(served_model):
    server = served_model[0]
    completed = _mmkeras("status", f"--server={server.address}", "--model=tiny")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "tiny version 1: AVAILABLE"
