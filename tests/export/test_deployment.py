import os
import shlex

import numpy as np
import pytest

from mmkeras.export import deployment
from mmkeras.export import export_task
from mmkeras.models import multimodal_classifier
from mmkeras.preprocessing import learn_vocabulary
from mmkeras.remote import predict_raw
from serving.client import PredictionClient
from serving.process import ModelServerProcess
from serving.server.batching.options import BatchingOptions
from serving.server.batching.options import options_from_parameters
from serving.server.config import messages
from serving.server.config.model_config import validate_model_server_config
from serving.server.config.text_proto import read_text_proto
from tests.test_case import raw_examples


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    task = multimodal_classifier(
        ["image", "text"],
        ["ball", "box"],
        vocabulary=learn_vocabulary(raw_examples(["text"])["text"]),
        hidden_dim=8,
        image_size=8,
        sequence_length=6,
    )
    base_path = tmp_path_factory.mktemp("models")
    examples = raw_examples(["image", "text"], count=2)
    path = export_task(task, str(base_path), "demo", warmup_examples=examples)
    return task, str(base_path), path


def _models_config(path):
    config = read_text_proto(path, messages.ModelServerConfig)
    validate_model_server_config(config)
    return config


def test_models_config_names_the_model_at_its_container_path(exported):
    _, base_path, _ = exported
    config = _models_config(os.path.join(base_path, "demo", "models.config"))
    [model] = config.model_config_list.config
    assert (model.name, model.base_path) == ("demo", "/models/demo")
    assert model.model_platform == "tensorflow"
    assert model.model_version_policy.latest.num_versions == 1


def test_batching_parameters_parse_as_the_server_reads_them(exported):
    _, base_path, _ = exported
    parameters = read_text_proto(
        os.path.join(base_path, "demo", "batching_parameters.txt"),
        messages.BatchingParameters,
    )
    options = options_from_parameters(parameters)
    assert options == BatchingOptions(
        max_batch_size=32,
        batch_timeout_micros=1000,
        max_enqueued_batches=16,
    )
    text = open(
        os.path.join(base_path, "demo", "batching_parameters.txt")
    ).read()
    assert "max_batch_pixels = 16777216" in text
    assert "Video clips" not in text


def test_a_video_model_is_told_how_clips_batch(tmp_path):
    paths = deployment.write_deployment_files(
        str(tmp_path), "v", variable_length=True
    )
    assert (
        "Video clips batch only with clips of as many frames"
        in open(paths["batching_parameters"]).read()
    )


def test_docker_command_mounts_the_export_where_the_config_points(exported):
    _, base_path, _ = exported
    words = shlex.split(deployment.docker_command(base_path, "demo"))
    local = os.path.join(os.path.abspath(base_path), "demo")
    assert words[:3] == ["docker", "run", "--rm"]
    assert words[words.index("-v") + 1] == f"{local}:/models/demo:ro"
    assert "tensorflow/serving" in words
    assert "--model_config_file=/models/demo/models.config" in words
    assert "--enable_batching=true" in words
    assert (
        "--batching_parameters_file=/models/demo/batching_parameters.txt"
        in words
    )
    assert shlex.split(deployment.docker_command("/a b/c", "m"))[8].startswith(
        "/a b/c/m:"
    )


def test_a_config_with_quotes_in_a_path_still_parses(tmp_path):
    paths = deployment.write_deployment_files(
        str(tmp_path), "m", base_path='/srv/odd "models"\\m'
    )
    [model] = _models_config(paths["models_config"]).model_config_list.config
    assert model.base_path == '/srv/odd "models"\\m'


@pytest.mark.slow
def test_the_server_serves_the_written_files_and_replays_warmup(
    exported, tmp_path
):
    task, base_path, _ = exported
    model_dir = os.path.abspath(os.path.join(base_path, "demo"))
    # The written config points into the container; a local server needs
    # the local path, with the same batching parameters.
    local = deployment.write_deployment_files(
        str(tmp_path), "demo", base_path=model_dir
    )
    flags = [
        f"--model_config_file={local['models_config']}",
        "--enable_batching",
        f"--batching_parameters_file={local['batching_parameters']}",
    ]
    raw = raw_examples(["image", "text"], count=3, seed=1)
    with ModelServerProcess("demo", None, extra_flags=flags) as server:
        with PredictionClient(server.address, timeout=60) as client:
            served = predict_raw(client, "demo", raw)
            classified = client.classify(
                "demo",
                [
                    {"image": image, "text": text}
                    for image, text in zip(
                        raw["image"], raw["text"], strict=True
                    )
                ],
                signature_name="classify",
            )
        log = server.output_tail
    assert "Number of warmup records read: 2." in log
    expected = task.predict_raw(
        {k: np.array(v, dtype=object) for k, v in raw.items()}
    )
    np.testing.assert_allclose(
        served["probabilities"], expected["probabilities"], atol=1e-5
    )
    scores = [[score for _, score in labels] for labels in classified]
    np.testing.assert_allclose(scores, expected["probabilities"], atol=1e-5)
