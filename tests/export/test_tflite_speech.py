"""The speech task on a device: greedy CTC decoding inside a TFLite model
with builtin ops only, equal to the TF decoder, and the parity report."""

import os

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.export import op_check
from mmkeras.export import tflite
from mmkeras.models import ctc_decoding


def _decoder_model(directory):
    """The decoder alone, converted as `mmkeras export` converts (builtin
    ops only; `convert` fails naming any other op)."""
    module = tf.Module()
    module.decode = tf.function(
        ctc_decoding.greedy_decode_tf,
        input_signature=[
            tf.TensorSpec([None, None, 6], tf.float32, "logits"),
            tf.TensorSpec([None], tf.int32, "lengths"),
        ],
    )
    tf.saved_model.save(
        module, directory, signatures={"serving_default": module.decode}
    )
    return tflite.convert(directory, ["serving_default"])


def test_the_builtin_decoder_in_tflite_equals_the_tf_decoder(tmp_path):
    model = _decoder_model(str(tmp_path / "decoder"))
    tflite.check_device_ops(model)  # no Flex or custom op
    ops = {op for ops in op_check.tflite_ops(model).values() for op in ops}
    assert "ARG_MAX" in ops and not any(op_check.is_custom(o) for o in ops)
    interpreter = tflite.load_interpreter(model_content=model)
    rng = np.random.default_rng(0)
    for frames in (1, 7, 30):
        logits = rng.normal(size=(5, frames, 6)).astype("float32")
        # Long runs of one class, so repeats and blanks both occur.
        logits[:, ::3, 0] += 2.0
        logits[:, 1::4, 2] += 3.0
        lengths = rng.integers(0, frames + 1, 5).astype("int32")
        lengths[0] = frames
        got = tflite.run_signature(
            interpreter, {"logits": logits, "lengths": lengths}
        )
        expected = ctc_decoding.greedy_decode_tf(logits, lengths)
        for key, value in expected.items():
            np.testing.assert_array_equal(got[key], value.numpy(), key)
        by_hand = ctc_decoding.greedy_decode(logits, lengths)
        for row, ids in enumerate(by_hand):
            count = int(got["token_counts"][row])
            assert got["token_ids"][row, :count].tolist() == ids


@pytest.mark.slow
def test_export_tflite_of_a_speech_task_decodes_on_device(tmp_path):
    from mmkeras.data.synthetic_speech import write_speech_dataset
    from mmkeras.models.speech_recognizer import character_vocabulary
    from mmkeras.training import speech
    from mmkeras.training.trainer import TrainConfig
    from mmkeras.training.trainer import TrainingPlan
    from mmkeras.training.trainer import build_speech

    summary = write_speech_dataset(
        str(tmp_path / "data"),
        examples_per_voice=2,
        engine="tones",
        voices={"train": ("a", "b"), "test": ("c", "d")},
        max_seconds=2.0,
    )
    manifest = speech.read_speech_manifest(summary["manifest"])
    config = TrainConfig(
        manifest=summary["manifest"],
        output_dir=str(tmp_path / "run"),
        task="speech",
        hidden_dim=16,
        clip_seconds=2.0,
    )
    train_split = manifest.split("train")
    vocabulary = character_vocabulary(speech.transcripts_of(train_split))
    task = build_speech(
        config, TrainingPlan(("audio",), vocabulary), train_split
    )
    path = str(tmp_path / "speech.tflite")
    result = tflite.export_tflite(
        task,
        path,
        calibration=tflite.calibration_samples(task, train_split),
        held_out=manifest.split("test"),
    )
    assert os.path.exists(path)
    report = result.report
    assert report["examples"] == 4
    variants = report["variants"]
    assert {"none", "float16", "dynamic"} <= set(variants)
    # The device model's greedy decoding matches the Keras model's.
    assert variants["none"]["metrics"]["cer"] == pytest.approx(
        report["keras"]["metrics"]["cer"]
    )
    assert variants["none"]["max_abs_diff"]["log_probs"] < 1e-3
    interpreter = tflite.load_interpreter(model_path=path)
    inputs = next(tflite.calibration_samples(task, manifest.split("test")))
    outputs = tflite.run_signature(interpreter, inputs)
    keras_outputs = task.predict_raw(
        {
            "audio": tf.constant(
                [open(manifest.split("test")[0]["audio"], "rb").read()]
            )
        }
    )
    np.testing.assert_array_equal(
        outputs["token_ids"], keras_outputs["token_ids"].numpy()
    )
