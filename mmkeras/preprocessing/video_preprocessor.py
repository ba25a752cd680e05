"""A clip's encoded frames to sampled, model-ready frames, in TF ops."""

import keras
import tensorflow as tf

from mmkeras.preprocessing import decode_limits
from mmkeras.preprocessing.frame_sampler import FrameSampler
from mmkeras.preprocessing.image_preprocessor import check_pixel_limits
from mmkeras.preprocessing.image_preprocessor import decode_images
from mmkeras.preprocessing.image_preprocessor import pixel_limits
from mmkeras.preprocessing.media_headers import image_header
from mmkeras.preprocessing.preprocessing_layer import PreprocessingLayer


@keras.saving.register_keras_serializable(package="mmkeras")
class VideoPreprocessor(PreprocessingLayer):
    """Samples `num_frames` of a clip's encoded frames and decodes them.

    A clip is a string vector of encoded frames (PNG, JPEG, GIF or BMP), in
    order. Empty strings are padding: a batch of clips of different lengths
    is padded with them, and a clip of empty strings only (or of no frames)
    is a missing video. The real frames are sampled as `FrameSampler` does
    (the middle frame of `num_frames` equal segments; a shorter clip keeps
    all of its frames and is padded), and only the sampled frames are
    decoded, as `ImagePreprocessor` decodes, resized to `image_size`.

    Only the sampled frames are decoded, and only once every clip's frame
    count and every frame's header are checked: a clip of more than
    `max_frames` frames, any frame whose header is not a readable image's,
    frames of different sizes in one clip (a clip has one picture size; a
    manifest's frame folder is refused the same way), a frame over
    `max_pixels` or sampled frames over `max_batch_pixels` in one call
    fail with `tf.errors.InvalidArgumentError` naming the clip, the frame
    and what is wrong.

    Args:
        num_frames: int. Frames per clip given to the model.
        image_size: tuple of int `(height, width)` of each frame.
        max_frames: int or None. Most frames in one clip; None: 128 times
            `num_frames`.
        max_pixels: int or None. Most pixels one frame may decode to;
            None: 2048 x 2048.
        max_batch_pixels: int or None. Most pixels of all the sampled
            frames of one call; None: four times `max_pixels`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: string tensor of encoded frames, `(frames,)` for one clip
            or `(batch, frames)` for a batch.

    Returns:
        dict with `video_frames` float32 `(num_frames, height, width, 3)`
        scaled to [-1, 1] (with a leading batch axis for a batch) and
        `frame_mask` bool `(num_frames,)` (or `(batch, num_frames)`): the
        `VideoEncoder`'s inputs.

    Example:
    >>> png = tf.io.encode_png(tf.zeros((8, 8, 3), tf.uint8))
    >>> clip = tf.stack([png, png, png])
    >>> outputs = VideoPreprocessor(num_frames=4, image_size=(4, 4))(clip)
    >>> outputs["frame_mask"].numpy()
    array([ True,  True,  True, False])
    """

    limit_args = ("max_frames", "max_pixels", "max_batch_pixels")

    def __init__(
        self,
        num_frames,
        image_size,
        max_frames=None,
        max_pixels=None,
        max_batch_pixels=None,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_frames = int(num_frames)
        self.image_size = tuple(int(x) for x in image_size)
        self.sampler = FrameSampler(self.num_frames, dtype="float32")
        self.max_frames = max_frames or decode_limits.default_max_frames(
            self.num_frames
        )
        self.max_pixels, self.max_batch_pixels = pixel_limits(
            max_pixels, max_batch_pixels
        )
        self.check_limits()

    def check_limits(self):
        decode_limits.positive_limit(self.max_frames, "max_frames")
        check_pixel_limits(self.max_pixels, self.max_batch_pixels)

    def call(self, inputs):
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype != tf.string:
            raise TypeError(
                "VideoPreprocessor expects a string tensor of encoded frames, "
                f"received dtype {inputs.dtype.name}."
            )
        if inputs.shape.rank not in (1, 2):
            raise ValueError(
                "VideoPreprocessor expects encoded frames (frames,) or "
                f"(batch, frames), received shape {inputs.shape}."
            )
        clips = tf.reshape(inputs, [-1, tf.shape(inputs)[-1]])
        outputs = self._sample_clips(clips)
        if inputs.shape.rank == 1:
            outputs = {k: v[0] for k, v in outputs.items()}
        return outputs

    def _sample_clips(self, clips):
        real = tf.strings.length(clips) > 0
        counts = tf.reduce_sum(tf.cast(real, tf.int32), axis=1)
        # A zero count at the end keeps an empty batch well defined.
        padded_counts = tf.concat([counts, [0]], axis=0)
        longest = tf.argmax(padded_counts, output_type=tf.int32)
        within = decode_limits.check_limit(
            tf.cast(padded_counts[longest], tf.int64),
            self.max_frames,
            "max_frames",
            lambda: decode_limits.message(
                "video ", longest, " has ", padded_counts[longest], " frames"
            ),
            f"sample at most {self.num_frames} frames per clip before sending",
        )
        # (batch, num_frames) indices among each clip's real frames, in
        # order; an index == count (padding) picks the empty frame added.
        indices = self.sampler.frame_indices(counts[:, None])
        frame_mask = indices < counts[:, None]
        with tf.control_dependencies([within]):
            compact = tf.ragged.boolean_mask(clips, real).to_tensor("")
        with tf.control_dependencies([check_frame_headers(compact)]):
            compact = tf.identity(compact)
        padded = tf.pad(compact, [[0, 0], [0, 1]], constant_values="")
        chosen = tf.gather(
            padded, tf.minimum(indices, counts[:, None]), batch_dims=1
        )
        clip_ids = tf.broadcast_to(
            tf.range(tf.shape(clips)[0])[:, None], tf.shape(indices)
        )
        names = tf.strings.join(
            [
                "video ",
                tf.strings.as_string(tf.reshape(clip_ids, [-1])),
                ", frame ",
                tf.strings.as_string(tf.reshape(indices, [-1])),
            ]
        )
        pixels = decode_images(
            tf.reshape(chosen, [-1]),
            names,
            self.image_size,
            self.max_pixels,
            self.max_batch_pixels,
            kind="sampled video frames",
        )
        pixels = tf.reshape(pixels, [-1, self.num_frames, *self.image_size, 3])
        return {"video_frames": pixels / 127.5 - 1.0, "frame_mask": frame_mask}

    def compute_output_spec(self, inputs):
        batch = tuple(inputs.shape[:-1])
        return {
            "video_frames": keras.KerasTensor(
                batch + (self.num_frames,) + self.image_size + (3,), "float32"
            ),
            "frame_mask": keras.KerasTensor(batch + (self.num_frames,), "bool"),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            num_frames=self.num_frames,
            image_size=self.image_size,
            max_frames=self.max_frames,
            max_pixels=self.max_pixels,
            max_batch_pixels=self.max_batch_pixels,
        )
        return config


def check_frame_headers(clips):
    """Checks every frame's header: readable, and of its clip's first
    frame's size. Every frame, not only the sampled ones, so that a clip
    is refused (or not) whatever the sampling picks.

    Args:
        clips: string `(batch, frames)` of encoded frames, each clip's
            real frames first, "" after them.

    Returns:
        The check (a bool scalar), for a control dependency.
    """

    def read(value):
        header = image_header(value)
        return tf.stack([header["width"], header["height"]]), header["error"]

    flat = tf.reshape(clips, [-1])
    present = tf.strings.length(flat) > 0
    sizes, errors = tf.map_fn(
        read,
        flat,
        fn_output_signature=(tf.TensorSpec([2], tf.int64), tf.string),
    )
    errors = tf.where(present, errors, "")
    shape = tf.shape(clips)
    sizes = tf.reshape(sizes, [shape[0], shape[1], 2])
    first = sizes[:, :1]
    differs = tf.logical_and(
        tf.reduce_any(sizes != first, axis=-1),
        tf.reshape(present & tf.equal(errors, ""), shape),
    )
    unreadable = tf.reshape(tf.not_equal(errors, ""), shape)

    def message():
        broken = tf.reduce_any(unreadable)
        where = tf.cast(
            tf.where(tf.where(broken, unreadable, differs))[0], tf.int32
        )
        clip, frame = where[0], where[1]
        size = sizes[clip, frame]
        return tf.where(
            broken,
            decode_limits.message(
                "video ",
                clip,
                ", frame ",
                frame,
                " ",
                tf.reshape(errors, shape)[clip, frame],
            ),
            decode_limits.message(
                "video ",
                clip,
                ": frame ",
                frame,
                " is ",
                size[0],
                "x",
                size[1],
                " but frame 0 is ",
                first[clip, 0, 0],
                "x",
                first[clip, 0, 1],
                "; a clip's frames must all have one "
                "size (resize them to one size before sending)",
            ),
        )

    ok = tf.logical_not(tf.reduce_any(unreadable | differs))
    return decode_limits.check(ok, message)
