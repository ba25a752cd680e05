"""TFLite export: every variant runs in LiteRT, no Flex, close to Keras."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mmkeras import cli
from mmkeras.data.manifest import read_manifest
from mmkeras.data.synthetic import write_dataset
from mmkeras.export import op_check
from mmkeras.export import tflite
from mmkeras.models import multimodal_classifier
from mmkeras.preprocessing import learn_vocabulary
from serving.server import tflite_servable
from tests.test_case import as_tensors
from tests.test_case import raw_examples

MODALITIES = ["audio", "image", "text", "video"]
# Largest |difference| from the Keras model's probabilities and modality
# weights, per variant, on the tiny (untrained, seeded) test model. int8
# calibrates on 8 examples of noise here; see the demo's parity report
# for a trained model's numbers.
TOLERANCES = {"none": 1e-5, "float16": 1e-2, "dynamic": 5e-2, "int8": 0.35}


def _tiny_classifier(modalities=MODALITIES, dtype=None):
    keras.utils.set_random_seed(0)
    vocabulary = learn_vocabulary(raw_examples(["text"])["text"])
    return multimodal_classifier(
        modalities,
        ["ball", "box", "ring"],
        vocabulary=vocabulary,
        hidden_dim=8,
        image_size=8,
        sequence_length=6,
        clip_seconds=0.25,
        num_frames=3,
        dtype=dtype,
    )


def _device_batches(task, raw):
    """One batch of all the raw examples, and each example on its own."""
    inputs = task.device_inputs(as_tensors(raw))
    batch = {k: np.asarray(v) for k, v in inputs.items()}
    count = len(next(iter(raw.values())))
    singles = [
        {k: v[i : i + 1] for k, v in batch.items()} for i in range(count)
    ]
    return batch, singles


@pytest.fixture(scope="module")
def task():
    return _tiny_classifier()


@pytest.fixture(scope="module")
def raw():
    raw = raw_examples(MODALITIES, count=4)
    raw["audio"][1] = b""  # a missing modality
    raw["text"][2] = ""
    return raw


@pytest.fixture(scope="module")
def converted(task, raw, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("device"))
    keys = tflite.write_device_saved_model(task, directory)
    _, calibration = _device_batches(task, raw_examples(MODALITIES, 8, 1))
    models = {
        q: tflite.convert(directory, keys, q, calibration)
        for q in tflite.QUANTIZATIONS
    }
    return directory, models


def test_device_signature_gives_serving_defaults_outputs(task, raw):
    signature = task.device_signatures()["serving_default"]
    outputs = signature(task.device_inputs(as_tensors(raw)))
    expected = task.predict_raw(as_tensors(raw))
    for key in ("probabilities", "modality_weights"):
        np.testing.assert_allclose(outputs[key], expected[key], atol=1e-5)
    np.testing.assert_array_equal(outputs["class_ids"], expected["class_ids"])


@pytest.mark.slow
@pytest.mark.parametrize("quantize", tflite.QUANTIZATIONS)
def test_each_variant_runs_in_litert_without_flex_and_matches_keras(
    task, raw, converted, quantize
):
    model = converted[1][quantize]
    ops = op_check.tflite_ops(model)["serving_default"]
    custom = {op_check.custom_name(op) for op in ops if op_check.is_custom(op)}
    assert custom <= op_check.TF_TEXT_TFLITE_OPS  # no Flex, no unknown op
    assert "RFFT2D" in ops  # the log-mel front end converts to builtins
    interpreter = tflite.load_interpreter(model_content=model)
    batch, singles = _device_batches(task, raw)
    expected = task.predict_raw(as_tensors(raw))
    # The batch dimension resizes: four examples, then one at a time.
    outputs = tflite.run_signature(interpreter, batch)
    one_by_one = [tflite.run_signature(interpreter, x) for x in singles]
    np.testing.assert_allclose(
        np.concatenate([o["probabilities"] for o in one_by_one]),
        outputs["probabilities"],
        atol=1e-5 if quantize != "int8" else 0.05,
    )
    for key in ("probabilities", "modality_weights"):
        np.testing.assert_allclose(
            outputs[key], expected[key], atol=TOLERANCES[quantize]
        )
    # A missing modality gets no weight, quantized or not.
    assert outputs["modality_weights"][1][0] == 0.0


@pytest.mark.slow
def test_int8_keeps_the_log_mel_front_end_and_masked_logits_float(converted):
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(converted[1]["int8"], 0)
    graph = model.Subgraphs(0)
    log_inputs, conv_inputs = set(), set()
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        types = {graph.Tensors(t).Type() for t in op.InputsAsNumpy() if t >= 0}
        if builtin == schema.BuiltinOperator.LOG:
            log_inputs |= types
        if builtin == schema.BuiltinOperator.CONV_2D:
            conv_inputs |= types
    assert log_inputs == {schema.TensorType.FLOAT32}
    assert schema.TensorType.INT8 in conv_inputs  # the rest is quantized
    # No int8 tensor's scale was stretched by a mask's sentinel logit.
    scales = [
        graph.Tensors(i).Quantization().ScaleAsNumpy().max()
        for i in range(graph.TensorsLength())
        if graph.Tensors(i).Type() == schema.TensorType.INT8
        and graph.Tensors(i).Quantization().ScaleLength()
    ]
    assert max(scales) < tflite.SENTINEL_RANGE / 127


@pytest.mark.slow
def test_mixed_precision_task_is_rebuilt_in_float32_and_converts(tmp_path):
    task = _tiny_classifier(["audio", "text"], dtype="mixed_float16")
    rebuilt = tflite.float32_task(task)
    assert rebuilt is not task and rebuilt.dtype_policy.name == "float32"
    for a, b in zip(task.get_weights(), rebuilt.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert tflite.float32_task(rebuilt) is rebuilt
    path = tflite.export_tflite(task, str(tmp_path / "m.tflite")).path
    raw = raw_examples(["audio", "text"], count=2)
    batch, _ = _device_batches(task, raw)
    outputs = tflite.run_signature(tflite.load_interpreter(path), batch)
    expected = task.predict_raw(as_tensors(raw))
    np.testing.assert_allclose(
        outputs["probabilities"], expected["probabilities"], atol=1e-2
    )


def test_a_task_without_device_signatures_is_named(tmp_path):
    class NoDevice(tf.Module):
        preprocessor = None

        def device_signatures(self):
            raise NotImplementedError("NoDevice does not define device ...")

    with pytest.raises(NotImplementedError, match="NoDevice"):
        tflite.write_device_saved_model(NoDevice(), str(tmp_path))


@pytest.fixture(scope="module")
def training_dir(tmp_path_factory):
    """A training run's directory (task.keras, config.json) on files."""
    root = tmp_path_factory.mktemp("run")
    manifest = write_dataset(
        str(root / "data"), 30, modalities=("audio", "image", "text")
    )
    task = multimodal_classifier(
        ["audio", "image", "text"],
        read_manifest(manifest).labels("label"),
        vocabulary=learn_vocabulary(
            json.loads(line).get("text", "") for line in open(manifest)
        ),
        hidden_dim=8,
        image_size=8,
        sequence_length=6,
        clip_seconds=0.25,
    )
    directory = root / "run"
    os.makedirs(directory)
    task.save(str(directory / "task.keras"))
    with open(directory / "config.json", "w") as f:
        json.dump({"manifest": manifest}, f)
    return str(directory)


@pytest.mark.slow
def test_cli_exports_tflite_beside_the_saved_model_and_reports_parity(
    training_dir, tmp_path, capsys
):
    base = str(tmp_path / "models")
    cli.main(
        [
            "export",
            "--training-dir",
            training_dir,
            "--base-path",
            base,
            "--model-name",
            "demo",
        ]
    )
    path = os.path.join(base, "demo", "1", "model.tflite")
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
    for variant in tflite.QUANTIZATIONS:
        assert f"\n{variant} " in printed
    with open(os.path.join(base, "demo", "1", "model.parity.json")) as f:
        report = json.load(f)
    assert sorted(report["variants"]) == sorted(tflite.QUANTIZATIONS)
    assert report["written"] == {"quantize": "dynamic", "path": path}
    assert report["variants"]["none"]["max_abs_diff"]["probabilities"] < 1e-5
    assert report["checks"]["dynamic_metric_within_1_point"]["metric"] == (
        "accuracy"
    )
    # The size breakdown: the text tables and the other constants are
    # parts of the file; int8 weights shrink the constants, not the tables.
    full, dynamic = (report["variants"][q] for q in ("none", "dynamic"))
    for variant in (full, dynamic):
        parts = variant["text_table_bytes"] + variant["constant_bytes"]
        assert 0 < parts < variant["size_bytes"]
    assert dynamic["text_table_bytes"] == full["text_table_bytes"] > 0
    assert full["constant_ratio"] == 1.0
    # This model's matrices are tiny: the converter keeps those under
    # 1024 elements float, and quantizes the rest.
    assert 0.25 < dynamic["constant_ratio"] < 1.0
    assert "consts" in printed

    # mmkeras-model-server's LiteRT runtime serves it, TF Text ops and all.
    signatures, _, _ = tflite_servable.load_tflite_model(path)
    inputs = signatures["serving_default"].input_specs
    assert {"text", "images", "audio_waveform"} <= set(inputs)

    cli.main(["check-export", os.path.join(base, "demo")])
    printed = capsys.readouterr().out
    assert printed.splitlines()[-1] == "OK: TF Serving 2.21 has every op."
    with pytest.raises(SystemExit) as exit_info:
        cli.main(
            [
                "check-export",
                os.path.join(base, "demo"),
                "--prefer-tflite-model",
            ]
        )
    assert exit_info.value.code == 1
    assert "custom:FastBertNormalize" in capsys.readouterr().out


def test_cli_tflite_needs_output(training_dir):
    with pytest.raises(SystemExit, match="needs --output"):
        cli.main(
            ["export", "--training-dir", training_dir, "--format", "tflite"]
        )
