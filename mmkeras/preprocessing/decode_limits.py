"""How much one input may decode to: the limits and their defaults.

Every decoding layer (`ImagePreprocessor`, `VideoPreprocessor`,
`WavDecoder`, `WordPieceTokenizer`) takes its limits as arguments, keeps
them in its config (so a saved task keeps them), and checks them against
the input's header (`mmkeras.preprocessing.media_headers`) before it
decodes anything. An input over a limit fails with
`tf.errors.InvalidArgumentError` (INVALID_ARGUMENT on a server) naming
the limit, so an exported signature bounds the memory a request can take
on any server, the official TF Serving included.

Defaults suit the model a layer feeds:

- images and video frames: at most 2048 x 2048 = 4.2 M pixels each (64
  times the side of the demo's 32 x 32 inputs, a 1080p frame twice
  over; a 12 MP photo is downscaled by its sender, or the limit raised
  at export), and four times that over all the images of one call.
  Decoding and resizing hold about 9 bytes per pixel, so one call of a
  signature holds at most ~150 MB more than at rest, whatever it is
  sent (`tests/test_memory_bounds.py` measures it).
- video: at most 128 times the frames the model samples per clip (only
  the sampled frames are decoded).
- audio: ten times the model's clip at 48 kHz, in samples over all
  channels (a clip is cut to the model's length after resampling).
- text: 256 bytes per token the model reads (it keeps `sequence_length`
  tokens; more text is tokenized and dropped).

`DecodeLimits` sets them all on a preprocessor at once, as
`mmkeras.export.export_task(..., limits=...)` does.
"""

import contextlib
import dataclasses
import math

import tensorflow as tf

DEFAULT_MAX_PIXELS = 2048 * 2048
# Over all the images (or sampled video frames) of one call.
BATCH_PIXELS_PER_IMAGE_LIMIT = 4
FRAMES_PER_SAMPLED_FRAME = 128
# Audio may come at any rate up to this and be resampled to the model's.
HIGHEST_SAMPLE_RATE = 48000
CLIPS_PER_MODEL_CLIP = 10
BYTES_PER_TOKEN = 256


def default_max_batch_pixels(max_pixels):
    return BATCH_PIXELS_PER_IMAGE_LIMIT * max_pixels


def default_max_frames(num_frames):
    return FRAMES_PER_SAMPLED_FRAME * num_frames


def default_max_audio_samples(sample_rate, num_samples):
    return CLIPS_PER_MODEL_CLIP * math.ceil(
        num_samples * HIGHEST_SAMPLE_RATE / sample_rate
    )


def default_max_text_bytes(sequence_length):
    return BYTES_PER_TOKEN * sequence_length


def positive_limit(value, name):
    """`value` as an int, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, received {value!r}.")
    return value


@dataclasses.dataclass(frozen=True)
class DecodeLimits:
    """Limits to set on every decoding layer of a preprocessor.

    A field left None keeps each layer's own value (its default, or what
    it was built with). The names are the layers' argument names.

    Args:
        max_pixels: int or None. Most pixels one image or video frame may
            decode to (`ImagePreprocessor`, `VideoPreprocessor`).
        max_batch_pixels: int or None. Most pixels of all the images, or
            all the sampled video frames, of one call of a signature (one
            request; on a batching server, one batch of requests). None
            with `max_pixels` set: four times `max_pixels`.
        max_frames: int or None. Most frames in one video clip
            (`VideoPreprocessor`).
        max_audio_samples: int or None. Most samples one WAV clip may
            hold, over all its channels (`WavDecoder`).
        max_text_bytes: int or None. Longest text, in bytes
            (`WordPieceTokenizer`).

    Example:
    >>> image_preprocessor = ImagePreprocessor((8, 8))
    >>> limits = DecodeLimits(max_pixels=1024)
    >>> with limits.applied_to(image_preprocessor):
    ...     image_preprocessor.max_batch_pixels
    4096
    >>> image_preprocessor.max_pixels == DEFAULT_MAX_PIXELS
    True
    """

    max_pixels: int | None = None
    max_batch_pixels: int | None = None
    max_frames: int | None = None
    max_audio_samples: int | None = None
    max_text_bytes: int | None = None

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                positive_limit(value, field.name)
        if (
            self.max_pixels is not None
            and self.max_batch_pixels is not None
            and self.max_batch_pixels < self.max_pixels
        ):
            raise ValueError(
                f"max_batch_pixels ({self.max_batch_pixels}) must be at "
                f"least max_pixels ({self.max_pixels})."
            )

    def values(self):
        """dict of the limits set, `max_batch_pixels` completed."""
        values = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if getattr(self, field.name) is not None
        }
        if self.max_pixels is not None and self.max_batch_pixels is None:
            values["max_batch_pixels"] = default_max_batch_pixels(
                self.max_pixels
            )
        return values

    @contextlib.contextmanager
    def applied_to(self, layer):
        """Sets the limits on `layer` and its sublayers, then restores them.

        Every layer reached through `sublayer_args` that lists a limit in
        its `limit_args` takes it.
        """
        values = self.values()
        saved = []
        for sublayer in decoding_layers(layer):
            for name in sublayer.limit_args:
                if name in values:
                    saved.append((sublayer, name, getattr(sublayer, name)))
                    setattr(sublayer, name, values[name])
        try:
            for sublayer in decoding_layers(layer):
                sublayer.check_limits()
            yield self
        finally:
            for sublayer, name, value in reversed(saved):
                setattr(sublayer, name, value)


def decoding_layers(layer):
    """`layer` and its sublayers that have limits, depth first."""
    found = []
    if getattr(layer, "limit_args", ()):
        found.append(layer)
    for name in getattr(layer, "sublayer_args", ()):
        sublayer = getattr(layer, name)
        if sublayer is not None:
            found.extend(decoding_layers(sublayer))
    return found


def limits_of(layer):
    """dict of limit name to value over `layer`'s decoding layers.

    A name that two layers set differently maps to the largest value.

    Example:
    >>> limits_of(WordPieceTokenizer(["[PAD]", "[UNK]", "a"], 4))
    {'max_text_bytes': 1024}
    """
    values = {}
    for sublayer in decoding_layers(layer):
        for name in sublayer.limit_args:
            values[name] = max(values.get(name, 0), getattr(sublayer, name))
    return values


def check(ok, message):
    """True when `ok`; otherwise an InvalidArgumentError of `message()`.

    The message is built only on failure (string ops on every input would
    cost more than the checks), so inputs that pass cost one branch. Use
    the result as a control dependency of what must not run unchecked.

    Args:
        ok: bool scalar tensor.
        message: callable returning a string scalar tensor.
    """

    def fail():
        failed = tf.debugging.Assert(False, [message()])
        with tf.control_dependencies([failed]):
            return tf.constant(False)

    return tf.cond(ok, lambda: tf.constant(True), fail)


def over_limit(description, limit, limit_name, advice):
    """ "<description>, over the limit of <limit> (<limit_name>); <advice>,
    or export the model with a larger <limit_name>.", a string scalar.

    Args:
        description: string scalar tensor, e.g. "image 0 is 20000x20000
            = 400000000 pixels".
        limit: int.
        limit_name: str. The layer argument holding the limit.
        advice: str. What the sender can do, e.g. "send a smaller image".
    """
    return tf.strings.join(
        [
            description,
            f", over the limit of {limit} ({limit_name}); {advice}, or "
            f"export the model with a larger {limit_name}.",
        ]
    )


def check_limit(value, limit, limit_name, description, advice):
    """`check` that `value <= limit`, with an `over_limit` message.

    Args:
        value: int64 scalar tensor.
        description: callable returning the description, built only on
            failure.
        limit, limit_name, advice: as `over_limit`.
    """
    return check(
        value <= limit,
        lambda: over_limit(description(), limit, limit_name, advice),
    )


def message(*parts):
    """A string scalar of `parts`: str, string or number tensors.

    Unlike `tf.strings.format`, strings are not quoted.
    """
    pieces = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        part = tf.convert_to_tensor(part)
        pieces.append(
            part if part.dtype == tf.string else tf.strings.as_string(part)
        )
    return tf.strings.join(pieces)


def indexed_names(kind, count):
    """string `(count,)`: "<kind> 0", "<kind> 1", ... for error messages."""
    return tf.strings.join([kind + " ", tf.strings.as_string(tf.range(count))])
