"""TFLite export of a dual encoder: each tower's `embed_<modality>` and
the pairs' `serving_default` run in LiteRT, no Flex, close to Keras."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mmkeras import cli
from mmkeras.data.synthetic_scenes import write_retrieval_dataset
from mmkeras.export import op_check
from mmkeras.export import tflite
from mmkeras.models import dual_encoder
from mmkeras.preprocessing import learn_vocabulary
from tests.test_case import as_tensors
from tests.test_case import raw_examples

MODALITIES = ("image", "text")
# Largest |difference| from the Keras embeddings (unit vectors) and pair
# scores, per variant, on the tiny (untrained, seeded) test model.
TOLERANCES = {"none": 1e-5, "float16": 5e-3, "dynamic": 1e-2}
VARIANTS = tuple(TOLERANCES)


def _tiny_dual_encoder(modalities=MODALITIES, vocabulary_texts=None):
    keras.utils.set_random_seed(0)
    texts = vocabulary_texts or raw_examples(["text"], 8)["text"]
    return dual_encoder(
        modalities,
        vocabulary=learn_vocabulary(texts) if "text" in modalities else None,
        embedding_dim=6,
        hidden_dim=8,
        image_size=8,
        sequence_length=6,
        clip_seconds=0.3,
        num_frames=2,
    )


def _numpy(inputs):
    return {k: np.asarray(v) for k, v in inputs.items()}


def _embed_inputs(task, raw, modality):
    return _numpy(task.device_inputs({modality: tf.constant(raw[modality])}))


def _no_flex(model):
    for signature, ops in op_check.tflite_ops(model).items():
        custom = {op_check.custom_name(o) for o in ops if op_check.is_custom(o)}
        assert custom <= op_check.TF_TEXT_TFLITE_OPS, signature


@pytest.fixture(scope="module")
def task():
    return _tiny_dual_encoder()


@pytest.fixture(scope="module")
def raw():
    return raw_examples(MODALITIES, count=4)


@pytest.fixture(scope="module")
def converted(task, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("device"))
    keys = tflite.write_device_saved_model(task, directory)
    return {q: tflite.convert(directory, keys, q) for q in VARIANTS}


def test_device_signatures_give_embed_and_serving_defaults_outputs(task, raw):
    signatures = task.device_signatures()
    assert sorted(signatures) == [
        "embed_image",
        "embed_text",
        "serving_default",
    ]
    for modality in MODALITIES:
        outputs = signatures[f"embed_{modality}"](
            _embed_inputs(task, raw, modality)
        )
        np.testing.assert_allclose(
            outputs["embeddings"],
            task.embed(modality, tf.constant(raw[modality])),
            atol=1e-5,
        )
    pairs = signatures["serving_default"](task.device_inputs(as_tensors(raw)))
    expected = task.predict_raw(as_tensors(raw))
    assert sorted(pairs) == sorted(expected)
    for key, value in expected.items():
        assert pairs[key].dtype == tf.float32
        np.testing.assert_allclose(pairs[key], value, atol=1e-5)


def test_device_inputs_are_pixels_and_strings(task, raw):
    inputs = task.device_inputs(as_tensors(raw))
    assert sorted(inputs) == ["images", "text"]
    assert inputs["images"].shape == (4, 8, 8, 3)
    assert 0.0 <= float(tf.reduce_min(inputs["images"]))
    assert float(tf.reduce_max(inputs["images"])) <= 255.0
    assert inputs["text"].dtype == tf.string
    with pytest.raises(ValueError, match="image or text"):
        task.device_inputs({"audio": tf.constant([b""])})


@pytest.mark.parametrize("quantize", VARIANTS)
def test_each_variant_runs_in_litert_without_flex_and_matches_embed(
    task, raw, converted, quantize
):
    model = converted[quantize]
    _no_flex(model)
    interpreter = tflite.load_interpreter(model_content=model)
    assert sorted(interpreter.get_signature_list()) == [
        "embed_image",
        "embed_text",
        "serving_default",
    ]
    atol = TOLERANCES[quantize]
    for modality in MODALITIES:
        inputs = _embed_inputs(task, raw, modality)
        signature = f"embed_{modality}"
        outputs = tflite.run_signature(interpreter, inputs, signature)
        expected = task.embed(modality, tf.constant(raw[modality])).numpy()
        assert outputs["embeddings"].dtype == np.float32
        np.testing.assert_allclose(outputs["embeddings"], expected, atol=atol)
        # The batch dimension resizes: one example at a time too.
        first = {k: v[:1] for k, v in inputs.items()}
        one = tflite.run_signature(interpreter, first, signature)
        np.testing.assert_allclose(one["embeddings"], expected[:1], atol=atol)
    pairs = tflite.run_signature(
        interpreter, _numpy(task.device_inputs(as_tensors(raw)))
    )
    expected = task.predict_raw(as_tensors(raw))
    for key, value in expected.items():
        np.testing.assert_allclose(pairs[key], value, atol=atol)


def test_int8_is_refused_in_one_line(task, tmp_path):
    path = str(tmp_path / "model.tflite")
    with pytest.raises(ValueError, match="DualEncoder does not export int8"):
        tflite.export_tflite(task, path, "int8", calibration=[{}])
    assert not os.path.exists(path)


@pytest.mark.slow
def test_audio_and_video_towers_convert_and_match_embed(tmp_path):
    modalities = ("audio", "video")
    task = _tiny_dual_encoder(modalities)
    raw = raw_examples(modalities, count=3)
    directory = str(tmp_path / "device")
    keys = tflite.write_device_saved_model(task, directory)
    model = tflite.convert(directory, keys)
    _no_flex(model)
    interpreter = tflite.load_interpreter(model_content=model)
    inputs = _embed_inputs(task, raw, "audio")
    assert sorted(inputs) == ["audio_mask", "audio_waveform"]
    assert sorted(_embed_inputs(task, raw, "video")) == [
        "frame_mask",
        "video_frames",
    ]
    for modality in modalities:
        outputs = tflite.run_signature(
            interpreter,
            _embed_inputs(task, raw, modality),
            f"embed_{modality}",
        )
        np.testing.assert_allclose(
            outputs["embeddings"],
            task.embed(modality, tf.constant(raw[modality])),
            atol=1e-5,
        )


@pytest.fixture(scope="module")
def training_dir(tmp_path_factory):
    """A retrieval run's directory (task.keras, config.json) on scenes."""
    root = tmp_path_factory.mktemp("run")
    summary = write_retrieval_dataset(str(root / "data"), 8, 4, 6)
    with open(summary.manifest_path) as f:
        texts = [json.loads(line)["text"] for line in f]
    task = _tiny_dual_encoder(vocabulary_texts=texts)
    directory = root / "run"
    os.makedirs(directory)
    task.save(str(directory / "task.keras"))
    with open(directory / "config.json", "w") as f:
        json.dump({"manifest": summary.manifest_path}, f)
    return str(directory)


@pytest.mark.slow
def test_cli_exports_a_retrieval_task_and_reports_parity(
    training_dir, tmp_path, capsys
):
    path = str(tmp_path / "model.tflite")
    cli.main(
        [
            "export",
            "--training-dir",
            training_dir,
            "--format",
            "tflite",
            "--quantize",
            "dynamic",
            "--output",
            path,
        ]
    )
    printed = capsys.readouterr().out
    assert f"Exported TFLite (dynamic) to {path}" in printed
    with open(str(tmp_path / "model.parity.json")) as f:
        report = json.load(f)
    # The held-out split is the test pairs: 6 images, 2 captions each.
    assert report["examples"] == 12
    assert report["keras"]["metrics"]["gallery_items"] == 6
    variants = report["variants"]
    assert sorted(variants) == sorted(VARIANTS)  # int8 is refused
    for variant in variants:
        assert f"\n{variant} " in printed
        metrics = variants[variant]["metrics"]
        assert 0.0 <= metrics["text_to_image_r1"] <= 1.0
    none = variants["none"]
    assert none["max_abs_diff"]["image_embeddings"] < 1e-5
    assert none["max_abs_diff"]["text_embeddings"] < 1e-5
    assert sorted(none["metrics"]) == sorted(report["keras"]["metrics"])
    check = report["checks"]["dynamic_metric_within_1_point"]
    assert check["metric"] == "text_to_image_r1"
    _no_flex(open(path, "rb").read())
