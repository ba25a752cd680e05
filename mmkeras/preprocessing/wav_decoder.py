"""WAV bytes to a fixed-length waveform and its mask, in TF ops."""

import keras
import tensorflow as tf

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
    a RIFF/WAVE header, and, unless `resample=True`, a sample rate other
    than `sample_rate`, with a message naming the expected and received
    rates. With `resample=True` the clip is resampled to `sample_rate` by
    linear interpolation between neighbouring samples: cheap and exact for
    matching rates, but with no anti-aliasing filter, so downsampling folds
    content above the new Nyquist frequency back into the band.

    Args:
        sample_rate: int. The sample rate the model expects, in Hz.
        num_samples: int. Length of the output waveform, in samples.
        resample: bool. Resample other rates instead of failing.
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

    def __init__(self, sample_rate, num_samples, resample=False, **kwargs):
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

    def call(self, inputs):
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype != tf.string:
            raise TypeError(
                "WavDecoder expects a string tensor of WAV bytes, received "
                f"dtype {inputs.dtype.name}."
            )
        if inputs.shape.rank == 0:
            return self._decode(inputs)
        if inputs.shape.rank == 1:
            return tf.map_fn(
                self._decode,
                inputs,
                fn_output_signature={
                    "audio_waveform": tf.TensorSpec(
                        (self.num_samples,), tf.float32
                    ),
                    "audio_mask": tf.TensorSpec((self.num_samples,), tf.bool),
                },
            )
        raise ValueError(
            "WavDecoder expects WAV bytes as a scalar or a (batch,) string "
            f"tensor, received shape {inputs.shape}."
        )

    def _decode(self, encoded):
        return tf.cond(
            tf.strings.length(encoded) > 0,
            lambda: self._decode_present(encoded),
            lambda: {
                "audio_waveform": tf.zeros((self.num_samples,)),
                "audio_mask": tf.zeros((self.num_samples,), tf.bool),
            },
        )

    def _decode_present(self, encoded):
        # Padding the head makes the header checks safe on short inputs.
        head = tf.strings.join(
            [tf.strings.substr(encoded, 0, WAV_HEADER_BYTES)]
            + ["\0" * WAV_HEADER_BYTES]
        )
        is_wav = tf.logical_and(
            tf.equal(tf.strings.substr(head, 0, 4), "RIFF"),
            tf.equal(tf.strings.substr(head, 8, 4), "WAVE"),
        )
        # Invalid UTF-8 in an error message would surface in Python as a
        # UnicodeDecodeError instead of the InvalidArgumentError.
        printable_head = tf.strings.unicode_transcode(
            tf.strings.substr(encoded, 0, WAV_HEADER_BYTES),
            input_encoding="UTF-8",
            output_encoding="UTF-8",
            errors="replace",
            replacement_char=ord("?"),
        )
        check_header = tf.debugging.Assert(
            is_wav,
            [
                tf.strings.format(
                    "WavDecoder expects WAV bytes (a RIFF/WAVE header), "
                    "received bytes starting with {}. Decode other formats "
                    "to 16-bit PCM WAV first.",
                    printable_head,
                )
            ],
        )
        with tf.control_dependencies([check_header]):
            audio, rate = tf.audio.decode_wav(encoded)
        waveform = tf.reduce_mean(audio, axis=1)
        if self.resample:
            waveform = resample_linear(waveform, rate, self.sample_rate)
        else:
            check_rate = tf.debugging.Assert(
                tf.equal(rate, self.sample_rate),
                [
                    tf.strings.format(
                        f"WavDecoder expected sample rate {self.sample_rate} "
                        "Hz, received {} Hz. Resample the audio or pass "
                        "resample=True.",
                        rate,
                    )
                ],
            )
            with tf.control_dependencies([check_rate]):
                waveform = tf.identity(waveform)
        waveform = waveform[: self.num_samples]
        length = tf.shape(waveform)[0]
        waveform = tf.pad(waveform, [[0, self.num_samples - length]])
        return {
            "audio_waveform": tf.ensure_shape(waveform, (self.num_samples,)),
            "audio_mask": tf.range(self.num_samples) < length,
        }

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
        )
        return config


def resample_linear(waveform, rate, target_rate):
    """Resamples a 1D waveform from `rate` to `target_rate` Hz.

    Output sample `j` is the linear interpolation of the input at time
    `j / target_rate`; the output has `round(n * target_rate / rate)`
    samples. No anti-aliasing filter.

    Args:
        waveform: float32 `(samples,)`.
        rate: int scalar tensor or int. Sample rate of `waveform`.
        target_rate: int. Sample rate of the result.

    Returns:
        float32 `(round(samples * target_rate / rate),)`.
    """
    count = tf.shape(waveform)[0]
    rate = tf.cast(rate, tf.float64)
    target_rate = tf.cast(target_rate, tf.float64)
    new_count = tf.cast(
        tf.round(tf.cast(count, tf.float64) * target_rate / rate), tf.int32
    )
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
