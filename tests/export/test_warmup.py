import json
import os

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.export import export_task
from mmkeras.export import saved_model
from mmkeras.export import warmup
from mmkeras.models import multimodal_classifier
from mmkeras.preprocessing import DecodeLimits
from mmkeras.preprocessing import learn_vocabulary
from serving.server import loader
from serving.server import warmup as server_warmup
from tests.test_case import as_tensors
from tests.test_case import raw_examples

TRAIN_CONFIG = {"task": "classify", "epochs": 3, "modalities": ["image"]}


@pytest.fixture(scope="module")
def task():
    return multimodal_classifier(
        ["image", "text"],
        ["ball", "box"],
        vocabulary=learn_vocabulary(raw_examples(["text"])["text"]),
        hidden_dim=8,
        image_size=8,
        sequence_length=6,
        metadata={"train_config": TRAIN_CONFIG},
    )


@pytest.fixture(scope="module")
def exported(task, tmp_path_factory):
    base_path = tmp_path_factory.mktemp("models")
    examples = raw_examples(["image", "text"], count=3)
    path = export_task(task, str(base_path), "m", warmup_examples=examples)
    return path, examples


def test_one_record_per_signature_parses_back_as_prediction_logs(exported):
    path, examples = exported
    logs = warmup.read_warmup_file(path)
    assert os.path.basename(warmup.warmup_file(path)) == (
        "tf_serving_warmup_requests"
    )
    kinds = {
        warmup.request_inputs(log)[0]: log.WhichOneof("log_type")
        for log in logs
    }
    assert kinds == {
        "classify": "classify_log",
        "serving_default": "predict_log",
    }
    [predict] = [log for log in logs if log.HasField("predict_log")]
    inputs = predict.predict_log.request.inputs
    assert sorted(inputs) == ["image", "text"]
    for key in ("image", "text"):
        assert inputs[key].dtype == tf.string.as_datatype_enum
        values = tf.make_ndarray(inputs[key]).tolist()
        assert values == [
            v.encode() if isinstance(v, str) else v for v in examples[key]
        ]
    [classify] = [log for log in logs if log.HasField("classify_log")]
    request = classify.classify_log.request
    assert request.model_spec.name == "m"
    first = request.input.example_list.examples[0].features.feature
    assert first["image"].bytes_list.value == [examples["image"][0]]
    assert first["text"].bytes_list.value == [examples["text"][0].encode()]


def test_the_train_config_rides_beside_the_warmup_and_servers_ignore_it(
    exported,
):
    path, _ = exported
    with open(saved_model.train_config_file(path)) as f:
        assert json.load(f) == TRAIN_CONFIG
    assert sorted(os.listdir(os.path.join(path, "assets.extra"))) == [
        "mmkeras_train_config.json",
        "tf_serving_warmup_requests",
    ]
    # mmkeras-model-server's warmup replays its own file, nothing else.
    servable = loader.load_servable("m", os.path.dirname(path), 1)
    assert server_warmup.run_warmup(servable) == 2  # one per signature


def test_each_record_answers_as_the_task_does(exported, task):
    path, examples = exported
    loaded = tf.saved_model.load(path)
    expected = task.predict_raw(as_tensors(examples))["probabilities"]
    for log in warmup.read_warmup_file(path):
        name, inputs = warmup.request_inputs(log)
        outputs = loaded.signatures[name](**inputs)
        served = outputs.get("probabilities", outputs.get("scores"))
        np.testing.assert_allclose(served, expected, atol=1e-5)


def test_clips_of_different_lengths_are_padded_with_empty_frames(tmp_path):
    task = multimodal_classifier(
        ["video"], ["a", "b"], hidden_dim=8, image_size=8, num_frames=2
    )
    clips = raw_examples(["video"], count=2)["video"]
    examples = {"video": [clips[0], clips[1][:1]]}
    path = export_task(task, str(tmp_path), "v", warmup_examples=examples)
    logs = warmup.read_warmup_file(path)
    [predict] = [log for log in logs if log.HasField("predict_log")]
    video = tf.make_ndarray(predict.predict_log.request.inputs["video"])
    assert video.shape == (2, 3)
    assert video[1].tolist() == [clips[1][0], b"", b""]
    [classify] = [log for log in logs if log.HasField("classify_log")]
    second = classify.classify_log.request.input.example_list.examples[1]
    assert len(second.features.feature["video"].bytes_list.value) == 1


def test_examples_a_server_would_refuse_stop_the_export(task, tmp_path):
    examples = raw_examples(["image", "text"], count=2)  # 12x12 images
    with pytest.raises(ValueError, match=r"(?s)fail on signature.*max_pixels"):
        export_task(
            task,
            str(tmp_path),
            "m",
            limits=DecodeLimits(max_pixels=100),
            warmup_examples=examples,
        )
    assert os.listdir(tmp_path / "m") == []


@pytest.mark.parametrize(
    "examples, message",
    [
        ({"image": [b""]}, "takes input 'text'"),
        ({"image": [b"", b""], "text": ["a"]}, "one value per example"),
        ({"image": [], "text": []}, "at least one example"),
    ],
)
def test_unusable_examples_are_named(task, tmp_path, examples, message):
    with pytest.raises(ValueError, match=message):
        export_task(task, str(tmp_path), "m", warmup_examples=examples)
