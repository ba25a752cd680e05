import numpy as np
import pytest
import tensorflow as tf

from mmkeras.layers import FrameMask
from mmkeras.layers import LogMelSpectrogram
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
