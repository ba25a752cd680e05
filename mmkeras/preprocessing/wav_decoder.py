"""WAV bytes to a fixed-length waveform and its mask, in TF ops."""

import keras
import tensorflow as tf

from mmkeras.preprocessing import decode_limits
from mmkeras.preprocessing.media_headers import graph_when_eager
from mmkeras.preprocessing.media_headers import printable_bytes
from mmkeras.preprocessing.media_headers import wav_header
from mmkeras.preprocessing.preprocessing_layer import PreprocessingLayer

WAV_HEADER_BYTES = 12


@keras.saving.register_keras_serializable(package="mmkeras")
class WavDecoder(PreprocessingLayer):
    """Decodes 16-bit PCM WAV bytes to a mono waveform of fixed length.

    Made of TF ops only (`tf.audio.decode_wav`), so one instance serves
    `tf.data.Dataset.map` (one clip per call) and an exported serving
    signature (a batch of clips). Channels are averaged to mono. Clips are
    truncated or zero-padded to `num_samples`; the mask marks the real
    samples. An empty string is a missing clip: zeros, all masked.

    Bad input fails inside the graph with `tf.errors.InvalidArgumentError`
    (raised eagerly, or when the dataset or signature runs): bytes without
    a RIFF/WAVE header, a header without `fmt ` and `data` chunks, a clip
    whose `data` chunk declares more than `max_audio_samples` samples
    (checked before decoding: a header can claim hours it does not hold),
    and, unless `resample=True`, a sample rate other than `sample_rate`,
    with a message naming the expected and received rates. With
    `resample=True` the clip is resampled to `sample_rate` by linear
    interpolation between neighbouring samples: cheap and exact for
    matching rates, but with no anti-aliasing filter, so downsampling folds
    content above the new Nyquist frequency back into the band.

    Args:
        sample_rate: int. The sample rate the model expects, in Hz.
        num_samples: int. Length of the output waveform, in samples.
        resample: bool. Resample other rates instead of failing.
        max_audio_samples: int or None. Most samples a clip may hold, over
            all its channels; None: ten times `num_samples` at 48 kHz.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: a string tensor of WAV file bytes, scalar `()` or batched
            `(batch,)`.

    Returns:
        dict with `audio_waveform` float32 in [-1, 1] and `audio_mask`
        bool (True = real sample), shaped `(num_samples,)` or
        `(batch, num_samples)`: the `AudioEncoder`'s inputs.

    Example:
    >>> wav = tf.audio.encode_wav(tf.zeros((500, 1)), sample_rate=8000)
    >>> decoded = WavDecoder(sample_rate=8000, num_samples=800)(wav)
    >>> int(tf.reduce_sum(tf.cast(decoded["audio_mask"], tf.int32)))
    500
    """

    limit_args = ("max_audio_samples",)

    def __init__(
        self,
        sample_rate,
        num_samples,
        resample=False,
        max_audio_samples=None,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if sample_rate < 1 or num_samples < 1:
            raise ValueError(
                "sample_rate and num_samples must be positive, received "
                f"sample_rate={sample_rate}, num_samples={num_samples}."
            )
        self.sample_rate = int(sample_rate)
        self.num_samples = int(num_samples)
        self.resample = bool(resample)
        self.max_audio_samples = (
            max_audio_samples
            or decode_limits.default_max_audio_samples(
                self.sample_rate, self.num_samples
            )
        )
        self.check_limits()

    def call(self, inputs):
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype != tf.string:
            raise TypeError(
                "WavDecoder expects a string tensor of WAV bytes, received "
                f"dtype {inputs.dtype.name}."
            )
        if inputs.shape.rank not in (0, 1):
            raise ValueError(
                "WavDecoder expects WAV bytes as a scalar or a (batch,) "
                f"string tensor, received shape {inputs.shape}."
            )
        settings = (
            self.sample_rate,
            self.num_samples,
            self.resample,
            self.max_audio_samples,
        )
        if inputs.shape.rank == 0:
            return _decode_clip(inputs, "audio", *settings)
        return _decode_clips(
            inputs,
            decode_limits.indexed_names("audio", tf.size(inputs)),
            *settings,
        )

    def compute_output_spec(self, inputs):
        shape = tuple(inputs.shape) + (self.num_samples,)
        return {
            "audio_waveform": keras.KerasTensor(shape, "float32"),
            "audio_mask": keras.KerasTensor(shape, "bool"),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate,
            num_samples=self.num_samples,
            resample=self.resample,
            max_audio_samples=self.max_audio_samples,
        )
        return config


@graph_when_eager
def _decode_clip(
    encoded, name, sample_rate, num_samples, resample, max_audio_samples
):
    return tf.cond(
        tf.strings.length(encoded) > 0,
        lambda: _decode_present(
            encoded,
            name,
            sample_rate,
            num_samples,
            resample,
            max_audio_samples,
        ),
        lambda: {
            "audio_waveform": tf.zeros((num_samples,)),
            "audio_mask": tf.zeros((num_samples,), tf.bool),
        },
    )


@graph_when_eager
def _decode_clips(
    encoded, names, sample_rate, num_samples, resample, max_audio_samples
):
    settings = (sample_rate, num_samples, resample, max_audio_samples)
    return tf.map_fn(
        lambda args: _decode_clip(*args, *settings),
        (encoded, names),
        fn_output_signature={
            "audio_waveform": tf.TensorSpec((num_samples,), tf.float32),
            "audio_mask": tf.TensorSpec((num_samples,), tf.bool),
        },
    )


def _decode_present(
    encoded, name, sample_rate, num_samples, resample, max_audio_samples
):
    # Padding the head makes the header checks safe on short inputs.
    head = tf.strings.join(
        [tf.strings.substr(encoded, 0, WAV_HEADER_BYTES)]
        + ["\0" * WAV_HEADER_BYTES]
    )
    is_wav = tf.logical_and(
        tf.equal(tf.strings.substr(head, 0, 4), "RIFF"),
        tf.equal(tf.strings.substr(head, 8, 4), "WAVE"),
    )
    check_riff = decode_limits.check(
        is_wav,
        lambda: tf.strings.format(
            "WavDecoder expects WAV bytes (a RIFF/WAVE header), "
            "received bytes starting with {}. Decode other formats "
            "to 16-bit PCM WAV first.",
            printable_bytes(encoded, WAV_HEADER_BYTES),
        ),
    )
    with tf.control_dependencies([check_riff]):
        header = wav_header(encoded)
    parsed = tf.equal(header["error"], "")

    def message():
        channels = header["channels"]
        rate = header["sample_rate"]
        seconds = tf.cast(header["samples"], tf.float64) / tf.cast(
            channels * rate, tf.float64
        )
        description = decode_limits.message(
            name,
            " holds ",
            header["samples"],
            " samples (",
            tf.strings.as_string(seconds, precision=1),
            " s at ",
            rate,
            " Hz, ",
            channels,
            " channels)",
        )
        return tf.where(
            parsed,
            decode_limits.over_limit(
                description,
                max_audio_samples,
                "max_audio_samples",
                "send a shorter clip",
            ),
            decode_limits.message(name, " ", header["error"]),
        )

    within = decode_limits.check(
        tf.logical_and(parsed, header["samples"] <= max_audio_samples),
        message,
    )
    with tf.control_dependencies([within]):
        audio, rate = tf.audio.decode_wav(encoded)
    waveform = tf.reduce_mean(audio, axis=1)
    if resample:
        waveform = resample_linear(
            waveform, rate, sample_rate, max_count=num_samples
        )
    else:
        check_rate = tf.debugging.Assert(
            tf.equal(rate, sample_rate),
            [
                tf.strings.format(
                    f"WavDecoder expected sample rate {sample_rate} "
                    "Hz, received {} Hz. Resample the audio or pass "
                    "resample=True.",
                    rate,
                )
            ],
        )
        with tf.control_dependencies([check_rate]):
            waveform = tf.identity(waveform)
    waveform = waveform[:num_samples]
    length = tf.shape(waveform)[0]
    waveform = tf.pad(waveform, [[0, num_samples - length]])
    return {
        "audio_waveform": tf.ensure_shape(waveform, (num_samples,)),
        "audio_mask": tf.range(num_samples) < length,
    }


def resample_linear(waveform, rate, target_rate, max_count=None):
    """Resamples a 1D waveform from `rate` to `target_rate` Hz.

    Output sample `j` is the linear interpolation of the input at time
    `j / target_rate`; the output has `round(n * target_rate / rate)`
    samples, or the first `max_count` of them (computing only those, so
    a clip claiming a rate of 1 Hz cannot make it huge). No anti-aliasing
    filter.

    Args:
        waveform: float32 `(samples,)`.
        rate: int scalar tensor or int. Sample rate of `waveform`.
        target_rate: int. Sample rate of the result.
        max_count: int or None. Most samples to compute.

    Returns:
        float32 `(min(round(samples * target_rate / rate), max_count),)`.
    """
    count = tf.shape(waveform)[0]
    rate = tf.cast(rate, tf.float64)
    target_rate = tf.cast(target_rate, tf.float64)
    new_count = tf.round(tf.cast(count, tf.float64) * target_rate / rate)
    if max_count is not None:
        new_count = tf.minimum(new_count, max_count)
    new_count = tf.cast(new_count, tf.int32)
    last = tf.cast(tf.maximum(count - 1, 0), tf.float64)
    positions = tf.minimum(
        tf.cast(tf.range(new_count), tf.float64) * rate / target_rate, last
    )
    left = tf.floor(positions)
    fraction = tf.cast(positions - left, tf.float32)
    left = tf.cast(left, tf.int32)
    right = tf.minimum(left + 1, count - 1)
    return (
        tf.gather(waveform, left) * (1.0 - fraction)
        + tf.gather(waveform, right) * fraction
    )
