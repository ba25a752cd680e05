import numpy as np
import pytest
import tensorflow as tf

from mmkeras.preprocessing import FrameSampler
from tests.test_case import check_config_round_trip


def _clip(count, size=2):
    """uint8 frames whose pixels all equal the frame's index."""
    return np.broadcast_to(
        np.arange(count, dtype="uint8")[:, None, None, None],
        (count, size, size, 3),
    ).copy()


def _frame_values(frames):
    return np.asarray(frames)[..., 0, 0, 0].tolist()


def test_samples_the_middle_frame_of_equal_segments():
    # 10 frames, 4 segments of 2.5 frames; middles at 1.25, 3.75, 6.25, 8.75.
    sampled = FrameSampler(4)(_clip(10))
    assert sampled["video_frames"].shape == (4, 2, 2, 3)
    assert sampled["video_frames"].dtype == tf.uint8
    assert _frame_values(sampled["video_frames"]) == [1, 3, 6, 8]
    assert sampled["frame_mask"].numpy().tolist() == [True] * 4


@pytest.mark.parametrize(
    "count, expected",
    [(4, [0, 1, 2, 3]), (5, [0, 1, 3, 4]), (9, [1, 3, 5, 7])],
)
def test_frame_indices(count, expected):
    assert FrameSampler(4).frame_indices(count).numpy().tolist() == expected


def test_pads_short_clips_with_zero_frames_and_masks_them():
    sampled = FrameSampler(4)(_clip(2) + 5)
    assert _frame_values(sampled["video_frames"]) == [5, 6, 0, 0]
    assert sampled["frame_mask"].numpy().tolist() == [True, True, False, False]
    empty = FrameSampler(3)(np.zeros((0, 2, 2, 3), "float32"))
    assert empty["video_frames"].shape == (3, 2, 2, 3)
    assert not empty["frame_mask"].numpy().any()


def test_batches_of_clips():
    clips = np.stack([_clip(10), _clip(10) + 100])
    sampled = FrameSampler(4)(clips)
    assert sampled["video_frames"].shape == (2, 4, 2, 2, 3)
    assert _frame_values(sampled["video_frames"]) == [
        [1, 3, 6, 8],
        [101, 103, 106, 108],
    ]
    short = FrameSampler(4)(np.stack([_clip(3), _clip(3)]))
    assert short["frame_mask"].numpy().tolist() == [[True] * 3 + [False]] * 2


def test_same_result_eagerly_and_inside_dataset_map():
    sampler = FrameSampler(4)
    clips = [_clip(10), _clip(3), _clip(4)]
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(clips),
        output_signature=tf.TensorSpec((None, 2, 2, 3), tf.uint8),
    ).map(sampler)
    for clip, mapped in zip(clips, dataset.as_numpy_iterator(), strict=True):
        eager = sampler(clip)
        for key in ("video_frames", "frame_mask"):
            np.testing.assert_array_equal(mapped[key], eager[key].numpy())


def test_validates_arguments_and_rank():
    with pytest.raises(ValueError, match="num_frames must be positive"):
        FrameSampler(0)
    with pytest.raises(ValueError, match="received shape"):
        FrameSampler(2)(np.zeros((4, 4, 3)))
    check_config_round_trip(FrameSampler(8))


def test_works_inside_an_exported_serving_signature(tmp_path):
    sampler = FrameSampler(4)
    module = tf.Module()
    module.sample = tf.function(
        sampler,
        input_signature=[tf.TensorSpec((None, None, 2, 2, 3), tf.uint8)],
    )
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    for count in (10, 3):
        clips = np.stack([_clip(count), _clip(count) + 50])
        served, eager = loaded.sample(clips), sampler(clips)
        for key in ("video_frames", "frame_mask"):
            np.testing.assert_array_equal(served[key], eager[key])
