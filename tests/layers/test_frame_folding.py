import numpy as np
import tensorflow as tf

from mmkeras.layers import FoldFrames
from mmkeras.layers import UnfoldFrames
from tests.test_case import run_serialization_checks

FRAMES = np.random.default_rng(0).normal(size=(2, 3, 4, 4, 3))


def test_fold_puts_each_frame_in_its_own_batch_row():
    folded = np.asarray(FoldFrames()(FRAMES))
    assert folded.shape == (6, 4, 4, 3)
    np.testing.assert_allclose(folded[4], FRAMES[1, 1], atol=1e-6)


def test_unfold_inverts_fold_with_unknown_frame_count():
    fold, unfold = FoldFrames(), UnfoldFrames()

    @tf.function(
        input_signature=[tf.TensorSpec((None, None, 4, 4, 3), tf.float32)]
    )
    def round_trip(frames):
        flat = tf.reshape(fold(frames), (-1, 48))
        return unfold(flat, frames)

    result = round_trip(FRAMES.astype("float32"))
    np.testing.assert_allclose(result, FRAMES.reshape(2, 3, 48), atol=1e-6)


def test_serialization(tmp_path):
    run_serialization_checks(FoldFrames(), FRAMES.astype("float32"), tmp_path)
    run_serialization_checks(
        UnfoldFrames(),
        np.ones((6, 5), "float32"),
        tmp_path,
        call_kwargs={"reference": np.ones((2, 3), bool)},
    )
