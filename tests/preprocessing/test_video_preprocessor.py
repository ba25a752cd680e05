import numpy as np
import pytest
import tensorflow as tf

from mmkeras.preprocessing import FrameSampler
from mmkeras.preprocessing import ImagePreprocessor
from mmkeras.preprocessing import VideoPreprocessor
from tests.preprocessing import encoded_media
from tests.test_case import check_config_round_trip


def _clip(count, size=6):
    """PNG frames whose grey level is 10 times the frame's index."""
    return [
        encoded_media.png(encoded_media.grey(size, size, 10 * i))
        for i in range(count)
    ]


def _error(run):
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        run()
    return str(raised.value)


def test_samples_as_frame_sampler_and_decodes_as_image_preprocessor():
    clips = [_clip(10), _clip(3) + [b""] * 7, [b""] * 10]
    outputs = VideoPreprocessor(4, (4, 4))(tf.constant(clips))
    assert outputs["video_frames"].shape == (3, 4, 4, 4, 3)
    images = ImagePreprocessor((4, 4))
    for clip, frames, mask in zip(
        clips, outputs["video_frames"], outputs["frame_mask"], strict=True
    ):
        real = [frame for frame in clip if frame]
        decoded = images(tf.constant(real)) if real else tf.zeros((0, 4, 4, 3))
        expected = FrameSampler(4)(decoded)
        np.testing.assert_allclose(frames, expected["video_frames"], atol=1e-6)
        np.testing.assert_array_equal(mask, expected["frame_mask"])


def test_one_clip_eagerly_and_inside_dataset_map():
    preprocessor = VideoPreprocessor(3, (4, 4))
    clips = [_clip(5), _clip(2) + [b""] * 3]
    eager = preprocessor(tf.constant(clips))
    mapped = next(
        tf.data.Dataset.from_tensor_slices(clips)
        .map(preprocessor)
        .batch(2)
        .as_numpy_iterator()
    )
    for key in ("video_frames", "frame_mask"):
        np.testing.assert_array_equal(mapped[key], eager[key].numpy())


def test_a_clip_over_max_frames_is_refused():
    preprocessor = VideoPreprocessor(2, (4, 4), max_frames=4)
    assert VideoPreprocessor(2, (4, 4)).max_frames == 256
    clips = tf.constant([_clip(3) + [b""] * 2, _clip(5)])
    assert "video 1 has 5 frames, over the limit of 4 (max_frames)" in _error(
        lambda: preprocessor(clips)
    )


def test_a_sampled_frame_over_max_pixels_is_named():
    clip = [encoded_media.png_claiming(20000, 20000)] * 3
    preprocessor = VideoPreprocessor(3, (4, 4))
    assert "video 0, frame 0 is 20000x20000 = 400000000 pixels" in _error(
        lambda: preprocessor(tf.constant(clip))
    )
    # A frame that is not sampled is never decoded, but its header is
    # read: a clip's frames must all have one size.
    assert preprocessor.sampler.frame_indices(4).numpy().tolist() == [0, 2, 3]
    skipped = _clip(4)
    skipped[1] = encoded_media.png_claiming(20000, 20000)
    assert "video 0: frame 1 is 20000x20000 but frame 0 is 6x6" in _error(
        lambda: preprocessor(tf.constant(skipped))
    )


def test_the_sampled_frames_of_a_call_share_max_batch_pixels():
    preprocessor = VideoPreprocessor(
        2, (4, 4), max_pixels=36, max_batch_pixels=100
    )
    assert preprocessor(tf.constant([_clip(2)]))["frame_mask"].shape == (1, 2)
    message = _error(lambda: preprocessor(tf.constant([_clip(2), _clip(2)])))
    assert (
        "the 4 sampled video frames of this call hold 144 pixels in all, "
        "over the limit of 100 (max_batch_pixels)" in message
    )


def test_limits_are_kept_in_the_config():
    preprocessor = VideoPreprocessor(
        2, (4, 4), max_frames=9, max_pixels=10, max_batch_pixels=20
    )
    check_config_round_trip(preprocessor)
    revived = VideoPreprocessor.from_config(preprocessor.get_config())
    assert (revived.max_frames, revived.max_pixels) == (9, 10)
