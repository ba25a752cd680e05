import numpy as np
import pytest
import tensorflow as tf

from mmkeras.layers import FrameMask
from mmkeras.layers import LogMelSpectrogram
from mmkeras.layers.frame_mask import frame_signal
from tests.test_case import run_serialization_checks


def test_a_frame_is_real_only_if_all_its_steps_are():
    mask = np.array(
        [[True] * 7 + [False] * 2, [True] * 4 + [False] * 5, [False] * 9]
    )
    # Frames cover steps [0, 3), [2, 5), [4, 7), [6, 9).
    np.testing.assert_array_equal(
        FrameMask(3, 2)(mask),
        [[True, True, True, False], [True, False, False, False], [False] * 4],
    )


def test_frame_count_matches_the_stft():
    log_mel = LogMelSpectrogram(8000, 8, frame_length=200, frame_step=80)
    layer = FrameMask(200, 80)
    for samples in (200, 279, 280, 1000):
        mask = layer(np.ones((1, samples), bool))
        assert mask.shape[1] == log_mel.num_frames(samples)
        assert layer.compute_output_shape((1, samples)) == mask.shape
    assert FrameMask(200, 80)(np.ones((2, 150), bool)).shape == (2, 0)


def test_unknown_length_inside_a_function():
    layer = FrameMask(3, 2)

    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.bool)])
    def frame(mask):
        return layer(mask)

    result = frame(tf.constant([[True, True, True, True, True, False]]))
    np.testing.assert_array_equal(result, [[True, True]])


def test_serialization(tmp_path):
    mask = np.array([[True] * 6 + [False] * 2] * 2)
    run_serialization_checks(FrameMask(3, 2), mask, tmp_path)


def test_rejects_non_positive_sizes():
    with pytest.raises(ValueError, match="frame_step=0"):
        FrameMask(3, 0)


@pytest.mark.parametrize(
    "steps,frame_length,frame_step",
    [
        (7, 3, 2),  # slices of one step
        (2000, 200, 80),  # 25 ms frames every 10 ms at 8 kHz: 5 slices
        (100, 4, 6),  # a step longer than the frame skips samples
        (21, 20, 3),  # one frame
        (10, 20, 3),  # no frame
        (1000, 201, 80),  # 201 slices: gathered instead
    ],
)
def test_frames_equal_tf_signal_frame(steps, frame_length, frame_step):
    rng = np.random.default_rng(steps)
    for shape in [(steps,), (3, steps), (2, 3, steps)]:
        signal = rng.normal(size=shape).astype("float32")
        frames = frame_signal(signal, frame_length, frame_step)
        expected = tf.signal.frame(signal, frame_length, frame_step)
        np.testing.assert_array_equal(np.asarray(frames), expected.numpy())


def test_a_converted_framing_does_not_grow_with_the_signal():
    # A gather's index table would add frames * frame_length int32s:
    # 80 KB between these two lengths.
    def tflite_size(steps):
        function = tf.function(
            lambda signal: frame_signal(signal, 200, 80),
            input_signature=[tf.TensorSpec((None, steps), tf.float32)],
        )
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [function.get_concrete_function()], function
        )
        return len(converter.convert())

    assert abs(tflite_size(8000) - tflite_size(40000)) < 1024
