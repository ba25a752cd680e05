"""Greedy CTC decoding inside a TFLite model with builtin ops only, equal
to the TF decoder (the speech task's TFLite export and its parity report
are tested in tests/test_speech_end_to_end.py)."""

import numpy as np
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
