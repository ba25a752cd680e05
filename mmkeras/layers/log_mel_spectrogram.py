"""Waveform to log-mel spectrogram, in float32 under every dtype policy."""

import math

import keras
import numpy as np
import tensorflow as tf

from mmkeras.layers.frame_mask import frame_signal


@keras.saving.register_keras_serializable(package="mmkeras")
class LogMelSpectrogram(keras.layers.Layer):
    """Computes `log(max(mel_power, floor))` frames of a waveform.

    A Hann-windowed STFT (the frames of `tf.signal.stft`, no end padding,
    FFT size the next power of two of `frame_length`), its power `|X|^2`,
    triangular mel filters from 0 Hz to the Nyquist frequency
    (`tf.signal.linear_to_mel_weight_matrix`, HTK mel scale), then a
    natural log with a floor so silence gives `log(floor)` instead of
    `-inf`. `tf.signal.rfft` rather than `keras.ops.stft`, because the
    latter frames by the FFT size and so would tie frame and FFT lengths.

    Every op converts to a TFLite builtin (the FFT to `RFFT2D`). The
    frames are cut by `frame_signal` rather than by
    `tf.signal.stft`, so that a waveform of static length keeps a static
    frame count in a converted model. Each mel band sums its own few bins
    (`mel_bands`: a gather and a weighted sum) rather than multiplying by
    the mostly-zero filter matrix: TFLite's dynamic-range quantization
    turns a matmul with constant weights into an int8 one that quantizes
    its input too, per frame, and a power spectrum spans far more than
    int8's 48 dB (every bin 24 dB below a frame's peak became the floor,
    and a demo audio model lost 19 points of accuracy).

    The transform runs in float32 and returns float32 under every dtype
    policy: the power of a loud frame overflows float16 and the floor
    (1e-6) is below float16's normal range. The layer does not cast its
    input to the policy's compute dtype either; the next layer casts the
    log-mel features down.

    Args:
        sample_rate: int. Sample rate of the waveform, in Hz.
        num_mel_bins: int. Number of mel bands.
        frame_length: int. Samples per STFT frame. Defaults to 25 ms.
        frame_step: int. Samples between frame starts. Defaults to 10 ms.
        floor: float. Smallest mel power before the log.
        **kwargs: Base layer arguments, e.g. `name` and `dtype`.

    Call arguments:
        inputs: float waveform `(batch, samples)` or `(samples,)`.

    Returns:
        float32 `(batch, frames, num_mel_bins)` (or `(frames,
        num_mel_bins)`), `frames = (samples - frame_length) // frame_step
        + 1`; use `FrameMask(frame_length, frame_step)` for their mask.

    Example:
    >>> log_mel = LogMelSpectrogram(sample_rate=8000, num_mel_bins=16)
    >>> log_mel(np.zeros((2, 800), "float32")).shape
    TensorShape([2, 8, 16])
    """

    def __init__(
        self,
        sample_rate,
        num_mel_bins=40,
        frame_length=None,
        frame_step=None,
        floor=1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if frame_length is None:
            frame_length = round(0.025 * sample_rate)
        if frame_step is None:
            frame_step = round(0.010 * sample_rate)
        sizes = {
            "sample_rate": sample_rate,
            "num_mel_bins": num_mel_bins,
            "frame_length": frame_length,
            "frame_step": frame_step,
        }
        for name, value in sizes.items():
            if value < 1:
                raise ValueError(f"{name} must be positive, received {value}.")
        if floor <= 0:
            raise ValueError(
                f"floor must be positive (it is the argument of log), "
                f"received {floor}."
            )
        self.sample_rate = sample_rate
        self.num_mel_bins = num_mel_bins
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.floor = floor
        with tf.init_scope():  # numpy, even when built inside a graph
            self._band_bins, self._band_weights = self.mel_bands()
        # A float16 waveform would lose the precision float32 is kept for.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    @property
    def fft_length(self):
        return 2 ** math.ceil(math.log2(self.frame_length))

    def num_frames(self, num_samples):
        """Frames produced from `num_samples` samples (0 if too short)."""
        return max((num_samples - self.frame_length) // self.frame_step + 1, 0)

    def mel_matrix(self):
        """float32 `(fft_length // 2 + 1, num_mel_bins)` mel filter bank."""
        return tf.signal.linear_to_mel_weight_matrix(
            num_mel_bins=self.num_mel_bins,
            num_spectrogram_bins=self.fft_length // 2 + 1,
            sample_rate=self.sample_rate,
            lower_edge_hertz=0.0,
            upper_edge_hertz=self.sample_rate / 2,
            dtype=tf.float32,
        )

    def mel_bands(self):
        """Each mel band's spectrogram bins and their filter weights.

        Returns:
            `(bins, weights)`, numpy int32 and float32 `(num_mel_bins,
            width)`, `width` the widest band's bin count: band `m` is
            `sum(power[bins[m]] * weights[m])`, the `mel_matrix` product
            without its zeros (a narrower band pads with weight 0).
        """
        matrix = np.asarray(self.mel_matrix())
        spans = []
        for band in range(self.num_mel_bins):
            nonzero = np.flatnonzero(matrix[:, band])
            start = nonzero[0] if nonzero.size else 0
            stop = nonzero[-1] + 1 if nonzero.size else 1
            spans.append((start, stop))
        width = max(stop - start for start, stop in spans)
        bins = np.zeros((self.num_mel_bins, width), "int32")
        weights = np.zeros((self.num_mel_bins, width), "float32")
        for band, (start, stop) in enumerate(spans):
            bins[band] = np.minimum(start + np.arange(width), len(matrix) - 1)
            weights[band, : stop - start] = matrix[start:stop, band]
        return bins, weights

    def call(self, inputs):
        waveform = tf.cast(inputs, tf.float32)
        frames = frame_signal(waveform, self.frame_length, self.frame_step)
        window = tf.signal.hann_window(self.frame_length)  # periodic
        stft = tf.signal.rfft(frames * window, [self.fft_length])
        power = tf.square(tf.math.real(stft)) + tf.square(tf.math.imag(stft))
        bands = tf.gather(power, self._band_bins, axis=-1)
        mel = tf.reduce_sum(bands * self._band_weights, axis=-1)
        return tf.math.log(tf.maximum(mel, self.floor))

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else self.num_frames(samples)
        return tuple(input_shape[:-1]) + (frames, self.num_mel_bins)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(
            self.compute_output_shape(inputs.shape), "float32"
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate,
            num_mel_bins=self.num_mel_bins,
            frame_length=self.frame_length,
            frame_step=self.frame_step,
            floor=self.floor,
        )
        return config
